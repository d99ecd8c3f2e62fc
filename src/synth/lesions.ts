/**
 * Haemorrhages on a slice, as 3-D objects cut by its plane: the extra-axial blood tables the base
 * pass lays under the skull (epidural, subdural), the paint pass for the others
 * (intraparenchymal with its oedema, intraventricular, subarachnoid, subdural along the falx),
 * and the pixel rectangle that holds them all (the label-only mode renders just that).
 */
import type { Lesions, Patient } from './patient.js';
import { INTRAPARENCHYMAL, INTRAVENTRICULAR, SUBARACHNOID, SUBDURAL } from './subtypes.js';
import {
  BRAIN,
  binAngle,
  NB,
  type Rect,
  type SliceImage,
  SUBARACH,
  TISSUE as T,
  wrapAngle,
  zProfile,
} from './tissue.js';

/**
 * Clot texture, zero-mean, about ±1 in amplitude: two incommensurate sine products over the head
 * frame (mm), so neighbouring slices of one clot differ and no two clots look alike.
 */
export function clotTexture(u: number, v: number, zh: number, phase: number): number {
  return (
    0.6 * Math.sin(0.9 * u + 0.4 * zh + phase) * Math.sin(0.8 * v - 0.3 * zh + 1.7 * phase) +
    0.4 * Math.sin(1.9 * (u + v) + 2.3 * phase) * Math.sin(1.6 * (u - v) + 0.5 * zh)
  );
}

/** What lesion painting needs of the slice renderer: the slice height and head-frame geometry. */
export interface LesionFrame {
  readonly zh: number;
  each(
    within: Rect,
    u0: number,
    u1: number,
    v0: number,
    v1: number,
    fn: (i: number, u: number, v: number) => void,
  ): void;
  mid(v: number): number;
  innerRadius(theta: number): number;
  boxRect(u0: number, u1: number, v0: number, v1: number, within: Rect): Rect | undefined;
  fullRect(): Rect;
}

/**
 * Skull sutures as angles in the head frame (θ = atan2(v, u); v < 0 is anterior): the coronal
 * suture a quarter of the way back from the lateral point, the lambdoid posteriorly. Epidural
 * blood strips the dura from the bone but stops where the dura is tethered at a suture.
 */
export const SUTURES = [-0.3, 0.7, Math.PI - 0.7, -Math.PI + 0.3, -Math.PI / 2, Math.PI / 2];

/** Angular limits [lo, hi] (relative to θ0) of the skull plate that holds angle θ0. */
export function plateLimits(theta0: number): [number, number] {
  let lo = -Math.PI;
  let hi = Math.PI;
  for (const s of SUTURES) {
    const d = wrapAngle(s - theta0);
    if (d > 0 && d < hi) hi = d;
    if (d <= 0 && d > lo) lo = d;
  }
  return [lo, hi];
}

/**
 * Where a bleed presses on the brain of the slice at height zh: [θ, angular half-width, amount
 * 0..0.9] per large lesion. The renderer effaces the sulci there.
 */
export function massEffect(lesions: Lesions, zh: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (const e of lesions.epidural) {
    const dz = (zh - e.z) / (e.halfHeight * 1.4);
    if (Math.abs(dz) < 1) {
      out.push([e.theta, e.halfAngle * 1.6, Math.min(0.9, (e.thickness / 10) * (1 - dz * dz))]);
    }
  }
  for (const d of lesions.subdural) {
    const fz = zProfile(zh, d.z, d.halfHeight * 1.3);
    if (fz > 0) out.push([d.theta, d.halfAngle * 1.2, Math.min(0.9, (d.thickness / 8) * fz)]);
  }
  for (const ip of lesions.intraparenchymal) {
    const r = Math.max(ip.ru, ip.rv);
    const fz = zProfile(zh, ip.z, ip.rz * 1.8);
    const dist = Math.hypot(ip.u, ip.v);
    if (r > 8 && fz > 0 && dist > 1) {
      out.push([
        Math.atan2(ip.v, ip.u),
        Math.min(1.2, (2.2 * r) / dist),
        Math.min(0.8, (r / 20) * fz),
      ]);
    }
  }
  return out;
}

/**
 * Per-angle thickness and HU of epidural and subdural blood on the slice at height zh: the base
 * pass lays them between the inner table and the brain.
 */
