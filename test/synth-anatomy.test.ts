import { describe, expect, it } from 'vitest';
import { renderSlice } from '../src/synth/generate.js';
import { buildPatient, type Patient, withAge } from '../src/synth/patient.js';
import { allocSlice, SliceRenderer, TISSUE } from '../src/synth/render.js';
import { EPIDURAL, INTRAVENTRICULAR, SUBDURAL } from '../src/synth/subtypes.js';

const SIZE = 256;
const SLICES: [number, number] = [36, 40];

const patient = (seed: number, index: number, kinds = 0): Patient =>
  buildPatient(seed, index, kinds, SIZE, SLICES, 'realistic');

/** Index of the slice whose head-frame height is nearest zh. */
function sliceAt(p: Patient, zh: number): number {
  let best = 0;
  p.scanner.zh.forEach((h, i) => {
    if (Math.abs(h - zh) < Math.abs((p.scanner.zh[best] ?? 0) - zh)) best = i;
  });
  return best;
}

/** Area of the convex hull of points (monotone chain), in pixel² units. */
function hullArea(pts: [number, number][]): number {
  const p = [...pts].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const cross = (o: [number, number], a: [number, number], b: [number, number]): number =>
    (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
  const lower: [number, number][] = [];
  for (const q of p) {
    while (lower.length >= 2 && cross(lower.at(-2)!, lower.at(-1)!, q) <= 0) lower.pop();
    lower.push(q);
  }
  const upper: [number, number][] = [];
  for (const q of p.reverse()) {
    while (upper.length >= 2 && cross(upper.at(-2)!, upper.at(-1)!, q) <= 0) upper.pop();
    upper.push(q);
  }
  const h = [...lower.slice(0, -1), ...upper.slice(0, -1)];
  let a = 0;
  for (let i = 0; i < h.length; i++) {
    const [x0, y0] = h[i]!;
    const [x1, y1] = h[(i + 1) % h.length]!;
    a += x0 * y1 - x1 * y0;
  }
  return Math.abs(a) / 2;
}

describe('synthetic head anatomy', () => {
  it('puts orbital fat deep in the face on skull-base slices and none on vertex slices', () => {
    for (const index of [0, 1, 2]) {
      const p = patient(1, index);
      const r = new SliceRenderer(p);
      const img = allocSlice(p.scanner.rows, p.scanner.cols);
      // Fat HU (−110…−60) more than 0.8 of the way in from the skin: orbital, not scalp fat.
      const deepFat = (slice: number): number => {
        r.render(slice, img);
        let n = 0;
        for (let y = 0; y < img.rows; y++) {
          for (let x = 0; x < img.cols; x++) {
            const h = img.hu[y * img.cols + x]!;
            if (h < -110 || h > -60) continue;
            const [u, v] = r.headUV(y, x);
            if (Math.hypot(u, v) < 0.8 * r.outerRadius(Math.atan2(v, u))) n++;
          }
        }
        return n;
      };
      const orbit = sliceAt(p, p.anatomy.skullBase.orbitZ);
      const vertex = sliceAt(p, p.anatomy.top - 20);
      expect(p.scanner.zh[vertex]!).toBeGreaterThan(50);
      expect(deepFat(orbit), `orbit slice of patient ${index}`).toBeGreaterThan(60);
      expect(deepFat(vertex), `vertex slice of patient ${index}`).toBe(0);
    }
  });

  it('measures the grey ribbon 5–15 HU above white matter in the blurred, noisy image', () => {
    for (const index of [0, 3]) {
      const p = patient(2, index);
      const r = new SliceRenderer(p);
      const { rows, cols } = p.scanner;
      const img = allocSlice(rows, cols);
      const classes = allocSlice(rows, cols);
      const s = sliceAt(p, 30);
      r.render(s, classes);
      renderSlice(p, r, 2, s, img, new Float32Array(rows * cols));
      const sum = { grey: [0, 0], white: [0, 0] };
      for (let i = 0; i < rows * cols; i++) {
        const c = classes.cls[i];
        const acc = c === TISSUE.grey ? sum.grey : c === TISSUE.white ? sum.white : undefined;
        if (!acc) continue;
        acc[0]! += img.hu[i]!;
        acc[1]!++;
      }
      expect(sum.grey[1]!).toBeGreaterThan(500);
      const diff = sum.grey[0]! / sum.grey[1]! - sum.white[0]! / sum.white[1]!;
      expect(diff).toBeGreaterThanOrEqual(5);
      expect(diff).toBeLessThanOrEqual(15);
    }
  });

  it('gives an old (atrophic) head larger ventricles and wider sulci than a young one', () => {
    const base = patient(3, 0);
    const count = (age: number): { ventricle: number; sulcus: number } => {
      const p = { ...base, anatomy: withAge(base.anatomy, age) };
      const r = new SliceRenderer(p);
      const img = allocSlice(p.scanner.rows, p.scanner.cols);
      const n = { ventricle: 0, sulcus: 0 };
      p.scanner.zh.forEach((zh, s) => {
        if (zh < -5 || zh > 45) return;
        r.render(s, img);
        for (const c of img.cls) {
          if (c === TISSUE.ventricle) n.ventricle++;
          else if (c === TISSUE.sulcus) n.sulcus++;
        }
      });
      return n;
    };
    const young = count(0.05);
    const old = count(0.95);
    expect(young.ventricle).toBeGreaterThan(100);
    expect(old.ventricle).toBeGreaterThan(1.5 * young.ventricle);
    expect(old.sulcus).toBeGreaterThan(1.5 * young.sulcus);
  });

  it('layers intraventricular blood behind a flat fluid level, in the dependent horns', () => {
    let checked = 0;
    for (let index = 0; checked < 3 && index < 40; index++) {
      const p = patient(4, index, 1 << INTRAVENTRICULAR);
      const iv = p.lesions.intraventricular[0]!;
      if (!Number.isFinite(iv.level)) continue;
      const r = new SliceRenderer(p);
      const img = allocSlice(p.scanner.rows, p.scanner.cols);
      let blood = 0;
      for (let s = 0; s < p.scanner.zh.length; s++) {
        r.render(s, img);
        let bloodV = 0;
        let nb = 0;
        let allV = 0;
        let na = 0;
        for (let i = 0; i < img.cls.length; i++) {
          const inBlood = (img.mask[i]! & (1 << INTRAVENTRICULAR)) !== 0;
          if (!inBlood && img.cls[i] !== TISSUE.ventricle) continue;
          const [, v] = r.headUV(Math.floor(i / img.cols), i % img.cols);
          allV += v;
          na++;
          if (inBlood) {
            // Supine: posterior (v > 0) is down; blood lies below the level, never above it.
            expect(v).toBeGreaterThanOrEqual(iv.level - 0.01);
            bloodV += v;
            nb++;
          }
        }
        if (nb === 0) continue;
        blood += nb;
        expect(bloodV / nb).toBeGreaterThan(allV / na);
      }
      expect(blood, `patient ${index}`).toBeGreaterThan(0);
      checked++;
    }
    expect(checked).toBe(3);
  });

  it('draws epidurals as convex lenses (area ≥ 0.8 × hull) and subdurals as crescents', () => {
    /** Area of the largest slice of subtype k's mask over its convex hull (pixel corners). */
    const fill = (index: number, k: number): number | undefined => {
      const p = buildPatient(5, index, 1 << k, 512, SLICES, 'realistic');
      const r = new SliceRenderer(p);
      const img = allocSlice(p.scanner.rows, p.scanner.cols);
      let best: [number, number][] = [];
      for (let s = 0; s < p.scanner.zh.length; s++) {
        img.mask.fill(0);
        // Label-only rendering: the lesion rectangle holds every mask pixel.
        r.labelAreas(s, img);
        const pts: [number, number][] = [];
        for (let i = 0; i < img.mask.length; i++) {
          if (!(img.mask[i]! & (1 << k))) continue;
          const x = i % img.cols;
          const y = Math.floor(i / img.cols);
          pts.push([x - 0.5, y - 0.5], [x + 0.5, y - 0.5], [x - 0.5, y + 0.5], [x + 0.5, y + 0.5]);
        }
        if (pts.length > best.length) best = pts;
      }
      return best.length >= 4 * 100 ? best.length / 4 / hullArea(best) : undefined;
    };
    const epidural: number[] = [];
    const subdural: number[] = [];
    for (let index = 0; index < 6; index++) {
      const e = fill(index, EPIDURAL);
      if (e !== undefined) epidural.push(e);
      const d = fill(index, SUBDURAL);
      if (d !== undefined) subdural.push(d);
    }
    expect(epidural.length).toBeGreaterThanOrEqual(5);
    for (const f of epidural) expect(f).toBeGreaterThanOrEqual(0.8);
    // The same measure calls a crescent what it is: far from convex.
    expect(Math.min(...subdural)).toBeLessThan(0.5);
  });

  it('compresses the ventricle on the side of a large bleed and shifts the midline away', () => {
    let checked = 0;
    for (let index = 0; checked < 2 && index < 60; index++) {
      const p = patient(6, index, (1 << EPIDURAL) | (1 << SUBDURAL));
      if (Math.abs(p.lesions.shift) < 3) continue;
      const r = new SliceRenderer(p);
      const img = allocSlice(p.scanner.rows, p.scanner.cols);
      r.render(sliceAt(p, 18), img);
      // The bleed is on the side opposite the shift (+u is the patient's left).
      const bleedSide = -Math.sign(p.lesions.shift);
      let same = 0;
      let other = 0;
      for (let i = 0; i < img.cls.length; i++) {
        if (img.cls[i] !== TISSUE.ventricle) continue;
        const [u] = r.headUV(Math.floor(i / img.cols), i % img.cols);
        if (Math.sign(u - r.mid(0)) === bleedSide) same++;
        else other++;
      }
      expect(other).toBeGreaterThan(0);
      expect(same, `patient ${index}`).toBeLessThan(0.85 * other);
      checked++;
    }
    expect(checked).toBe(2);
  });
});
