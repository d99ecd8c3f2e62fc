/**
 * Renders one axial slice of a synthetic patient into HU, a tissue-class map and a label mask.
 *
 * The slice is drawn analytically, in mm, in two stages:
 *  1. a base pass over every pixel lays out scalp, skull and the brain by depth below the inner
 *     table (cortex, sulci, white matter), with epidural and subdural blood as extra layers of
 *     per-angle thickness between skull and brain;
 *  2. paint passes, each over the bounding box of one structure only, add the falx and fissure,
 *     deep grey nuclei, ventricles, cisterns, skull base, brainstem, venous sinuses, mimics
 *     (calcified pineal, choroid plexus, falx), beam-hardening streaks and the remaining lesions.
 * Every pixel's class depends on that pixel alone, so rendering only a rectangle gives exactly the
 * classes (and mask) a full render gives there: the label-only mode relies on it.
 * The scanner's blur and noise are applied afterwards (`imaging.ts`).
 */
import { clotTexture, extraAxialTables, lesionRect, massEffect, paintLesions } from './lesions.js';
import type { Patient } from './patient.js';
import { EPIDURAL, SUBDURAL } from './subtypes.js';
import {
  angleBin,
  BIN_SCALE,
  BRAIN,
  binAngle,
  clamp,
  NB,
  NB_MASK,
  type Rect,
  type SliceImage,
  TISSUE,
  WIGGLE,
  wrapAngle,
  zProfile,
} from './tissue.js';

export { allocSlice, NB, type Rect, type SliceImage, TISSUE, type TissueName } from './tissue.js';

const T = TISSUE;

/** A deterministic hash of two integers and a salt to [0, 1). */
function hash01(ix: number, iy: number, salt: number): number {
  const x = Math.sin(ix * 127.1 + iy * 311.7 + salt * 74.7) * 43758.5453;
  return x - Math.floor(x);
}

/**
 * Air-cell pattern (sinuses, mastoid): the gap F2 − F1 (mm) between the nearest and second
 * nearest of jittered points on a grid of `size` mm. Small values are the bony septa between
 * cells, so the cells are irregular polygons rather than a lattice.
 */
export function cellGap(u: number, v: number, size: number, salt: number): number {
  const gu = u / size;
  const gv = v / size;
  const iu = Math.floor(gu);
  const iv = Math.floor(gv);
  let f1 = Infinity;
  let f2 = Infinity;
  for (let a = -1; a <= 1; a++) {
    for (let b = -1; b <= 1; b++) {
      const pu = iu + a + 0.15 + 0.7 * hash01(iu + a, iv + b, salt);
      const pv = iv + b + 0.15 + 0.7 * hash01(iv + b, iu + a, salt + 1);
      const d = Math.hypot(gu - pu, gv - pv);
      if (d < f1) {
        f2 = f1;
        f1 = d;
      } else if (d < f2) f2 = d;
    }
  }
  return (f2 - f1) * size;
}

/** Renders the slices of one patient; holds per-slice tables to avoid reallocation. */
export class SliceRenderer {
  readonly rows: number;
  readonly cols: number;
  private readonly p: Patient;
  private readonly cphi: number;
  private readonly sphi: number;
  private readonly sp: number;
  // Per-angle tables of the current slice.
  private readonly outer = new Float32Array(NB);
  private readonly scalp = new Float32Array(NB);
  private readonly skull = new Float32Array(NB);
  private readonly edh = new Float32Array(NB);
  private readonly edhHu = new Float32Array(NB);
  private readonly sdh = new Float32Array(NB);
  private readonly sdhHu = new Float32Array(NB);
  private readonly ven = new Float32Array(NB);
  private readonly sulDist = new Float32Array(NB);
  private readonly sulDepth = new Float32Array(NB);
  /** Per bin: the nearest sulcus's bend (mm at 10 mm depth) and width factor. */
  private readonly sulBend = new Float32Array(NB);
  private readonly sulWidth = new Float32Array(NB);
  private readonly curv = new Float32Array(NB);
  private readonly phase = new Float32Array(NB);
  private readonly shape = new Float32Array(NB);
  private readonly cosB = new Float32Array(NB);
  /** Head-frame height of the prepared slice, mm. */
  zh = 0;
  private sliceScale = 0;
  private skullFactor = 1;
  /** Width (mm) over which bone's share of the slab fades below the inner table. */
  private pvWidth = 0;
  private neck = 0;
  private prepared = -1;

  constructor(patient: Patient) {
    this.p = patient;
    const { scanner, anatomy } = patient;
    this.rows = scanner.rows;
    this.cols = scanner.cols;
    this.cphi = Math.cos(anatomy.phi);
    this.sphi = Math.sin(anatomy.phi);
    this.sp = scanner.spacing;
    const { a, b, harmonics } = anatomy;
    for (let k = 0; k < NB; k++) {
      const th = binAngle(k);
      const c = Math.cos(th);
      const s = Math.sin(th);
      let r = (a * b) / Math.sqrt(b * b * c * c + a * a * s * s);
      let h = 1;
      for (const [n, amp, ph] of harmonics) h += amp * Math.cos(n * th - ph);
      r *= h;
      this.shape[k] = r;
      this.cosB[k] = c;
    }
    for (let k = 0; k < NB; k++) {
      let c = 0;
      const th = binAngle(k);
      for (const [n, amp, ph] of anatomy.curvature) c += amp * Math.sin(n * th + ph);
      this.curv[k] = c;
      this.phase[k] = 32 + 31 * Math.sin(th * 23 + anatomy.curvature[0]![2]);
    }
  }

  /** Head-frame (u, v) of pixel (r, c). */
  headUV(r: number, c: number): [number, number] {
    const { scanner, anatomy } = this.p;
    const dx = scanner.x0 + c * this.sp - anatomy.hx;
    const dy = scanner.y0 + r * this.sp - anatomy.hy;
    return [this.cphi * dx + this.sphi * dy, -this.sphi * dx + this.cphi * dy];
  }

