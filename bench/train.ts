/**
 * Training throughput of the engine: images per second of full optimiser steps (batch 32,
 * random weights and inputs) per architecture and input size: on the default engine (the native
 * accelerator when built, else wasm) with one worker per core and with one worker on one core
 * (the scaling), with one worker and OpenBLAS on every core (intra-op threads instead of data
 * parallelism), and on wasm alone for reference; and the machine's ceiling for the scaling: as
 * many independent one-worker engines stepping at once as there are cores, against one alone
 * (`independentScaling`). One warm-up step, then timed steps, their inputs made before the clock
 * starts. `--quick`: 128² only,
 * three architectures; `--train-archs a,b`: only those; `--train-sizes 128`: only those sizes;
 * `--train-steps N`: N timed steps per rate (default 1); `--lean`: only the default engine on
 * every core and on one, and PyTorch (no OpenBLAS-threads or wasm rows). The OpenBLAS build and
 * the kernels it runs (its core name: Haswell = AVX2, SkylakeX = AVX-512) are printed first:
 * `OPENBLAS_CORETYPE` chooses them.
 *
 * When `python3` imports torch and torchvision, each architecture also gets PyTorch's rate for
 * the same step on as many threads (bench/torch_train.py, measured in this run) and the ratio;
 * otherwise those rows are skipped with the reason on stderr (`--no-torch` skips them too).
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { enableNative, nativeAddon, nativeUnavailable } from '../src/backend/native.js';
import { ARCH_NAMES, type ArchName } from '../src/models/registry.js';
import { microBatchFor, resolveTrainConfig } from '../src/train/config.js';
import { ModelWorkers } from '../src/train/engine.js';
import { createOptimizer } from '../src/train/optim.js';
import type { BenchRow } from './bench.js';

const TARGETS: Partial<Record<ArchName, number>> = {
  mobilenet_v2: 12,
  efficientnet_b0: 8,
  resnet50: 3.5,
};

function argList(name: string): string[] | undefined {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  return v?.split(',');
}

/** An engine with its model built and one warm-up step taken, ready to time steps. */
interface Warm {
  /** The inputs of `steps` steps (made outside any timing). */
  inputs(steps: number): Shares[];
  /** Seconds and CPU seconds (user + system, every thread of this process) of those steps. */
  time(inputs: Shares[]): Promise<{ seconds: number; cpu: number }>;
  close(): Promise<void>;
}

type Shares = { x: Float32Array; y: Float32Array; n: number }[];

/**
 * Starts `workers` workers on `arch` and takes one warm-up step of `batch` images. Each timed
 * step's inputs are made before the clock starts, so the main thread only dispatches.
 */
async function warmEngine(
  arch: ArchName,
  size: number,
  workers: number,
  batch: number,
  backend: 'wasm' | 'native',
  threads?: number,
): Promise<Warm> {
  const config = resolveTrainConfig(
    { cache: '', split: '', out: '', arch, size, batch, workers, weights: 'none', backend: 'wasm' },
    workers,
  );
  const w = await ModelWorkers.start(workers, {
    backend,
    ...(threads !== undefined && { threads }),
    arch,
    size,
    channels: 3,
    dropout: 0,
    seed: 1,
    weightsFile: null,
    checkpoint: null,
    freezeBackbone: false,
    loss: 'bce',
    focalGamma: 2,
    bnMomentum: null,
  });
  const opt = createOptimizer('adam', 1e-4, w.params.length);
  const micro = microBatchFor(config, Math.ceil(batch / workers));
  const per = size * size * 3;
  const share = (k: number) =>
    Array.from({ length: workers }, (_, i) => {
      const m = Math.floor(batch / workers) + (i < batch % workers ? 1 : 0);
      const x = new Float32Array(m * per);
      for (let j = 0; j < x.length; j++) x[j] = ((j * 2654435761 + k) % 1000) / 500 - 1;
      const y = new Float32Array(m * 6);
      for (let j = 0; j < y.length; j++) y[j] = (j + k) % 3 === 0 ? 1 : 0;
      return { x, y, n: m };
    });
  // Inputs made and steps taken so far (the warm-up step is the 0th of each).
  let made = 1;
  let stepped = 1;
  try {
    await w.step(share(0), opt, { micro, seed: 0 });
  } catch (err) {
    await w.close();
    throw err;
  }
  return {
    inputs: (steps) => Array.from({ length: steps }, () => share(made++)),
    async time(inputs) {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      for (const sh of inputs) await w.step(sh, opt, { micro, seed: stepped++ });
      const seconds = (performance.now() - t0) / 1000;
      const c = process.cpuUsage(c0);
      return { seconds, cpu: (c.user + c.system) / 1e6 };
    },
    close: () => w.close(),
  };
}

