import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { type Command, CommanderError } from 'commander';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildProgram } from '../src/cli/main.js';
import { encodeSlice } from '../src/dicom/write.js';
import { decodeNpy } from '../src/io/npy.js';
import { decodePng } from '../src/io/png.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');

/** Runs the CLI from sources; resolves with exit code, stdout and stderr (never rejects). */
async function ichdet(
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(
      process.execPath,
      ['--import', 'tsx', join(root, 'src/cli/run.ts'), ...args],
      {
        cwd: root,
        env: { ...process.env, CI: 'true' },
      },
    );
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/**
 * `ichdet ARGS --help` in this process: the program `main` builds, its output captured; the
 * exit code is the one `main` would set (help is commander's exit 0).
 */
async function helpInProcess(...args: string[]): Promise<{ code: number; stdout: string }> {
  const argv = ['node', 'ichdet', ...args, '--help'];
  const program = await buildProgram(argv);
  let stdout = '';
  const capture = (c: Command): void => {
    c.exitOverride().configureOutput({
      writeOut: (str) => {
        stdout += str;
      },
    });
    for (const sub of c.commands) capture(sub);
  };
  capture(program);
  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) return { code: err.exitCode, stdout };
    throw err;
  }
  return { code: 0, stdout };
}

let dir: string;
let good: string;
let mono1: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-cli-'));
  // 4×4 signed slice, intercept −1024: HU row-major 0, 10, …, 150 (stored = HU + 1024).
  const stored = Int16Array.from({ length: 16 }, (_, i) => i * 10 + 1024);
  const base = {
    rows: 4,
    cols: 4,
    stored,
    bitsAllocated: 16 as const,
    bitsStored: 16,
    pixelRepresentation: 1 as const,
    rescaleIntercept: -1024,
    rescaleSlope: 1,
    windowCenter: [40, 80],
    windowWidth: [80, 200],
    patientId: 'ID_patient01',
    studyInstanceUid: 'ID_study01',
    seriesInstanceUid: 'ID_series01',
    sopInstanceUid: 'ID_4d28912ba6',
    imagePositionPatient: [-125, -125, 42.5] as [number, number, number],
  };
  good = join(dir, 'ID_4d28912ba6.dcm');
  writeFileSync(good, encodeSlice(base));
  mono1 = join(dir, 'mono1.dcm');
  writeFileSync(mono1, encodeSlice({ ...base, photometricInterpretation: 'MONOCHROME1' }));
  writeFileSync(join(dir, 'notes.txt'), 'this is not DICOM\n');
});