  /** Pixel rectangle covering the head-frame box [u0, u1] × [v0, v1], clipped to `within`. */
  boxRect(u0: number, u1: number, v0: number, v1: number, within: Rect): Rect | undefined {
    const { scanner, anatomy } = this.p;
    let rmin = Infinity;
    let rmax = -Infinity;
    let cmin = Infinity;
    let cmax = -Infinity;
    for (const u of [u0, u1]) {
      for (const v of [v0, v1]) {
        const x = anatomy.hx + this.cphi * u - this.sphi * v;
        const y = anatomy.hy + this.sphi * u + this.cphi * v;
        const c = (x - scanner.x0) / this.sp;
        const r = (y - scanner.y0) / this.sp;
        rmin = Math.min(rmin, r);
        rmax = Math.max(rmax, r);
        cmin = Math.min(cmin, c);
        cmax = Math.max(cmax, c);
      }
    }
    const r0 = Math.max(within.r0, Math.floor(rmin) - 1);
    const r1 = Math.min(within.r1, Math.ceil(rmax) + 2);
    const c0 = Math.max(within.c0, Math.floor(cmin) - 1);
    const c1 = Math.min(within.c1, Math.ceil(cmax) + 2);
    return r0 < r1 && c0 < c1 ? { r0, r1, c0, c1 } : undefined;
  }

  fullRect(): Rect {
    return { r0: 0, r1: this.rows, c0: 0, c1: this.cols };
  }

  /** Midline position (u) at v: mass effect bows it away from the bleed, fixed at the ends. */
  mid(v: number): number {
    const s = this.p.lesions.shift;
    return s === 0 ? 0 : s * Math.exp(-(v * v) / 1600);
  }

  /** Builds the per-angle tables of slice `index`. */
  prepare(index: number): void {
    if (this.prepared === index) return;
    this.prepared = index;
    const { anatomy: an, scanner, lesions } = this.p;
    const zh = scanner.zh[index] ?? 0;
    this.zh = zh;
    const axis = zh >= 0 ? an.top : an.bottomAxis;
    let s = Math.sqrt(Math.max(0, 1 - (zh / axis) ** 2));
    this.neck = zh < -50 ? 1 : 0;
    if (zh < -50) s *= 0.72 + 0.28 * Math.exp((zh + 50) / 8);
    this.sliceScale = s;
    // An axial cut through a curved shell is wider than the shell: t·sqrt(1 + (dr/dz)²).
    const rMean = (an.a + an.b) / 2;
    const drdz = s > 0.02 ? (rMean * zh) / (axis * axis * s) : 50;
    this.skullFactor = Math.min(12, Math.sqrt(1 + drdz * drdz));
    // A 5 mm slab cuts an oblique inner table over a band slab·|dr/dz| wide: its lower half
    // (bone share 0.5 → 0) lies below the rendered surface.
    this.pvWidth = Math.min(14, 0.7 * scanner.thickness * Math.min(drdz, 6)) + 0.4;
    const temporal = zh > -30 && zh < 25 ? zProfile(zh, -3, 28) : 0;
    for (let k = 0; k < NB; k++) {
      this.outer[k] = s * (this.shape[k] ?? 0);
      const c = Math.abs(this.cosB[k] ?? 0);
      const tm = c > 0.55 ? (c - 0.55) * 2.2 * an.temporalis * temporal : 0;
      this.scalp[k] = an.scalp * Math.min(3, this.skullFactor) + tm;
      // Thicker bone at the occiput and frontal bone, thinner over the temporal squama.
      this.skull[k] = this.neck ? 0 : an.skull * (1.15 - 0.35 * c) * this.skullFactor;
      this.edh[k] = 0;
      this.sdh[k] = 0;
      this.ven[k] = 0;
      this.sulDist[k] = 1;
      this.sulDepth[k] = 0;
      this.sulBend[k] = 0;
      this.sulWidth[k] = 1;
    }
    if (this.neck) return;
    this.prepareSulci(zh);
    // Transverse sinuses along the inner table, posterolateral, at the tentorium's level.
    const tv = zProfile(zh, -20, 7);
    if (tv > 0) {
      for (let k = 0; k < NB; k++) {
        const th = binAngle(k);
        const off = Math.abs(th - Math.PI / 2);
        if (th > 0 && off > 0.25 && off < 1.2) this.ven[k] = an.sinus.radius * 1.4 * tv;
      }
    }
    extraAxialTables(lesions, zh, this.cosB, this.edh, this.edhHu, this.sdh, this.sdhHu);
  }

  private prepareSulci(zh: number): void {
    const an = this.p.anatomy;
    // Sulci are shallow near the vertex cap and in the posterior fossa (folia) alike.
    for (const su of an.sulci) {
      const depth = su.depth * clamp(0.55 + 0.7 * Math.sin(zh / su.lambda + su.psi), 0, 1);
      if (depth <= 0.5) continue;
      const th = wrapAngle(su.theta + su.drift * zh);
      const center = (th + Math.PI) * BIN_SCALE;
      const reach = 90;
      const kc = Math.floor(center);
      for (let j = -reach; j <= reach; j++) {
        const k = (kc + j + NB) & NB_MASK;
        const d = Math.abs(kc + j + 0.5 - center) / BIN_SCALE;
        if (d < (this.sulDist[k] ?? 1)) {
          this.sulDist[k] = d;
          this.sulDepth[k] = depth;
          this.sulBend[k] = su.bend;
          this.sulWidth[k] = su.width;
        }
      }
    }
    // Mass effect: sulci next to a large bleed are effaced (shallower, closed).
    const eff = massEffect(this.p.lesions, zh);
    if (eff.length > 0) {
      for (let k = 0; k < NB; k++) {
        const th = binAngle(k);
        let squeeze = 0;
        for (const [theta, half, amount] of eff) {
          const d = Math.abs(wrapAngle(th - theta)) / half;
          if (d < 1) squeeze = Math.max(squeeze, amount * (1 - d * d));
        }
        if (squeeze > 0) {
          this.sulDepth[k] = (this.sulDepth[k] ?? 0) * (1 - squeeze);
          this.sulWidth[k] = (this.sulWidth[k] ?? 1) * (1 - 0.8 * squeeze);
        }
      }
    }
  }