/** Images/s of `steps` timed steps after one warm-up step. */
export async function trainRate(
  arch: ArchName,
  size: number,
  workers: number,
  steps: number,
  batch = 32,
  /** Filled with the CPU seconds (user + system, every thread) of the timed steps. */
  cpu?: { seconds: number },
  backend: 'wasm' | 'native' = 'wasm',
  /** OpenBLAS threads (native); default the cores divided by the workers. */
  threads?: number,
): Promise<number> {
  const w = await warmEngine(arch, size, workers, batch, backend, threads);
  try {
    const t = await w.time(w.inputs(steps));
    if (cpu) cpu.seconds = t.cpu;
    return (steps * batch) / t.seconds;
  } finally {
    await w.close();
  }
}

/**
 * The machine's own ceiling for data parallelism on `cores` cores: `cores` independent
 * one-worker engines (each its own model, batch `share`, nothing exchanged) stepping at once,
 * against one of them alone (timed before and after, the mean taken). A worker's step slows
 * when the other cores are busy (shared cache and memory traffic), so N workers cannot beat
 * N × this fraction of one, whatever the engine does.
 */
export async function independentScaling(
  arch: ArchName,
  size: number,
  cores: number,
  steps: number,
  share = 16,
  backend: 'wasm' | 'native' = 'wasm',
): Promise<{ alone: number; together: number; ratio: number }> {
  const engines: Warm[] = [];
  try {
    for (let i = 0; i < cores; i++)
      engines.push(await warmEngine(arch, size, 1, share, backend, 1));
    const first = engines[0]!;
    const before = await first.time(first.inputs(steps));
    const inputs = engines.map((e) => e.inputs(steps));
    const t0 = performance.now();
    await Promise.all(engines.map((e, i) => e.time(inputs[i]!)));
    const together = (cores * steps * share) / ((performance.now() - t0) / 1000);
    const after = await first.time(first.inputs(steps));
    const alone = (2 * steps * share) / (before.seconds + after.seconds);
    return { alone, together, ratio: together / alone };
  } finally {
    await Promise.all(engines.map((e) => e.close()));
  }
}

const TORCH_SCRIPT = fileURLToPath(new URL('./torch_train.py', import.meta.url));

/** Pythons to try for PyTorch: ICHDET_PYTHON, then `python3` on the PATH, then Debian's own. */
const PYTHONS = [process.env.ICHDET_PYTHON, 'python3', '/usr/bin/python3'].filter(
  (p): p is string => p !== undefined && p !== '',
);
let python = 'python3';

/**
 * Why PyTorch rows cannot be measured here, or undefined when one of PYTHONS imports torch and
 * torchvision (Debian's python3-torch and python3-torchvision; CI installs neither) — that one
 * then runs them.
 */
export function torchMissing(): string | undefined {
  const why: string[] = [];
  for (const p of PYTHONS) {
    const r = spawnSync(p, ['-c', 'import torch, torchvision'], { encoding: 'utf8' });
    if (!r.error && r.status === 0) {
      python = p;
      return undefined;
    }
    why.push(
      `${p}: ${r.error ? `did not start (${r.error.message})` : (r.stderr.trim().split('\n').at(-1) ?? '').trim() || 'import failed'}`,
    );
  }
  return why.join('; ');
}