describe('ichdet CLI', () => {
  it('the bin prints usage for --help and exits 0', async () => {
    const r = await ichdet('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ichdet/);
  });

  it.each([
    [],
    ['inspect'],
    ['export'],
    ['synth'],
    ['stats'],
    ['prepare'],
    ['info'],
    ['merge'],
    ['split'],
    ['models'],
    ['weights', 'download'],
    ['train'],
    ['train-series'],
    ['evaluate'],
    ['score'],
    ['compare'],
    ['cv'],
    ['demo'],
    ['worker'],
    ['jobs'],
  ])('prints usage for --help of "%s" and exits 0', async (...cmd) => {
    const r = await helpInProcess(...(cmd as string[]));
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: ichdet/);
    // The help is the named command's own.
    expect(r.stdout.split('\n')[0]).toContain(['Usage: ichdet', ...(cmd as string[])].join(' '));
  });

  it('names the missing or bad training option and the value received', async () => {
    // Five independent child processes, run side by side.
    const [missing, arch, resume, archs, cv] = await Promise.all([
      ichdet('train', '--out', join(dir, 'run-x'), '--cache', dir, '--split', 'x.csv'),
      ichdet(
        'train',
        '--out',
        join(dir, 'run-y'),
        '--cache',
        dir,
        '--split',
        'x.csv',
        '--arch',
        'alexnet',
      ),
      ichdet('train', '--resume', '--out', join(dir, 'nothing-here')),
      ichdet(
        'compare',
        '--cache',
        dir,
        '--split',
        'x.csv',
        '--archs',
        'vgg16,lenet',
        '--out',
        join(dir, 's'),
      ),
      ichdet('cv', '--resume', '--out', join(dir, 'no-cv')),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe('ichdet: --arch is required (unless --resume)\n');
    expect(arch.stderr).toMatch(/^ichdet: --arch must be one of vgg16, .*, received "alexnet"\n$/);
    expect(resume.stderr).toBe(
      `ichdet: --resume: ${join(dir, 'nothing-here')} holds no run (config.json is missing)\n`,
    );
    expect(archs.stderr).toMatch(/^ichdet: unknown architecture "lenet", expected one of vgg16/);
    expect(cv.code).toBe(1);
    expect(cv.stderr).toBe(
      `ichdet: --resume: ${join(dir, 'no-cv')} holds no cv (cv.json is missing)\n`,
    );
  });

  it('inspects a file as JSON with the attributes as written', async () => {
    const r = await ichdet('inspect', good, '--json');
    expect(r.code).toBe(0);
    const [rec] = JSON.parse(r.stdout) as Array<Record<string, unknown>>;
    expect(rec).toMatchObject({
      ok: true,
      sopInstanceUid: 'ID_4d28912ba6',
      patientId: 'ID_patient01',
      rows: 4,
      cols: 4,
      windowCenter: [40, 80],
      windowWidth: [80, 200],
      imagePositionPatient: [-125, -125, 42.5],
      huMin: 0,
      huMax: 150,
      rsnaFixApplied: false,
    });
  });

  it('reports a bad file in its record, carries on with the others, and exits 1', async () => {
    const r = await ichdet('inspect', dir, '--json');
    expect(r.code).toBe(1);
    const recs = JSON.parse(r.stdout) as Array<{ file: string; ok: boolean; error?: string }>;
    expect(recs.map((x) => x.ok)).toEqual([true, true, false]);
    expect(recs[2]!.error).toContain('notes.txt');
    expect(recs[2]!.error).toContain('not a DICOM file');
    expect(r.stderr).toBe('ichdet: 1 of 3 files failed\n');
  });

  it('prints one error line without a stack trace, and the stack with --verbose', async () => {
    const missing = join(dir, 'nope.dcm');
    const [r, v] = await Promise.all([
      ichdet('export', missing, '--out', join(dir, 'x.npy')),
      ichdet('--verbose', 'export', missing, '--out', join(dir, 'x.npy')),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(missing);
    expect(v.stderr).toMatch(/\n\s+at /);
  });

  it('rejects a bad option value naming the option and the value', async () => {
    const [r, w, e] = await Promise.all([
      ichdet('export', good, '--out', join(dir, 'x.npy'), '--size', 'abc'),
      ichdet('export', good, '--out', join(dir, 'x.npy'), '--windows', 'brian'),
      ichdet('export', good, '--out', join(dir, 'x.jpg')),
    ]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--size must be a positive integer, received "abc"');
    expect(w.code).toBe(1);
    expect(w.stderr).toContain('brian');
    expect(e.stderr).toContain('--out must end in .npy or .png, received');
  });

  it('exports HU as a float32 .npy of shape rows × cols with the exact values', async () => {
    const out = join(dir, 'hu.npy');
    const r = await ichdet('export', good, '--out', out, '--hu');
    expect(r.code).toBe(0);
    const npy = decodeNpy(readFileSync(out));
    expect(npy.shape).toEqual([4, 4]);
    expect(npy.dtype).toBe('float32');
    expect(Array.from(npy.data)).toEqual(Array.from({ length: 16 }, (_, i) => i * 10));
  });

  it('exports brain and bone windows as H × W × C with the reference formula', async () => {
    const out = join(dir, 'win.npy');
    const r = await ichdet('export', good, '--out', out, '--windows', 'brain,600/2800');
    expect(r.code).toBe(0);
    const npy = decodeNpy(readFileSync(out));
    expect(npy.shape).toEqual([4, 4, 2]);
    // pixel 5 has HU 50: brain (50 − 0)/80 = 0.625; bone (50 − (−800))/2800 = 850/2800.
    expect(npy.data[10]).toBe(0.625);
    expect(npy.data[11]).toBeCloseTo(850 / 2800, 7);
  });

  it('renders a MONOCHROME1 HU PNG inverted with the file window, and MONOCHROME2 not', async () => {
    const a = join(dir, 'm2.png');
    const b = join(dir, 'm1.png');
    const [ra, rb] = await Promise.all([
      ichdet('export', good, '--out', a, '--hu'),
      ichdet('export', mono1, '--out', b, '--hu'),
    ]);
    expect(ra.code).toBe(0);
    expect(rb.code).toBe(0);
    const p2 = decodePng(readFileSync(a));
    const p1 = decodePng(readFileSync(b));
    // File window 40/80: HU 0 → 0, HU 40 → round(0.5 × 255) = 128, HU ≥ 80 → 255.
    expect(Array.from(p2.data.subarray(0, 5))).toEqual([0, 32, 64, 96, 128]);
    expect(Array.from(p1.data.subarray(0, 5))).toEqual([255, 223, 191, 159, 127]);
  });

  it('synth writes the RSNA layout and prints the positive rates; a bad option names itself', async () => {
    const out = join(dir, 'synth');
    const [r, bad] = await Promise.all([
      ichdet('synth', '--out', out, '--patients', '2', '--size', '64', '--workers', '1'),
      ichdet('synth', '--out', join(dir, 'synth2'), '--patients', 'abc'),
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote \d+ slices of 2 patients to /);
    expect(r.stdout).toMatch(/positive rates: epidural [\d.]+%, intraparenchymal/);
    const csv = readFileSync(join(out, 'stage_2_train.csv'), 'utf8').split('\n');
    expect(csv[0]).toBe('ID,Label');
    expect(csv[1]).toMatch(/^ID_[0-9a-f]{9}_epidural,[01]$/);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('ichdet: --patients must be a positive integer, received "abc"\n');
  });

  it('runs synth → prepare → info → split end to end on the same folders a user would', async () => {
    const data = join(dir, 'e2e');
    expect(
      (
        await ichdet(
          'synth',
          '--out',
          data,
          '--patients',
          '4',
          '--size',
          '64',
          '--faults',
          '--workers',
          '1',
        )
      ).code,
    ).toBe(0);
    const cache = join(dir, 'e2e-cache');
    const p = await ichdet(
      'prepare',
      '--images',
      join(data, 'stage_2_train'),
      '--labels',
      join(data, 'stage_2_train.csv'),
      '--out',
      cache,
      '--size',
      '32',
      '--workers',
      '1',
    );
    expect(p.code).toBe(0);
    expect(p.stdout).toMatch(/\d+ slices cached, 3 rejected \(see rejects.csv\)/);
    const rejects = readFileSync(join(cache, 'rejects.csv'), 'utf8').trim().split('\n');
    expect(rejects).toHaveLength(4);
    const split = join(dir, 'e2e-split.csv');
    // info and split both only read the cache: side by side.
    const [info, s] = await Promise.all([
      ichdet('info', cache, '--json'),
      ichdet('split', '--cache', cache, '--out', split, '--val', '0.25', '--seed', '3'),
    ]);
    expect(info.code).toBe(0);
    expect(s.code).toBe(0);
    const rows = readFileSync(split, 'utf8').trim().split('\n');
    expect(rows[0]).toBe('image_id,split,repeat');
    const csv = readFileSync(join(data, 'stage_2_train.csv'), 'utf8').trim().split('\n');
    // Every labelled image that decoded is in the split (the 3 broken files are not).
    expect(rows.length - 1).toBe((csv.length - 1) / 6 - 3);
    const patients = new Map<string, Set<string>>();
    const meta = readFileSync(join(data, 'metadata.csv'), 'utf8').trim().split('\n').slice(1);
    const patientOf = new Map(meta.map((l) => [l.split(',')[0]!, l.split(',')[1]!]));
    for (const r of rows.slice(1)) {
      const [id, part] = r.split(',');
      const pid = patientOf.get(id!)!;
      if (!patients.has(pid)) patients.set(pid, new Set());
      patients.get(pid)!.add(part!);
    }
    for (const parts of patients.values()) expect(parts.size).toBe(1);
    // The Keras name of an architecture is accepted; the run stores the canonical name.
    const runDir = join(dir, 'e2e-run');
    const t = await ichdet(
      'train',
      '--cache',
      cache,
      '--split',
      split,
      '--arch',
      'MobileNetV2',
      '--out',
      runDir,
      '--size',
      '32',
      '--epochs',
      '1',
      '--batch',
      '4',
      '--weights',
      'none',
      '--workers',
      '1',
      '--max-steps',
      '1',
      '--backend',
      'wasm',
      '--no-progress',
    );
    expect(t.stderr).not.toMatch(/ichdet: /);
    expect(t.code).toBe(0);
    expect(JSON.parse(readFileSync(join(runDir, 'config.json'), 'utf8')).arch).toBe('mobilenet_v2');
  }, 120_000);
});