  /** Base pass: scalp, skull, extra-axial blood, CSF, cortex, sulci and white matter. */
  private base(img: SliceImage, rect: Rect): void {
    const { anatomy: an, scanner } = this.p;
    const { hu, cls, mask } = img;
    const cols = this.cols;
    const sp = this.sp;
    const cp = this.cphi;
    const sn = this.sphi;
    const H = an.hu;
    const outer = this.outer;
    const scalp = this.scalp;
    const skull = this.skull;
    const edh = this.edh;
    const edhHu = this.edhHu;
    const sdh = this.sdh;
    const sdhHu = this.sdhHu;
    const ven = this.ven;
    const sulDist = this.sulDist;
    const sulDepth = this.sulDepth;
    const sulBend = this.sulBend;
    const sulWidth = this.sulWidth;
    const curv = this.curv;
    const phase = this.phase;
    const skin = an.skin;
    const skinFat = an.skin + an.fat;
    const ot = an.outerTable * this.skullFactor;
    const it = an.innerTable * this.skullFactor;
    const csfT = an.csfLayer;
    const sw = an.sulcusWidth * 0.5;
    const gm = an.greyThickness;
    const neck = this.neck;
    const cort = H.cortical;
    const pvw = this.pvWidth;
    // Patient table under the head (patient y grows posterior, i.e. down the image).
    const tableY = an.hy + an.b * Math.max(0.75, this.sliceScale) * 1.02 + 14;
    const holderR = an.b * 1.06 + 6;
    const top = this.sliceScale > 0;
    let maxOuter = 0;
    for (let k = 0; k < NB; k++) maxOuter = Math.max(maxOuter, outer[k]!);
    const maxOuter2 = (maxOuter + 1) * (maxOuter + 1);
    for (let r = rect.r0; r < rect.r1; r++) {
      const y = scanner.y0 + r * sp;
      const dy = y - an.hy;
      const dx0 = scanner.x0 + rect.c0 * sp - an.hx;
      let u = cp * dx0 + sn * dy;
      let v = -sn * dx0 + cp * dy;
      const du = cp * sp;
      const dv = -sn * sp;
      const inTable = y > tableY && y < tableY + 9;
      let i = r * cols + rect.c0;
      for (let c = rect.c0; c < rect.c1; c++, i++, u += du, v += dv) {
        mask[i] = 0;
        const pr2 = u * u + v * v;
        const pr = pr2 > maxOuter2 ? 0 : Math.sqrt(pr2);
        const b = pr2 > maxOuter2 || !top ? 0 : angleBin(v, u);
        const depth = pr2 > maxOuter2 || !top ? -1 : outer[b]! - pr;
        if (depth < 0) {
          // Outside the head: air, the table, and the curved head holder.
          const dxh = scanner.x0 + c * sp - an.hx;
          const rh = Math.sqrt(dxh * dxh + dy * dy);
          if (inTable && dxh > -180 && dxh < 180) {
            cls[i] = T.table;
            hu[i] = y < tableY + 1.5 || y > tableY + 7.5 ? H.table : -650;
          } else if (dy > holderR * 0.7 && rh > holderR && rh < holderR + 2.5 && y < tableY) {
            cls[i] = T.table;
            hu[i] = H.table * 0.7;
          } else {
            cls[i] = T.air;
            hu[i] = -1000;
          }
          continue;
        }
        const sc = scalp[b]!;
        if (depth < skin) {
          cls[i] = T.skin;
          hu[i] = H.skin;
          continue;
        }
        if (depth < skinFat) {
          cls[i] = T.fat;
          hu[i] = H.fat;
          continue;
        }
        if (depth < sc || neck) {
          cls[i] = T.muscle;
          hu[i] = H.muscle;
          continue;
        }
        const d2 = depth - sc;
        const sk = skull[b]!;
        if (d2 < sk) {
          if (d2 < ot || d2 > sk - it) {
            cls[i] = T.cortical;
            hu[i] = cort;
          } else {
            cls[i] = T.diploe;
            hu[i] = H.diploe;
          }
          continue;
        }
        let id = d2 - sk;
        const e = edh[b]!;
        if (id < e) {
          cls[i] = T.blood;
          hu[i] = edhHu[b]! + 4 * clotTexture(u, v, this.zh, 0.7);
          mask[i] = 1 << EPIDURAL;
          continue;
        }
        id -= e;
        const vt = ven[b]!;
        if (id < vt) {
          cls[i] = T.venous;
          hu[i] = H.venous;
          continue;
        }
        id -= vt;
        const st = sdh[b]!;
        if (id < st) {
          cls[i] = T.blood;
          // Mixed density: clot swirled with unclotted (less dense) blood.
          hu[i] = sdhHu[b]! + 6 * clotTexture(u, v, this.zh, 2.1);
          mask[i] = 1 << SUBDURAL;
          continue;
        }
        id -= st;
        const pvf = e + vt + st === 0 && id < pvw ? 0.5 * (1 - id / pvw) : 0;
        if (id < csfT) {
          cls[i] = T.csf;
          hu[i] = H.csf;
          if (pvf > 0.004) {
            cls[i] = T.bonePv;
            hu[i] = H.csf + (cort - H.csf) * pvf * pvf * 2;
          }
          continue;
        }
        const bd = id - csfT;
        // Sulci curve as they run in: a per-sulcus bend (quadratic in depth) on top of the
        // slice's slow curvature and a wiggle, so the gyri fold instead of radiating.
        const bendBins = ((sulBend[b]! * bd * bd) / (100 * pr + 1)) * BIN_SCALE;
        const b2 =
          (b + ((curv[b]! * bd + bendBins + WIGGLE[((bd * 5 + phase[b]!) | 0) & 63]!) | 0)) &
          NB_MASK;
        const sdist = sulDist[b2]! * pr;
        const sdepth = sulDepth[b2]!;
        const swk = sw * sulWidth[b2]!;
        if (bd < sdepth && sdist < swk) {
          cls[i] = T.sulcus;
          hu[i] = H.csf;
        } else if (bd < gm || (bd < sdepth + gm && sdist < swk + gm)) {
          cls[i] = T.grey;
          hu[i] = H.grey;
        } else {
          cls[i] = T.white;
          hu[i] = H.white;
        }
        if (pvf > 0.004) {
          cls[i] = T.bonePv;
          hu[i] = hu[i]! + (cort - hu[i]!) * pvf * pvf * 2;
        }
      }
    }
  }

