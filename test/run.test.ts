/**
 * The run folder's home (src/run/) and slice identity (data/series.ts, dicom/geometry.ts): the
 * typed config and model card reject what a hand-edited file gets wrong, naming the field; the
 * atomic folder swap leaves the old or the new folder whatever the moment of a kill; the context
 * window and slice position agree with values worked out by hand.
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compareSlices, contextIndices, contextWindow, imageIdOf } from '../src/data/series.js';
import { sliceNormal, slicePosition } from '../src/dicom/geometry.js';
import { ConfigError, InputError } from '../src/errors.js';
import { parseTrainConfig } from '../src/run/config.js';
import { recoverFolder, writeFolder } from '../src/run/folder.js';
import { parseModelCard, toInputCard } from '../src/run/model-card.js';
import { ModelFolder, openRun, resolveModelDir } from '../src/run/run.js';
import { resolveTrainConfig } from '../src/train/config.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-run-'));

describe('run config', () => {
  const good = resolveTrainConfig({ cache: 'c', split: 's', arch: 'mobilenet_v2', out: 'o' });

  it('reads back what resolveTrainConfig made, bnMomentum defaulting to null', () => {
    const { bnMomentum: _, ...old } = good;
    expect(parseTrainConfig(JSON.parse(JSON.stringify(old)), 'config.json')).toEqual({
      ...good,
      bnMomentum: null,
    });
  });

  it('names the file, the field and the value of a wrong field', () => {
    expect(() => parseTrainConfig({ ...good, epochs: '10' }, 'RUN/config.json')).toThrow(
      new InputError('RUN/config.json: "epochs" must be number, received "10"'),
    );
    expect(() => parseTrainConfig([1], 'x.json')).toThrow(
      /must hold a JSON object, received \[1\]/,
    );
  });

  it('says a folder without config.json is not a run', () => {
    const run = openRun(join(root, 'none'));
    expect(run.exists()).toBe(false);
    expect(() => run.config()).toThrow(/is not a training run \(config.json is missing\)/);
  });
});

describe('model card', () => {
  const card = {
    arch: 'mobilenet_v2',
    size: 32,
    channels: 3,
    context: 0,
    preprocessing: 'tf',
    cacheChannels: 3,
    cacheSize: 32,
    windows: [{ name: 'brain', center: 40, width: 80 }],
  };

  it('accepts a full card and defaults rsnaFix to true for inference', () => {
    const c = parseModelCard({ ...card }, 'm');
    expect(toInputCard(c, 'm').rsnaFix).toBe(true);
    expect(toInputCard({ ...c, rsnaFix: false }, 'm').rsnaFix).toBe(false);
  });

  it('names a missing or mistyped field and the value received', () => {
    const { size: _, ...noSize } = card;
    expect(() => parseModelCard(noSize, 'B/model.json')).toThrow(
      new ConfigError('B/model.json has no ichdet metadata "size"; was it saved by ichdet train?'),
    );
    expect(() => parseModelCard({ ...card, context: 3 }, 'B/model.json')).toThrow(
      new ConfigError('B/model.json: ichdet metadata "context" must be 0, 1 or 2, received 3'),
    );
    const { windows: _w, ...noWindows } = card;
    expect(() => toInputCard(parseModelCard(noWindows, 'B'), 'B')).toThrow(/"windows"/);
  });

  it('resolves a run to best/ or last/, or takes a model folder as it is', () => {
    const run = join(root, 'run');
    for (const d of ['best', 'last']) {
      mkdirSync(join(run, d), { recursive: true });
      writeFileSync(join(run, d, 'model.json'), '{}');
    }
    expect(resolveModelDir(run)).toBe(join(run, 'best'));
    expect(resolveModelDir(run, 'last')).toBe(join(run, 'last'));
    expect(resolveModelDir(join(run, 'last'))).toBe(join(run, 'last'));
    expect(() => resolveModelDir(join(root, 'empty'))).toThrow(/has no best\/ model/);
    expect(new ModelFolder(run).threshold()).toEqual({ value: 0.5, source: 'default' });
    expect(() => new ModelFolder(run).threshold(1.5)).toThrow(/--threshold must be in \[0, 1\]/);
  });
});

describe('atomic folder swap', () => {
  it('replaces a folder and leaves no temporary copies', async () => {
    const parent = join(root, 'swap');
    mkdirSync(parent, { recursive: true });
    await writeFolder(parent, 'last', (tmp) => writeFileSync(join(tmp, 'state.json'), '1'));
    await writeFolder(parent, 'last', (tmp) => writeFileSync(join(tmp, 'state.json'), '2'));
    expect(readFileSync(join(parent, 'last', 'state.json'), 'utf8')).toBe('2');
    expect(existsSync(join(parent, '.last.old'))).toBe(false);
    expect(existsSync(join(parent, '.last.tmp'))).toBe(false);
  });

  it('puts the old folder back after a kill between the two renames', () => {
    const parent = join(root, 'killed');
    // The state a kill leaves between `last → .last.old` and `.last.tmp → last`.
    mkdirSync(join(parent, '.last.old'), { recursive: true });
    writeFileSync(join(parent, '.last.old', 'state.json'), 'old');
    mkdirSync(join(parent, '.last.tmp'), { recursive: true });
    recoverFolder(parent, 'last', 'state.json');
    expect(readFileSync(join(parent, 'last', 'state.json'), 'utf8')).toBe('old');
    expect(existsSync(join(parent, '.last.old'))).toBe(false);
    expect(existsSync(join(parent, '.last.tmp'))).toBe(false);
  });
});

describe('slice identity', () => {
  it('takes the SOPInstanceUID as the image id, else the file name without .dcm', () => {
    expect(imageIdOf(' 1.2.3 ', 'a/b.dcm')).toBe('1.2.3');
    expect(imageIdOf('', 'a/ID_ab12.DCM')).toBe('ID_ab12');
    expect(imageIdOf('', 'a\\b\\x')).toBe('x');
  });

  it('orders by position, then instance number, then id, unknowns last', () => {
    const k = (position: number | null, instanceNumber: number | null, imageId: string) => ({
      position,
      instanceNumber,
      imageId,
    });
    const s = [k(null, 1, 'a'), k(5, 2, 'b'), k(5, 1, 'c'), k(-5, null, 'd'), k(5, 1, 'a')];
    expect(s.sort(compareSlices).map((x) => x.imageId)).toEqual(['d', 'a', 'c', 'b', 'a']);
  });

  it('repeats the nearest slice past either end of the context window', () => {
    expect(contextIndices(0, 5, 2)).toEqual([0, 0, 0, 1, 2]);
    expect(contextIndices(4, 5, 1)).toEqual([3, 4, 4]);
    // A chain with a gap after slice 2 (its next is missing): the window stops there.
    const next = [1, 2, -1, 4, -1];
    const prev = [-1, 0, 1, -1, 3];
    expect(
      contextWindow(
        1,
        2,
        (i) => prev[i]!,
        (i) => next[i]!,
      ),
    ).toEqual([0, 0, 1, 2, 2]);
  });

  it('projects the position on the slice normal (PS3.3 C.7.6.2.1.1), for tilted series too', () => {
    const axial = [1, 0, 0, 0, 1, 0];
    expect(slicePosition([10, 20, -35.5], axial)).toBe(-35.5);
    expect(slicePosition([10, 20, 7], undefined)).toBe(7);
    expect(slicePosition(undefined, axial)).toBeNull();
    // Tilted 30° about x: rows along x, columns (0, cos, −sin); normal (0, sin, cos).
    const c = Math.cos(Math.PI / 6);
    const s = Math.sin(Math.PI / 6);
    const tilted = [1, 0, 0, 0, c, -s];
    expect(slicePosition([0, 2, 4], tilted)).toBeCloseTo(2 * s + 4 * c, 12);
    const n = sliceNormal(tilted)!;
    expect(n[0]).toBeCloseTo(0, 12);
    expect(n[1]).toBeCloseTo(s, 12);
    expect(n[2]).toBeCloseTo(c, 12);
    expect(sliceNormal([1, 0, 0, 1, 0, 0])).toBeNull();
  });
});