/** PyTorch's images/s for the same step (bench/torch_train.py), on `threads` threads. */
export function torchRate(
  arch: ArchName,
  size: number,
  threads: number,
  steps = 1,
  batch = 32,
): number {
  const r = spawnSync(
    python,
    [TORCH_SCRIPT, '--arch', arch, '--size', String(size), '--batch', String(batch)].concat([
      '--steps',
      String(steps),
      '--threads',
      String(threads),
    ]),
    { encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: String(threads) } },
  );
  if (r.status !== 0) throw new Error(`torch_train.py ${arch} ${size} failed: ${r.stderr}`);
  const line = r.stdout.trim().split('\n').at(-1) ?? '{}';
  return (JSON.parse(line) as { images_per_s: number }).images_per_s;
}

export async function benchTrain(): Promise<BenchRow[]> {
  const quick = process.argv.includes('--quick');
  const archs = (argList('--train-archs') ??
    (quick ? ['mobilenet_v2', 'efficientnet_b0', 'resnet50'] : [...ARCH_NAMES])) as ArchName[];
  const sizes = (argList('--train-sizes') ?? (quick ? ['128'] : ['128', '224'])).map(Number);
  const cores = Math.min(2, cpus().length);
  const steps = Number(argList('--train-steps')?.[0] ?? 1);
  const lean = process.argv.includes('--lean');
  const rows: BenchRow[] = [];
  const noTorch = process.argv.includes('--no-torch')
    ? 'asked not to (--no-torch)'
    : torchMissing();
  if (noTorch !== undefined) process.stderr.write(`PyTorch rows skipped: ${noTorch}\n`);
  const native = nativeAddon() !== null;
  if (!native)
    process.stderr.write(`native rows skipped: the accelerator ${nativeUnavailable()}\n`);
  else process.stderr.write(`native: ${enableNative(true, 1)}\n`);
  const row = (name: string, value: number, unit: string, target = '') => {
    rows.push({ name, value, unit, target });
    process.stderr.write(`${name}: ${value.toFixed(2)} ${unit}\n`);
  };
  for (const size of sizes) {
    for (const arch of archs) {
      const what = `${arch} ${size}² batch 32`;
      const target = size === 128 && TARGETS[arch] !== undefined ? `≥ ${TARGETS[arch]}` : '';
      // The default engine (native when built, else wasm) on every core, then its scaling.
      const engine = native ? 'native' : 'wasm';
      const ours = await trainRate(arch, size, cores, steps, 32, undefined, engine);
      row(`train ${what}, ${engine}, ${cores} workers`, ours, 'images/s', target);
      if (cores > 1) {
        const one = await trainRate(arch, size, 1, steps, 32, undefined, engine, 1);
        row(`train ${what}, ${engine}, 1 worker (1 core)`, one, 'images/s');
        row(`${cores} workers / 1 worker, ${what}, ${engine}`, ours / one, '×', '≥ 1.7');
        const ceiling = await independentScaling(arch, size, cores, steps, 32 / cores, engine);
        row(
          `${cores} independent 1-worker engines at once / 1 alone, ${arch} ${size}² batch ${32 / cores} each, ${engine} (the machine's ceiling for the row above)`,
          ceiling.ratio,
          '×',
        );
        if (native && !lean) {
          const threaded = await trainRate(arch, size, 1, steps, 32, undefined, 'native', cores);
          row(
            `train ${what}, native, 1 worker with ${cores} OpenBLAS threads`,
            threaded,
            'images/s',
          );
        }
      }
      if (native && !lean) {
        const wasm = await trainRate(arch, size, cores, steps, 32, undefined, 'wasm');
        row(`train ${what}, wasm (no accelerator), ${cores} workers`, wasm, 'images/s');
      }
      if (noTorch === undefined) {
        // Measured now, in the same run, on as many threads as ichdet had cores.
        const theirs = torchRate(arch, size, cores, steps);
        const on = `${what}, ${cores} threads`;
        row(`PyTorch train ${on}`, theirs, 'images/s');
        row(`ichdet (${engine}) / PyTorch, ${on}`, ours / theirs, '×', '≥ 1.0');
      }
    }
  }
  return rows;
}

// Run directly: `npx tsx bench/train.ts [--quick] [--train-archs a,b] [--train-sizes 128]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchTrain())
    process.stdout.write(`| ${r.name} | ${r.value.toFixed(1)} | ${r.unit} | ${r.target} |\n`);
}