export function extraAxialTables(
  lesions: Lesions,
  zh: number,
  cosB: Float32Array,
  edh: Float32Array,
  edhHu: Float32Array,
  sdh: Float32Array,
  sdhHu: Float32Array,
): void {
  for (const e of lesions.epidural) {
    const [lo, hi] = plateLimits(e.theta);
    for (let k = 0; k < NB; k++) {
      const rel = wrapAngle(binAngle(k) - e.theta);
      // Not across a suture: the lens is cut off bluntly there.
      if (rel <= lo || rel >= hi) continue;
      const dt = rel / e.halfAngle;
      const dz = (zh - e.z) / e.halfHeight;
      const q = 1 - dt * dt - dz * dz;
      if (q > 0) {
        const t = e.thickness * Math.sqrt(q);
        if (t > (edh[k] ?? 0)) {
          edh[k] = t;
          edhHu[k] = e.hu;
        }
      }
    }
  }
  for (const d of lesions.subdural) {
    const fz = zProfile(zh, d.z, d.halfHeight);
    if (fz <= 0) continue;
    for (let k = 0; k < NB; k++) {
      const dt = wrapAngle(binAngle(k) - d.theta) / d.halfAngle;
      if (dt >= 1 || dt <= -1) continue;
      // Never across the midline: taper to zero where the hemisphere ends (u = 0).
      const side = d.side * (cosB[k] ?? 0);
      if (side <= 0) continue;
      const t = d.thickness * (1 - dt * dt) * fz * Math.min(1, side / 0.15);
      if (t > (sdh[k] ?? 0)) {
        sdh[k] = t;
        sdhHu[k] = d.hu;
      }
    }
  }
}

export function paintLesions(f: LesionFrame, p: Patient, img: SliceImage, rect: Rect): void {
  const { lesions } = p;
  const { hu, cls, mask } = img;
  const zh = f.zh;
  const an = p.anatomy;
  for (const ip of lesions.intraparenchymal) {
    const grow = (1 + ip.oedema) * (1 + ip.irregular);
    const dz = (zh - ip.z) / ip.rz;
    if (Math.abs(dz) >= grow) continue;
    const ru = ip.ru * grow;
    const rv = ip.rv * grow;
    const o2 = (1 + ip.oedema) ** 2;
    f.each(rect, ip.u - ru, ip.u + ru, ip.v - rv, ip.v + rv, (i, u, v) => {
      const c = cls[i]!;
      if (!BRAIN[c] && c !== T.blood) return;
      const a = (u - ip.u) / ip.ru;
      const b = (v - ip.v) / ip.rv;
      const q =
        (a * a + b * b + dz * dz) *
        (1 +
          ip.irregular *
            Math.sin(ip.f1 * (u - ip.u) + ip.p1) *
            Math.sin(ip.f2 * (v - ip.v) + ip.p2));
      if (q < 1) {
        cls[i] = T.blood;
        // Clotted blood is not uniform: ±5 HU of texture, denser at the core (retraction).
        hu[i] = ip.hu + 5 * clotTexture(u, v, zh, ip.p1) + 4 * (1 - q);
        mask[i] = mask[i]! | (1 << INTRAPARENCHYMAL);
      } else if (q < o2 && c !== T.blood && c !== T.csf && c !== T.sulcus && c !== T.fissure) {
        cls[i] = T.oedema;
        // Oedema fades into the brain: 9 HU below white matter at the clot, 0 at its edge.
        hu[i] = an.hu.white - 9 * (1 - (q - 1) / (o2 - 1));
      }
    });
  }
  for (const iv of lesions.intraventricular) {
    if (zh < iv.z0 || zh > iv.z1) continue;
    const m = f.mid(0);
    f.each(rect, -40, 40, -40, 45, (i, u, v) => {
      if (cls[i] !== T.ventricle) return;
      const left = u > m;
      if ((left && !iv.left) || (!left && !iv.right) || v < iv.level) return;
      cls[i] = T.blood;
      // Layered blood is densest at the bottom (cells settle; the haematocrit effect).
      const settle = Number.isFinite(iv.level) ? Math.min(6, (v - iv.level) * 0.8) - 3 : 0;
      hu[i] = iv.hu + settle + 3 * clotTexture(u, v, zh, iv.z0);
      mask[i] = mask[i]! | (1 << INTRAVENTRICULAR);
    });
  }
  for (const sa of lesions.subarachnoid) {
    const dz = (zh - sa.z) / sa.halfHeight;
    if (Math.abs(dz) >= 1) continue;
    const rr = sa.radius * Math.sqrt(1 - dz * dz);
    f.each(rect, sa.u - rr, sa.u + rr, sa.v - rr, sa.v + rr, (i, u, v) => {
      if (!SUBARACH[cls[i]!]) return;
      if ((u - sa.u) ** 2 + (v - sa.v) ** 2 >= rr * rr) return;
      cls[i] = T.blood;
      hu[i] = sa.hu + 4 * clotTexture(u, v, zh, sa.u);
      mask[i] = mask[i]! | (1 << SUBARACHNOID);
    });
  }
  for (const sd of lesions.subdural) {
    const fx = sd.falx;
    if (!fx) continue;
    const fz = zProfile(zh, sd.z, sd.halfHeight);
    if (fz <= 0.2 || zh < -10) continue;
    const w = fx.width * fz;
    f.each(rect, -w - 12, w + 12, fx.v0, fx.v1, (i, u, v) => {
      const c = cls[i]!;
      if (!BRAIN[c] && c !== T.falx) return;
      const d = (u - f.mid(v)) * sd.side;
      if (d > 0.45 && d < 0.45 + w) {
        cls[i] = T.blood;
        hu[i] = sd.hu + 5 * clotTexture(u, v, zh, sd.theta);
        mask[i] = mask[i]! | (1 << SUBDURAL);
      }
    });
  }
}