  /**
   * Calls fn(i, u, v) for every pixel of `within` inside the head-frame box. The callback form
   * keeps each paint pass short; the boxes are small, so its cost is minor.
   */
  each(
    within: Rect,
    u0: number,
    u1: number,
    v0: number,
    v1: number,
    fn: (i: number, u: number, v: number) => void,
  ): void {
    const rect = this.boxRect(u0, u1, v0, v1, within);
    if (!rect) return;
    const { anatomy: an, scanner } = this.p;
    const sp = this.sp;
    const cp = this.cphi;
    const sn = this.sphi;
    const du = cp * sp;
    const dv = -sn * sp;
    for (let r = rect.r0; r < rect.r1; r++) {
      const dy = scanner.y0 + r * sp - an.hy;
      const dx0 = scanner.x0 + rect.c0 * sp - an.hx;
      let u = cp * dx0 + sn * dy;
      let v = -sn * dx0 + cp * dy;
      let i = r * this.cols + rect.c0;
      for (let c = rect.c0; c < rect.c1; c++, i++, u += du, v += dv) {
        if (u >= u0 && u <= u1 && v >= v0 && v <= v1) fn(i, u, v);
      }
    }
  }

  /** Inner-table radius (mm from the head centre) at angle θ on this slice. */
  innerRadius(theta: number): number {
    const k = ((wrapAngle(theta) + Math.PI) * BIN_SCALE) & NB_MASK;
    return (this.outer[k] ?? 0) - (this.scalp[k] ?? 0) - (this.skull[k] ?? 0);
  }

