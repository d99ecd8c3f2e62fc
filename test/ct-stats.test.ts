/**
 * The HU statistics of `ichdet stats`: hand-computed values on a constructed slice, and agreement
 * with the reference definition (scripts/ct_stats.py, numpy + scipy) on a synthetic folder.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { stats } from '../src/commands/stats.js';
import { synth } from '../src/commands/synth.js';
import { percentile, STAT_NAMES, sliceStats } from '../src/dicom/ct-stats.js';
import { close, dilate, erode, fillHoles } from '../src/dicom/morphology.js';

const tmp = mkdtempSync(join(tmpdir(), 'ichdet-ct-stats-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/**
 * 120 × 120: air (−1000), a square skull ring of 1000 HU four pixels thick (rows and columns
 * 10..109), and brain inside (14..105) in vertical stripes of 16 and 48 HU.
 */
function phantom(): Float32Array {
  const n = 120;
  const hu = new Float32Array(n * n).fill(-1000);
  for (let r = 10; r < 110; r++) {
    for (let c = 10; c < 110; c++) {
      const ring = r < 14 || r >= 106 || c < 14 || c >= 106;
      hu[r * n + c] = ring ? 1000 : c % 2 === 0 ? 16 : 48;
    }
  }
  return hu;
}

describe('binary morphology as scipy.ndimage defines it', () => {
  it('dilates and erodes by a cross per iteration, the image border counting as unset', () => {
    const m = new Uint8Array(25);
    m[12] = 1; // the centre of 5 × 5
    const d = dilate(m, 5, 5, 1);
    expect([...d]).toEqual([
      0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(dilate(m, 5, 5, 2).reduce((s, x) => s + x, 0)).toBe(13);
    expect([...erode(d, 5, 5, 1)]).toEqual([...m]);
    // A full image erodes from its border.
    const full = new Uint8Array(25).fill(1);
    expect(erode(full, 5, 5, 1).reduce((s, x) => s + x, 0)).toBe(9);
    // A ring with a one-pixel gap closes; its hole fills.
    const ring = new Uint8Array(49);
    for (let r = 1; r < 6; r++)
      for (let c = 1; c < 6; c++) if (r === 1 || r === 5 || c === 1 || c === 5) ring[r * 7 + c] = 1;
    expect(fillHoles(ring, 7, 7).reduce((s, x) => s + x, 0)).toBe(25);
    ring[1 * 7 + 3] = 0;
    expect(fillHoles(ring, 7, 7).reduce((s, x) => s + x, 0)).toBe(15);
    // A 3-px-thick bar with a one-column gap closes (dilation bridges it, erosion keeps it).
    const bar = new Uint8Array(49);
    for (let r = 2; r < 5; r++) for (let c = 1; c < 6; c++) if (c !== 3) bar[r * 7 + c] = 1;
    expect(close(bar, 7, 7, 1)[3 * 7 + 3]).toBe(1);
  });

  it('takes percentiles by linear interpolation, as numpy does', () => {
    expect(percentile([4, 1, 3, 2], 50)).toBe(2.5);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 10)).toBe(2);
    expect(percentile([0, 10], 90)).toBe(9);
  });
});

describe('the HU statistics of one slice', () => {
  it('gives each statistic its hand-computed value on a constructed slice', () => {
    const s = sliceStats(phantom(), 120, 120);
    expect(s).toBeDefined();
    // Inside = rows/cols 17..102 (3 px off the bone): 43 columns of 16 and 43 of 48.
    expect(s!.brain).toBe(32);
    expect(s!.skull).toBe(1000);
    // HU − 3×3 mean is 16 − (48 + 16 + 48)/3 = −64/3 or +64/3 on the stripes: × 3/√8 = 16√2.
    expect(s!.noise).toBeCloseTo(16 * Math.SQRT2, 10);
    expect(s!.dense).toBe(0);
    // Stripes alternate every pixel: the residual is ±16 HU, anticorrelated at lag 1 (the smooth
    // bone tail that the σ 4 Gaussian leaves near the ring is small beside it).
    expect(s!.noiseR1!).toBeLessThan(-0.97);
    // The outer rim (air −1000 | bone 1000, more than half the rim) sets the 90th percentile:
    // the σ 0.7 Gaussian derivative of a 2000 HU step at its first pixel, Σ x·φ(x)/σ² over
    // x = 1..3 with φ normalised over −3..3.
    const phi = [-3, -2, -1, 0, 1, 2, 3].map((x) => Math.exp(-(x * x) / (2 * 0.49)));
    const z = phi.reduce((a, b) => a + b, 0);
    const want = 2000 * [1, 2, 3].reduce((a, x) => a + (x * phi[x + 3]!) / z / 0.49, 0);
    expect(s!.edge!).toBeCloseTo(want, 6);
  });

  it('counts intracranial pixels above 50 HU as a percentage of the inside', () => {
    const hu = phantom();
    for (let r = 55; r < 65; r++) for (let c = 55; c < 65; c++) hu[r * 120 + c] = 60;
    const s = sliceStats(hu, 120, 120)!;
    expect(s.dense).toBeCloseTo((100 / (86 * 86)) * 100, 10);
    // 3648 pixels of 16, 3648 of 48 and 100 of 60: the median is 48.
    expect(s.brain).toBe(48);
  });

  it('skips a slice with under 1000 brain pixels', () => {
    expect(sliceStats(new Float32Array(64 * 64).fill(-1000), 64, 64)).toBeUndefined();
  });
});

/** A python3 that imports pydicom and scipy (Debian's, when another comes first on PATH). */
const python = ['python3', '/usr/bin/python3'].find((exe) => {
  try {
    execFileSync(exe, ['-c', 'import pydicom, scipy'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
});

describe.skipIf(python === undefined)('ichdet stats against scripts/ct_stats.py', () => {
  it('agrees with the numpy/scipy reference on every statistic of a synthetic folder', async () => {
    const out = join(tmp, 'synth');
    await synth({
      out,
      patients: 2,
      seed: 4,
      size: 256,
      slicesPerSeries: '10:10',
      faults: 1,
      workers: 1,
      progress: false,
    });
    const ts = await stats(join(out, 'stage_2_train'));
    expect(ts.failed.length).toBe(1);
    const script = new URL('../scripts/ct_stats.py', import.meta.url).pathname;
    const py = execFileSync(python!, [script, join(out, 'stage_2_train')], { encoding: 'utf8' });
    expect(py).toContain(`${ts.slices} brain slices of ${ts.files} files`);
    const names: Record<string, string> = { noiseR1: 'noise_r1' };
    let compared = 0;
    for (const k of STAT_NAMES) {
      const line = py.split('\n').find((l) => l.startsWith(`${(names[k] ?? k).padEnd(9)} `));
      const s = ts.stats[k];
      if (!line) {
        expect(s, k).toBeUndefined();
        continue;
      }
      const m = /median\s+(-?[\d.]+)\s+\[\s*(-?[\d.]+),\s*(-?[\d.]+)\]\s+n=(\d+)/.exec(line)!;
      expect(s, k).toBeDefined();
      // The script prints two decimals.
      expect(Math.abs(s!.median - Number(m[1])), `${k} median`).toBeLessThanOrEqual(0.0051);
      expect(Math.abs(s!.p10 - Number(m[2])), `${k} p10`).toBeLessThanOrEqual(0.0051);
      expect(Math.abs(s!.p90 - Number(m[3])), `${k} p90`).toBeLessThanOrEqual(0.0051);
      expect(s!.n, `${k} n`).toBe(Number(m[4]));
      compared++;
    }
    expect(compared).toBe(6);
  }, 120_000);
});
