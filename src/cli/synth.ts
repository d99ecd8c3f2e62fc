import type { Command } from 'commander';

/** `ichdet synth` is wired here once the generator lands (issue 3). */
export function registerSynth(_program: Command): void {}