  /** Paint passes: anatomy inside the brain, mimics, then the lesions. */
  private paint(img: SliceImage, rect: Rect): void {
    const { anatomy: an, lesions } = this.p;
    const { hu, cls, mask } = img;
    const H = an.hu;
    const zh = this.zh;
    const vs = an.ventricleScale;
    const innerA = this.innerRadius(0);
    const innerP = this.innerRadius(Math.PI / 2);
    const innerAnt = this.innerRadius(-Math.PI / 2);
    if (this.neck) {
      this.paintNeck(img, rect);
      return;
    }
    if (innerA <= 4) return;
    const set = (i: number, c: number, h: number): void => {
      cls[i] = c;
      hu[i] = h;
    };
    // Interhemispheric fissure with the falx in it; the deep midline is spared at mid levels.
    const fw = 0.8 + an.sulcusWidth * 0.8;
    const deep = zh > -14 && zh < 28;
    const fc = an.falxCalc;
    if (zh > -14) {
      const shiftMax = Math.abs(lesions.shift) + fw + 1;
      this.each(rect, -shiftMax, shiftMax, -innerP - 10, innerP + 10, (i, u, v) => {
        if (!BRAIN[cls[i]!]) return;
        if (deep && v > -30 && v < 32) return;
        const d = Math.abs(u - this.mid(v));
        if (d < 0.45) {
          if (fc && v > fc.v0 && v < fc.v1 && d < fc.width * 0.5 + 0.45) set(i, T.calc, H.calc);
          else set(i, T.falx, H.falx);
        } else if (d < fw) set(i, T.fissure, H.csf);
        else if (fc && v > fc.v0 && v < fc.v1 && d < fc.width * 0.5 + 0.45) set(i, T.calc, H.calc);
      });
    }
    // Deep grey nuclei: caudate heads, lentiform nuclei, thalami.
    const nuclei: [number, number, number, number, number, number][] = [
      [9 + 2 * vs, -14, 5, 7, 10, 12],
      [21, -3, 5, 11, 3, 10],
      [10, 9, 7, 9, 4, 9],
    ];
    for (const [nu, nv, ru0, rv0, zc, hz] of nuclei) {
      const f = zProfile(zh, zc, hz);
      if (f <= 0) continue;
      const ru = ru0 * f;
      const rv = rv0 * f;
      for (const side of [1, -1]) {
        const cu = side * nu + this.mid(nv);
        this.each(rect, cu - ru, cu + ru, nv - rv, nv + rv, (i, u, v) => {
          const c = cls[i]!;
          if (c !== T.white && c !== T.grey) return;
          const a = (u - cu) / ru;
          const b = (v - nv) / rv;
          if (a * a + b * b < 1) set(i, T.deepGrey, H.deepGrey);
        });
      }
    }
    // Lateral ventricles as unions of capsules, scaled by age (ventricleScale).
    const horns: [number, number, number, number, number, number, number][] = [
      [4, -28, 7, -6, 4, 14, 13],
      [7, -6, 10, 14, 4, 19, 11],
      [12, 14, 19, 34, 4, 7, 10],
      [28, -12, 26, 2, 1.8, -8, 5],
    ];
    // Mass effect: the ventricle on the bleed's side (opposite to the shift) is compressed.
    const shift = lesions.shift;
    for (const side of [1, -1]) {
      const squash = shift * side < 0 ? 1 - 0.055 * Math.abs(shift) : 1;
      for (const [u0, v0, u1, v1, r0, zc, hz] of horns) {
        const f = zProfile(zh, zc, hz);
        if (f <= 0.05) continue;
        const rad = r0 * vs * f * squash;
        const ax = side * u0 * (0.85 + 0.15 * vs) + this.mid(v0);
        const bx = side * u1 * (0.85 + 0.15 * vs) + this.mid(v1);
        this.capsule(rect, ax, v0, bx, v1, rad, (i, u, v) => {
          const c = cls[i]!;
          // The caudate heads indent the frontal horns' lateral walls; the septum pellucidum
          // parts the two sides.
          if (!BRAIN[c] || (c === T.deepGrey && v < -4)) return;
          if (Math.abs(u - this.mid(v)) < 0.8) return;
          set(i, T.ventricle, H.csf);
        });
      }
      // Calcified choroid plexus in the atrium, a classic dense mimic.
      const ch = an.choroid;
      if (ch && (side > 0 ? ch.left : ch.right)) {
        const f = zProfile(zh, 8, 5);
        if (f > 0) {
          const cu = side * 15 * (0.85 + 0.15 * vs);
          const cv = 22;
          const rr = ch.radius * f;
          this.each(rect, cu - rr, cu + rr, cv - rr, cv + rr, (i, u, v) => {
            if ((u - cu) ** 2 + (v - cv) ** 2 < rr * rr) set(i, T.calc, H.calc);
          });
        }
      }
    }
    // Third ventricle, a midline slit; pineal calcification behind it.
    const f3 = zProfile(zh, -4, 9);
    if (f3 > 0) {
      const m = this.mid(2);
      const ru = 1.4 * vs * f3;
      const rv = 9 * f3;
      this.each(rect, m - ru, m + ru, 2 - rv, 2 + rv, (i, u, v) => {
        if (!BRAIN[cls[i]!]) return;
        if (((u - m) / ru) ** 2 + ((v - 2) / rv) ** 2 < 1) set(i, T.ventricle, H.csf);
      });
    }
    if (an.pineal) {
      const f = zProfile(zh, 0, 4);
      if (f > 0) {
        const m = this.mid(15);
        const rr = an.pineal.radius * f;
        this.each(rect, m - rr, m + rr, 15 - rr, 15 + rr, (i, u, v) => {
          if ((u - m) ** 2 + (v - 15) ** 2 < rr * rr) set(i, T.calc, H.pineal);
        });
      }
    }
    // Sylvian fissures, lined by the insular cortex: a stem in from the lateral surface that
    // turns back along the insula (a "T" on axial slices), wider with age.
    const fs = zProfile(zh, -2, 12);
    if (fs > 0.1) {
      for (const side of [1, -1]) {
        const w = (1.2 + an.sulcusWidth) * fs;
        const edge = this.innerRadius(side > 0 ? -0.1 : Math.PI + 0.1);
        const iu = side * 31 + this.mid(-4);
        const paint = (i: number, d: number, width: number): void => {
          const c = cls[i]!;
          if (!BRAIN[c]) return;
          if (d < width) set(i, T.fissure, H.csf);
          else if (c === T.white) set(i, T.grey, H.grey);
        };
        this.capsule(rect, side * (edge + 2), -7, iu, -4, w + 2.6, (i, _u, _v, d) =>
          paint(i, d, w),
        );
        this.capsule(
          rect,
          iu + side * 1.5,
          -16,
          iu - side * 1.5,
          8,
          w * 0.6 + 2.6,
          (i, _u, _v, d) => paint(i, d, w * 0.6),
        );
      }
    }
    // Suprasellar cistern, a five-pointed star in front of the midbrain.
    const fcis = zProfile(zh, -10, 7);
    if (fcis > 0) {
      const rr = 10 * fcis;
      const m = this.mid(-10);
      this.each(rect, m - rr, m + rr, -10 - rr, -10 + rr, (i, u, v) => {
        if (!BRAIN[cls[i]!]) return;
        const du = u - m;
        const dv = v + 10;
        const star = 0.72 + 0.28 * Math.cos(5 * Math.atan2(du, -dv));
        if (du * du + dv * dv < (rr * star) ** 2) set(i, T.cistern, H.csf);
      });
    }
    // Midbrain: two cerebral peduncles and the tectum, wrapped by the ambient and
    // quadrigeminal cisterns, with the interpeduncular cistern in the notch between them.
    const fmb = zProfile(zh, -8, 7);
    if (fmb > 0) {
      const m = this.mid(6);
      const lobes: [number, number, number][] = [
        [m - 5.5, 3, 7],
        [m + 5.5, 3, 7],
        [m, 9, 7.5],
      ];
      this.each(rect, m - 15, m + 15, -7, 20, (i, u, v) => {
        const c = cls[i]!;
        if (!BRAIN[c] && c !== T.ventricle) return;
        let dm = Infinity;
        for (const [cu, cv, r] of lobes) dm = Math.min(dm, Math.hypot(u - cu, v - cv) - r);
        // The third ventricle narrows to the aqueduct, a dot in the tectum.
        if (dm < 0 && Math.hypot(u - m, v - 8) < 1.1) set(i, T.ventricle, H.csf);
        else if (dm < 0) set(i, T.brainstem, H.white + 2);
        else if (c === T.ventricle) return;
        else if (dm < 2 + an.age) set(i, T.cistern, H.csf);
      });
    }
    if (zh < -14) this.paintSkullBase(img, rect);
    // Superior sagittal sinus at the posterior and anterior midline: dense when a mimic.
    if (zh > -12 && innerP > 20) {
      const rr = an.sinus.radius;
      for (const [cv, r2] of [
        [innerP - rr * 0.6, rr],
        [-innerAnt + rr * 0.5, rr * 0.6],
      ] as const) {
        const m = 0;
        this.each(rect, m - r2, m + r2, cv - r2, cv + r2, (i, u, v) => {
          if (BRAIN[cls[i]!] && (u - m) ** 2 + (v - cv) ** 2 < r2 * r2) set(i, T.venous, H.venous);
        });
      }
    }
    paintLesions(this, this.p, img, rect);
    void mask;
  }