/** Pixel rectangle that holds every lesion of the prepared slice, or undefined when none can show. */
export function lesionRect(f: LesionFrame, lesions: Lesions): Rect | undefined {
  const zh = f.zh;
  const full = f.fullRect();
  const rects: Rect[] = [];
  const add = (r: Rect | undefined): void => {
    if (r) rects.push(r);
  };
  const sector = (center: number, half: number, depth: number): void => {
    let u0 = Infinity;
    let u1 = -Infinity;
    let v0 = Infinity;
    let v1 = -Infinity;
    for (let t = -1; t <= 1.0001; t += 0.05) {
      const th = center + t * half;
      const ro = f.innerRadius(th) + 1;
      const ri = Math.max(0, ro - depth - 3);
      for (const rr of [ro, ri]) {
        const u = Math.cos(th) * rr;
        const v = Math.sin(th) * rr;
        u0 = Math.min(u0, u);
        u1 = Math.max(u1, u);
        v0 = Math.min(v0, v);
        v1 = Math.max(v1, v);
      }
    }
    add(f.boxRect(u0, u1, v0, v1, full));
  };
  for (const e of lesions.epidural) {
    if (Math.abs(zh - e.z) < e.halfHeight) sector(e.theta, e.halfAngle, e.thickness);
  }
  for (const d of lesions.subdural) {
    if (Math.abs(zh - d.z) < d.halfHeight) {
      sector(d.theta, d.halfAngle, d.thickness + 12);
      if (d.falx) add(f.boxRect(-20, 20, d.falx.v0, d.falx.v1, full));
    }
  }
  for (const ip of lesions.intraparenchymal) {
    const g = (1 + ip.oedema) * (1 + ip.irregular);
    if (Math.abs(zh - ip.z) < ip.rz * g) {
      add(f.boxRect(ip.u - ip.ru * g, ip.u + ip.ru * g, ip.v - ip.rv * g, ip.v + ip.rv * g, full));
    }
  }
  for (const iv of lesions.intraventricular) {
    if (zh >= iv.z0 && zh <= iv.z1) add(f.boxRect(-40, 40, -40, 45, full));
  }
  for (const sa of lesions.subarachnoid) {
    if (Math.abs(zh - sa.z) < sa.halfHeight) {
      add(f.boxRect(sa.u - sa.radius, sa.u + sa.radius, sa.v - sa.radius, sa.v + sa.radius, full));
    }
  }
  if (rects.length === 0) return undefined;
  const out = { ...rects[0]! };
  for (const r of rects) {
    out.r0 = Math.min(out.r0, r.r0);
    out.r1 = Math.max(out.r1, r.r1);
    out.c0 = Math.min(out.c0, r.c0);
    out.c1 = Math.max(out.c1, r.c1);
  }
  return out;
}