  /** Capsule (segment a→b with radius rad) painter: fn(i, u, v, distanceToSegment). */
  private capsule(
    rect: Rect,
    au: number,
    av: number,
    bu: number,
    bv: number,
    rad: number,
    fn: (i: number, u: number, v: number, d: number) => void,
  ): void {
    const eu = bu - au;
    const ev = bv - av;
    const len2 = eu * eu + ev * ev || 1;
    const u0 = Math.min(au, bu) - rad;
    const u1 = Math.max(au, bu) + rad;
    const v0 = Math.min(av, bv) - rad;
    const v1 = Math.max(av, bv) + rad;
    const r2 = rad * rad;
    this.each(rect, u0, u1, v0, v1, (i, u, v) => {
      const t = clamp(((u - au) * eu + (v - av) * ev) / len2, 0, 1);
      const pu = u - au - t * eu;
      const pv = v - av - t * ev;
      const d2 = pu * pu + pv * pv;
      if (d2 < r2) fn(i, u, v, Math.sqrt(d2));
    });
  }

  /** Outer (skin) radius, mm from the head centre, at angle θ on this slice. */
  outerRadius(theta: number): number {
    return this.outer[((wrapAngle(theta) + Math.PI) * BIN_SCALE) & NB_MASK] ?? 0;
  }

  /**
   * Skull-base slices (zh < −14): the anterior face (orbits with globes, lens, recti, optic
   * nerve and fat; ethmoid and sphenoid air cells; nasal cavity and maxillary sinuses low down),
   * the sella and clivus, petrous ridges with mastoid air cells, the pons and fourth ventricle,
   * and the cerebellum with its folia, behind the petrous ridges.
   */
  private paintSkullBase(img: SliceImage, rect: Rect): void {
    const { anatomy: an } = this.p;
    const { hu, cls } = img;
    const H = an.hu;
    const zh = this.zh;
    const set = (i: number, c: number, h: number): void => {
      cls[i] = c;
      hu[i] = h;
    };
    const ant = this.innerRadius(-Math.PI / 2);
    const inner = this.innerRadius(Math.PI / 2);
    const lat = Math.min(this.innerRadius(0), this.innerRadius(Math.PI));
    const sb = an.skullBase;
    const bone = H.diploe + 120;
    const soft = (c: number): boolean => BRAIN[c] === 1 || c === T.venous || c === T.cistern;
    // Petrous ridge line: from the apex near the clivus back and out to the mastoid.
    const pa = 14;
    const pl = lat * 0.82;
    const petV = (u: number): number => 2 + ((Math.abs(u) - pa) / (pl - pa)) * 24;
    const fPet = zProfile(zh, sb.petrousZ, 11);
    // Posterior fossa: behind the petrous ridges (and the clivus at the midline), below the
    // tentorium.
    const fossa = (u: number, v: number): boolean =>
      v > (Math.abs(u) < pa ? 4 : Math.min(petV(u), 30)) && zh < -16;
    // 1. The face eats the front of the slice as zh drops: bone anterior of the middle cranial
    // fossae, reaching back to the sella at the midline.
    const face = clamp((-17 - zh) / 9, 0, 1);
    if (face > 0) {
      const vSide = -ant + ant * 0.48 * face;
      const low = zh < sb.orbitZ - 8;
      this.each(rect, -lat - 2, lat + 2, -ant - 2, 6, (i, u, v) => {
        const c = cls[i]!;
        if (!soft(c)) return;
        const limit = vSide + (-8 - vSide) * face * Math.exp(-(u * u) / 200);
        if (v > limit || fossa(u, v)) return;
        const au = Math.abs(u);
        // Sphenoid sinus in front of the sella: air with a slightly off-centre septum.
        const sph = (u - sb.septum) ** 2 / 160 + ((v + 16) / 9) ** 2;
        if (zh < -24 && zh > sb.orbitZ - 14 && sph < 1) {
          if (sph > 0.8 || Math.abs(u - sb.septum) < 0.6) set(i, T.cortical, bone + 200);
          else set(i, T.sinusAir, -990);
          return;
        }
        // Ethmoid air cells between the orbits, maxillary sinuses and the nasal cavity lower down.
        if (au < 12 && v < -24 && zh < -22) {
          if (au < 0.8) {
            set(i, T.cortical, bone);
            return;
          }
          // Irregular air cells, ~4 mm, with thin bony septa.
          if (cellGap(u, v + zh * 0.4, 4.2, 3) < 0.9) set(i, T.diploe, bone - 100);
          else set(i, T.sinusAir, low ? -1000 : -960);
          return;
        }
        if (low && au < 34 && v < -ant * 0.45) {
          const m = ((au - 21) / 12) ** 2 + ((v + ant * 0.7) / (ant * 0.24)) ** 2;
          if (m < 0.75) set(i, T.sinusAir, -990);
          else set(i, T.diploe, bone);
          return;
        }
        // Below the middle fossae: the masticator space, muscle lateral of the skull base.
        if (zh < sb.orbitZ - 6 && au > 20 && v > -ant * 0.5) set(i, T.muscle, H.muscle);
        else if (face < 1) {
          // The orbital roofs cross the slab obliquely: bone shares it with the frontal lobes.
          const h = H.white + (bone - H.white) * face * face;
          set(i, T.bonePv, h + 40 * face * Math.sin(u * 0.9) * Math.sin(v * 0.7));
        } else set(i, T.diploe, bone + 60 * Math.sin(u * 1.3) * Math.sin(v * 1.1));
      });
    }
    // 2. Orbits: a cone of fat from the globe back to the apex, the recti along its walls, the
    // optic nerve down its axis; the globe (vitreous, sclera, lens) at the front, under the lids.
    const fo = zProfile(zh, sb.orbitZ, 15);
    if (fo > 0 && face > 0.3) {
      const fat = Math.max(-98, H.fat - 10);
      for (const side of [1, -1]) {
        const th = -Math.PI / 2 + side * sb.orbitAngle;
        const du = Math.cos(th);
        const dv = Math.sin(th);
        const rg = sb.globe;
        const R = this.outerRadius(th) - rg - 1.2;
        const gu = du * R;
        const gv = dv * R;
        const au = side * pa * 0.9;
        const av = -ant * 0.42;
        const eu = au - gu;
        const ev = av - gv;
        const len = Math.hypot(eu, ev);
        const nu = eu / len;
        const nv = ev / len;
        const fg = zProfile(zh, sb.orbitZ, rg);
        const rgz = rg * fg;
        const box = rg + 16;
        this.each(
          rect,
          Math.min(gu, au) - box,
          Math.max(gu, au) + box,
          gv - box,
          av + 4,
          (i, u, v) => {
            const c = cls[i]!;
            if (c === T.air || c === T.table) return;
            const pu = u - gu;
            const pv = v - gv;
            const g2 = pu * pu + pv * pv;
            if (g2 < rgz * rgz) {
              const g = Math.sqrt(g2);
              // The lens sits at the front of the globe, 2 mm thick, 9 mm wide.
              const ax = pu * nu + pv * nv;
              const w = pu * nv - pv * nu;
              if (fg > 0.55 && ax < -rg + 4 && ax > -rg + 1.2 && Math.abs(w) < 4.5 * fg) {
                set(i, T.lens, sb.lensHu);
              } else if (g > rgz - 1) set(i, T.muscle, H.muscle);
              else set(i, T.globe, H.csf + 3);
              return;
            }
            const t = (pu * nu + pv * nv) / len;
            if (t < 0 || t > 1) return;
            const w = Math.abs(pu * nv - pv * nu);
            const rc = (16 * (1 - t) + 3 * t) * Math.min(1, fo * 1.3);
            if (w > rc) return;
            if (w > rc - 1.5) set(i, T.cortical, bone + 150);
            else if (w < 2.1 * fo && t > 0.1) set(i, T.white, H.white + 3);
            else if (w > rc - 4.5 && t > 0.25) set(i, T.muscle, H.muscle);
            else set(i, T.fat, fat);
          },
        );
      }
    }
    // 3. Sella and clivus: the pituitary in its bony cup, then the clivus sloping back.
    if (zh < -16 && zh > -26) {
      const f = zProfile(zh, -21, 5);
      this.each(rect, -9, 9, -15, 3, (i, u, v) => {
        if (!soft(cls[i]!)) return;
        const d = Math.hypot(u / 1.2, v + 6);
        if (d < 5.5 * f) set(i, T.deepGrey, H.deepGrey);
        else if (d < 7.5 * f) set(i, T.cortical, bone + 250);
      });
    }
    if (zh <= -26) {
      const cv = 0 + (-26 - zh) * 0.45;
      this.each(rect, -10, 10, cv - 7, cv + 7, (i, u, v) => {
        if (!soft(cls[i]!)) return;
        const q = (u / 9) ** 2 + ((v - cv) / 5.5) ** 2;
        if (q < 1) set(i, T.diploe, q > 0.6 ? bone + 300 : bone);
      });
    }
    // 4. Petrous ridges, tapering to the apex, very dense; mastoid air cells behind them.
    if (fPet > 0.15) {
      for (const side of [1, -1]) {
        const bu = side * pl;
        const bv = 26;
        const apu = side * pa;
        const apv = 2;
        this.each(rect, Math.min(apu, bu) - 10, Math.max(apu, bu) + 10, -8, 40, (i, u, v) => {
          const c = cls[i]!;
          if (!soft(c) && c !== T.cortical && c !== T.diploe) return;
          const eu = bu - apu;
          const ev = bv - apv;
          const t = clamp(((u - apu) * eu + (v - apv) * ev) / (eu * eu + ev * ev), 0, 1);
          const d = Math.hypot(u - apu - t * eu, v - apv - t * ev);
          const r = (1.5 + 4.5 * t) * fPet;
          if (d < r) {
            // The inner ear: a small soft-tissue dot inside the dense bone.
            if (t > 0.45 && t < 0.55 && d < 1.4) set(i, T.muscle, H.muscle);
            else set(i, T.cortical, H.cortical + 200);
          }
        });
      }
    }
    const fm = zProfile(zh, sb.petrousZ - 8, 14);
    if (fm > 0) {
      for (const side of [1, -1]) {
        // In the temporal bone behind the ear: centred just outside the inner table.
        const th = Math.atan2(26, side * lat);
        const rin = this.innerRadius(th);
        const mu = Math.cos(th) * (rin + 3.5);
        const mv = Math.sin(th) * (rin + 3.5);
        const rr = 8 * fm;
        this.each(rect, mu - rr, mu + rr, mv - rr, mv + rr, (i, u, v) => {
          const c = cls[i]!;
          if (c !== T.cortical && c !== T.diploe && c !== T.muscle && !soft(c)) return;
          const d = Math.hypot(u - mu, v - mv);
          if (d > rr) return;
          if (soft(c) && Math.hypot(u, v) < rin - 1) return;
          if (cellGap(u, v + zh * 0.5, 2.6, 7 + side) > 0.5) set(i, T.sinusAir, -900);
          else set(i, T.cortical, bone + 200);
        });
      }
    }
    // 5. Pons and fourth ventricle, then the cerebellum with its folia.
    const fb = zProfile(zh, -30, 20);
    if (fb > 0 && zh < -16) {
      const bv = 6 + (-16 - zh) * 0.25;
      const rr = 12.5 * Math.max(0.65, fb);
      const f4 = zProfile(zh, -28, 9);
      const v4 = bv + rr + 1;
      const ru4 = 6 * f4 * (0.8 + 0.25 * an.ventricleScale);
      const fol = sb.folia;
      this.each(rect, -lat, lat, 0, inner, (i, u, v) => {
        const c = cls[i]!;
        if (!BRAIN[c]) return;
        const db = u * u + (v - bv) ** 2;
        if (db < rr * rr) {
          set(i, T.brainstem, H.white + 3);
          return;
        }
        if (db < (rr + 2.2) ** 2 && v < bv) {
          set(i, T.cistern, H.csf);
          return;
        }
        if (!fossa(u, v)) return;
        if (
          f4 > 0 &&
          Math.abs(u) < ru4 &&
          v > v4 - 2 &&
          v < v4 + 3.2 * f4 + 1 - Math.abs(u) * 0.4
        ) {
          set(i, T.ventricle, H.csf);
          return;
        }
        if (c === T.csf) return;
        // Folia: thin CSF clefts concentric about the fourth ventricle.
        const d = Math.hypot(u * 0.9, v - v4);
        const s = Math.sin(
          d * fol + 2.2 * Math.sin(u * 0.13 + zh * 0.2) + 0.8 * Math.sin(v * 0.21) + zh * 0.35,
        );
        // The white-matter core (arbor vitae) fades into the cortex instead of a sharp edge.
        const q = ((Math.abs(u) - 16) / 9) ** 2 + ((v - v4 - 8) / 8) ** 2;
        if (q < 1) set(i, T.cerebellarWhite, H.grey - (H.grey - H.white) * 0.7 * (1 - q));
        else if (s > 0.93) set(i, T.sulcus, (H.csf + H.grey) / 2);
        else set(i, T.grey, H.grey);
      });
    }
    // Beam hardening: a dark band between the petrous bones and thin streaks from them.
    const fst = zProfile(zh, -27, 13);
    if (fst > 0) {
      const st = an.streaks;
      const amp = st.amp * fst;
      this.each(rect, -an.a, an.a, -inner, inner, (i, u, v) => {
        const c = cls[i]!;
        if (!BRAIN[c] && c !== T.cistern && c !== T.ventricle && c !== T.venous) return;
        const bar = Math.abs(v - 6);
        let h = bar < 12 && Math.abs(u) < 40 ? -st.bar * fst * Math.exp(-(bar * bar) / 18) : 0;
        for (let s = 0; s < st.angles.length; s++) {
          const ang = st.angles[s]!;
          const ou = s % 2 === 0 ? 28 : -28;
          const d = Math.abs((u - ou) * Math.sin(ang) - (v - 10) * Math.cos(ang));
          if (d < 2.5) {
            const far = Math.sqrt((u - ou) ** 2 + (v - 10) ** 2);
            h += (s % 3 === 0 ? 1 : -1) * amp * Math.exp(-d * d * 1.2 - far / 30);
          }
        }
        hu[i] = hu[i]! + h;
      });
    }
    void inner;
  }

  private paintNeck(img: SliceImage, rect: Rect): void {
    const { anatomy: an } = this.p;
    const { hu, cls } = img;
    const H = an.hu;
    const set = (i: number, c: number, h: number): void => {
      cls[i] = c;
      hu[i] = h;
    };
    // Vertebra (cortical rim, cancellous body), spinal canal with the cord, airway.
    this.each(rect, -14, 14, -6, 40, (i, u, v) => {
      const db = Math.sqrt(u * u + (v - 4) ** 2);
      const dc = Math.sqrt(u * u + ((v - 24) / 1.1) ** 2);
      if (dc < 8) set(i, dc < 5 ? T.white : T.csf, dc < 5 ? H.white + 5 : H.csf);
      else if (db < 12 || (dc < 11 && v > 17))
        set(
          i,
          db > 10.5 || dc < 11 ? T.cortical : T.diploe,
          db > 10.5 || dc < 11 ? H.cortical * 0.8 : H.diploe,
        );
    });
    this.each(rect, -9, 9, -34, -18, (i, u, v) => {
      if ((u / 9) ** 2 + ((v + 26) / 6) ** 2 < 1) set(i, T.sinusAir, -990);
    });
  }

  /** Pixel rectangle that holds every lesion of slice `index`, or undefined when none can show. */
  lesionRect(index: number): Rect | undefined {
    this.prepare(index);
    return lesionRect(this, this.p.lesions);
  }

  /**
   * Renders slice `index` (noise-free) inside `rect` (default: the whole image) and returns the
   * mask area of each subtype there.
   */
  render(index: number, img: SliceImage, rect: Rect = this.fullRect()): number[] {
    this.prepare(index);
    this.base(img, rect);
    this.paint(img, rect);
    const areas = [0, 0, 0, 0, 0];
    const { mask } = img;
    // Mask bits are only ever set inside the lesion rectangle: count there.
    const lr = this.lesionRect(index);
    if (!lr) return areas;
    const r0 = Math.max(rect.r0, lr.r0);
    const r1 = Math.min(rect.r1, lr.r1);
    const c0 = Math.max(rect.c0, lr.c0);
    const c1 = Math.min(rect.c1, lr.c1);
    for (let r = r0; r < r1; r++) {
      let i = r * this.cols + c0;
      for (let c = c0; c < c1; c++, i++) {
        const m = mask[i]!;
        if (m === 0) continue;
        if (m & 1) areas[0]!++;
        if (m & 2) areas[1]!++;
        if (m & 4) areas[2]!++;
        if (m & 8) areas[3]!++;
        if (m & 16) areas[4]!++;
      }
    }
    return areas;
  }

  /** Per-subtype mask areas of slice `index` without rendering the rest of the image. */
  labelAreas(index: number, img: SliceImage): number[] {
    const rect = this.lesionRect(index);
    if (!rect) return [0, 0, 0, 0, 0];
    return this.render(index, img, rect);
  }
}
