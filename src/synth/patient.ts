/**
 * One synthetic patient: head anatomy, scanner and file attributes, the slice positions of its
 * axial series, and its haemorrhages as 3-D objects. Everything is drawn from generators seeded by
 * (seed, patient index) only, so a patient is the same whatever else is generated around it.
 *
 * Head frame, in mm: u points to the patient's left (image right), v posterior (image down),
 * zh up from the head centre (the level of the third ventricle). The head sits at (hx, hy) in
 * patient coordinates, rotated in-plane by phi. The skull is an ellipsoid with angular harmonics;
 * everything inside it is laid out by depth below the inner table, so extra-axial lesions follow
 * the skull.
 */
import { Rng } from '../util/rng.js';
import type { Difficulty } from './options.js';
import {
  EPIDURAL,
  INTRAPARENCHYMAL,
  INTRAVENTRICULAR,
  SUBARACHNOID,
  SUBDURAL,
} from './subtypes.js';

/** Tissue values in HU, drawn per patient inside MISSION.md's ranges. */
export interface TissueHu {
  air: number;
  skin: number;
  fat: number;
  muscle: number;
  cortical: number;
  diploe: number;
  csf: number;
  grey: number;
  white: number;
  deepGrey: number;
  falx: number;
  venous: number;
  calc: number;
  pineal: number;
  table: number;
}

export interface Sulcus {
  theta: number;
  drift: number;
  depth: number;
  lambda: number;
  psi: number;
  /** Sideways bend (mm at 10 mm depth, signed) as the sulcus runs in, and its width factor. */
  bend: number;
  width: number;
}

export interface Anatomy {
  hx: number;
  hy: number;
  phi: number;
  /** Outer scalp semi-axes at the widest level (mm). */
  a: number;
  b: number;
  /** Harmonic shape perturbation: [k, amplitude, phase]. */
  harmonics: [number, number, number][];
  /** Height of the vertex above the head centre, and the lower ellipsoid's semi-axis. */
  top: number;
  bottomAxis: number;
  skin: number;
  fat: number;
  scalp: number;
  temporalis: number;
  skull: number;
  outerTable: number;
  innerTable: number;
  /** 0 (young) … 1 (old): atrophy widens the sulci and the CSF layer and enlarges the ventricles. */
  age: number;
  csfLayer: number;
  sulcusWidth: number;
  greyThickness: number;
  ventricleJitter: number;
  ventricleScale: number;
  sulci: Sulcus[];
  curvature: [number, number, number][];
  hu: TissueHu;
  /** Image noise σ in brain, HU. */
  noise: number;
  pineal: { radius: number } | undefined;
  choroid: { radius: number; left: boolean; right: boolean } | undefined;
  falxCalc: { v0: number; v1: number; width: number } | undefined;
  /** Superior sagittal and transverse sinus thickness (mm); dense ones are a mimic. */
  sinus: { radius: number };
  streaks: { amp: number; angles: number[]; bar: number };
  /** Skull base: orbit level (zh) and divergence, globe radius, lens HU, petrous level, folia. */
  skullBase: {
    orbitZ: number;
    orbitAngle: number;
    globe: number;
    lensHu: number;
    petrousZ: number;
    septum: number;
    folia: number;
  };
}

export interface ScannerProfile {
  rows: number;
  cols: number;
  spacing: number;
  intercept: number;
  slope: number;
  bitsStored: 12 | 16;
  pixelRepresentation: 0 | 1;
  windowCenter: number | number[];
  windowWidth: number | number[];
  /** HU written outside the reconstruction circle, or undefined for none. */
  padding: number | undefined;
  /** True for the RSNA 12-bit quirk: stored values written for intercept −1000 with a wrap. */
  quirk: boolean;
  /** Top-left pixel position and the slice z values in patient coordinates. */
  x0: number;
  y0: number;
  z: number[];
  /** zh (head frame) of each slice, same order as `z` (ascending). */
  zh: number[];
  thickness: number;
  /** σ of the in-plane point-spread function (Gaussian), mm. */
  psf: number;
}

export interface Epidural {
  theta: number;
  halfAngle: number;
  z: number;
  halfHeight: number;
  thickness: number;
  hu: number;
}
export interface Subdural {
  side: 1 | -1;
  theta: number;
  halfAngle: number;
  z: number;
  halfHeight: number;
  thickness: number;
  hu: number;
  /** Blood along the falx on the same side, or undefined. */
  falx: { v0: number; v1: number; width: number } | undefined;
}
export interface Intraparenchymal {
  u: number;
  v: number;
  z: number;
  ru: number;
  rv: number;
  rz: number;
  irregular: number;
  f1: number;
  f2: number;
  p1: number;
  p2: number;
  oedema: number;
  hu: number;
}
export interface Intraventricular {
  left: boolean;
  right: boolean;
  z0: number;
  z1: number;
  /** Blood posterior of this v (layering in the occipital horns); -Infinity fills the ventricle. */
  level: number;
  hu: number;
}
export interface Subarachnoid {
  u: number;
  v: number;
  z: number;
  radius: number;
  halfHeight: number;
  hu: number;
}

export interface Lesions {
  epidural: Epidural[];
  subdural: Subdural[];
  intraparenchymal: Intraparenchymal[];
  intraventricular: Intraventricular[];
  subarachnoid: Subarachnoid[];
  /** Midline shift in mm toward +u (signed), from mass effect. */
  shift: number;
}

export interface Patient {
  index: number;
  anatomy: Anatomy;
  scanner: ScannerProfile;
  lesions: Lesions;
}

/** Difficulty-dependent knobs. */
export interface DifficultyKnobs {
  noise: [number, number];
  blood: [number, number];
  size: number;
  mimic: number;
}

export const KNOBS: Record<Difficulty, DifficultyKnobs> = {
  easy: { noise: [1.8, 2.6], blood: [70, 88], size: 1.35, mimic: 0.5 },
  realistic: { noise: [1.9, 3], blood: [56, 84], size: 1, mimic: 1 },
  hard: { noise: [3.4, 5], blood: [50, 64], size: 0.75, mimic: 1.6 },
};

/** Range of the PSF σ (mm): a standard soft-tissue kernel, ~1.3 mm FWHM. */
export const PSF_MM: [number, number] = [0.55, 0.8];

/** Random streams of a patient, one per purpose so that lesions never change the anatomy. */
export const STREAM = { anatomy: 0, series: 1, plan: 2, lesions: 3, noise: 4 } as const;

const DEG = Math.PI / 180;

export function sampleAnatomy(rng: Rng, difficulty: Difficulty): Anatomy {
  const k = KNOBS[difficulty];
  const scale = rng.uniform(0.9, 1.08);
  const harmonics: [number, number, number][] = [
    [2, rng.uniform(-0.03, 0.03), rng.uniform(0, 2 * Math.PI)],
    [3, rng.uniform(-0.02, 0.02), rng.uniform(0, 2 * Math.PI)],
    [4, rng.uniform(-0.015, 0.015), rng.uniform(0, 2 * Math.PI)],
    // Occiput fuller than forehead: the cos(θ − π/2) term lengthens the posterior (v > 0) side.
    [1, rng.uniform(0.01, 0.04), Math.PI / 2],
  ];
  const age = rng.next();
  const sulci: Sulcus[] = [];
  const nSulci = rng.int(56, 72);
  for (let i = 0; i < nSulci; i++) {
    sulci.push({
      theta: ((i + rng.uniform(-0.35, 0.35)) / nSulci) * 2 * Math.PI - Math.PI,
      drift: rng.uniform(-0.006, 0.006),
      depth: rng.uniform(6, 18),
      lambda: rng.uniform(6, 14),
      psi: rng.uniform(0, 2 * Math.PI),
      bend: 0,
      width: 1,
    });
  }
  const mimic = (p: number): boolean => rng.chance(Math.min(0.95, p * k.mimic));
  const anatomy: Anatomy = {
    hx: rng.uniform(-10, 10),
    hy: rng.uniform(-14, 8),
    phi: rng.uniform(-9, 9) * DEG,
    a: 72 * scale * rng.uniform(0.95, 1.05),
    b: 93 * scale * rng.uniform(0.96, 1.04),
    harmonics,
    top: rng.uniform(82, 96) * scale,
    bottomAxis: rng.uniform(125, 150),
    skin: rng.uniform(1.2, 1.8),
    fat: rng.uniform(1.4, 2.6),
    scalp: rng.uniform(4.5, 6.5),
    temporalis: rng.uniform(4, 8),
    skull: rng.uniform(5.5, 8),
    outerTable: rng.uniform(1.5, 2),
    innerTable: rng.uniform(1.4, 1.8),
    age,
    csfLayer: 0,
    sulcusWidth: 0,
    greyThickness: rng.uniform(2.6, 3.2),
    ventricleJitter: rng.uniform(-0.05, 0.1),
    ventricleScale: 0,
    sulci,
    curvature: [
      [rng.int(3, 6), rng.uniform(0.6, 1.6), rng.uniform(0, 2 * Math.PI)],
      [rng.int(9, 15), rng.uniform(0.6, 1.6), rng.uniform(0, 2 * Math.PI)],
    ],
    hu: {
      air: -1000,
      skin: rng.uniform(48, 58),
      fat: rng.uniform(-95, -65),
      muscle: rng.uniform(45, 55),
      cortical: rng.uniform(1150, 1650),
      diploe: rng.uniform(420, 680),
      csf: rng.uniform(5, 10),
      grey: rng.uniform(36, 40),
      white: rng.uniform(25, 28.5),
      deepGrey: rng.uniform(37, 41),
      falx: rng.uniform(62, 85),
      venous: rng.uniform(50, 62) + (mimic(0.35) ? rng.uniform(8, 16) : 0),
      calc: rng.uniform(150, 350),
      pineal: rng.uniform(160, 380),
      table: rng.uniform(120, 220),
    },
    noise: rng.uniform(k.noise[0], k.noise[1]),
    pineal: mimic(0.45) ? { radius: rng.uniform(1.8, 3.5) } : undefined,
    choroid: mimic(0.5)
      ? { radius: rng.uniform(1.6, 3.2), left: rng.chance(0.85), right: rng.chance(0.85) }
      : undefined,
    falxCalc: mimic(0.25)
      ? (() => {
          const v0 = rng.uniform(-60, 20);
          return { v0, v1: v0 + rng.uniform(10, 35), width: rng.uniform(1.2, 2.4) };
        })()
      : undefined,
    sinus: { radius: rng.uniform(3, 4.5) },
    streaks: {
      amp: rng.uniform(12, 30) * (0.6 + 0.4 * k.mimic),
      angles: Array.from({ length: rng.int(2, 5) }, () => rng.uniform(0, Math.PI)),
      bar: rng.uniform(10, 25),
    },
    skullBase: { orbitZ: 0, orbitAngle: 0, globe: 0, lensHu: 0, petrousZ: 0, septum: 0, folia: 0 },
  };
  // Drawn after everything above, so the older anatomy stays what it was for a seed.
  anatomy.skullBase = {
    orbitZ: rng.uniform(-38, -32),
    orbitAngle: rng.uniform(0.36, 0.44),
    globe: rng.uniform(11, 12.3),
    lensHu: rng.uniform(95, 125),
    petrousZ: rng.uniform(-34, -28),
    septum: rng.uniform(-3, 3),
    folia: rng.uniform(1.7, 2.2),
  };
  for (const su of sulci) {
    su.bend = rng.uniform(-3.5, 3.5);
    su.width = rng.uniform(0.6, 1.5);
  }
  return withAge(anatomy, age);
}

/**
 * The anatomy at another age (0 young … 1 old), everything else kept: atrophy widens the sulci,
 * the interhemispheric fissure and the CSF under the inner table, and enlarges the ventricles.
 */
export function withAge(anatomy: Anatomy, age: number): Anatomy {
  return {
    ...anatomy,
    age,
    csfLayer: 0.8 + 1.8 * age,
    sulcusWidth: 0.5 + 1.1 * age,
    ventricleScale: 0.75 + 0.9 * age * age + anatomy.ventricleJitter,
  };
}

/** Scanner/file profiles with RSNA's variety; weights roughly as in RSNA. */
function sampleProfile(
  rng: Rng,
): Pick<
  ScannerProfile,
  'intercept' | 'slope' | 'bitsStored' | 'pixelRepresentation' | 'padding' | 'quirk'
> {
  switch (rng.weighted([40, 22, 14, 12, 8, 4])) {
    case 0:
      return sig(-1024, rng.chance(0.4) ? -2000 : undefined);
    case 1:
      return {
        intercept: -1024,
        slope: 1,
        bitsStored: 12,
        pixelRepresentation: 0,
        padding: undefined,
        quirk: false,
      };
    case 2:
      return {
        intercept: -1024,
        slope: 1,
        bitsStored: 16,
        pixelRepresentation: 0,
        padding: undefined,
        quirk: false,
      };
    case 3:
      // The RSNA quirk: 12-bit unsigned with intercept 0 (> −100) and wrapped stored values.
      return {
        intercept: 0,
        slope: 1,
        bitsStored: 12,
        pixelRepresentation: 0,
        padding: undefined,
        quirk: true,
      };
    case 4:
      return {
        intercept: -1000,
        slope: 1,
        bitsStored: 16,
        pixelRepresentation: 0,
        padding: undefined,
        quirk: false,
      };
    default:
      return sig(1, undefined);
  }
}

function sig(intercept: number, padding: number | undefined): ReturnType<typeof sampleProfile> {
  return { intercept, slope: 1, bitsStored: 16, pixelRepresentation: 1, padding, quirk: false };
}

export function sampleScanner(
  rng: Rng,
  anatomy: Anatomy,
  size: number,
  slices: [number, number],
): ScannerProfile {
  let rows = size;
  let cols = size;
  // A few series are not size × size, as a few hundred RSNA slices are not 512 × 512.
  const odd = rng.next();
  if (odd < 0.015) rows = cols = Math.round(size * 1.25);
  else if (odd < 0.03) rows = cols = Math.round(size * 0.75);
  else if (odd < 0.04) cols = Math.round(size * 1.2);
  // Spacing 0.4–0.5 mm at 512 (field of view 205–256 mm), large enough for the head.
  const needed = (2 * Math.max(anatomy.a, anatomy.b) + 24) / Math.min(rows, cols);
  const spacing = Math.round(Math.max(needed, rng.uniform(0.4, 0.5) * (512 / size)) * 1e4) / 1e4;
  const prof = sampleProfile(rng);
  const wc = rng.weighted([50, 20, 15, 15]);
  const windowCenter: number | number[] =
    wc === 0 ? 40 : wc === 1 ? 35 : wc === 2 ? [40, 40] : [36, 600];
  const windowWidth: number | number[] =
    wc === 0 ? 80 : wc === 1 ? 100 : wc === 2 ? [80, 150] : [80, 2800];
  const n = rng.int(slices[0], slices[1]);
  const nominal = rng.weighted([80, 10, 10]) === 0 ? 5 : rng.chance(0.5) ? 4.5 : 5.5;
  // Long series get thinner spacing (down to 4 mm) so they cover the head, not the neck.
  const fit = Math.floor(((anatomy.top + 62) / Math.max(1, n - 1)) * 10) / 10;
  const thickness = Math.min(nominal, Math.max(4, fit));
  // The series ends near the vertex and runs down through the skull base into the neck.
  const zTop = anatomy.top + rng.uniform(-14, 4);
  const zOffset = Math.round(rng.uniform(-120, 200) * 10) / 10;
  const zh: number[] = [];
  for (let i = n - 1; i >= 0; i--) zh.push(zTop - i * thickness);
  const x0 = -((cols - 1) / 2) * spacing + rng.uniform(-3, 3);
  const y0 = -((rows - 1) / 2) * spacing + rng.uniform(-3, 3);
  // Drawn last, so the attributes above stay what they were before the PSF existed.
  const psf = rng.uniform(PSF_MM[0], PSF_MM[1]);
  return {
    rows,
    cols,
    spacing,
    ...prof,
    windowCenter,
    windowWidth,
    x0: Math.round(x0 * 1000) / 1000,
    y0: Math.round(y0 * 1000) / 1000,
    z: zh.map((h) => Math.round((h + zOffset) * 1000) / 1000),
    zh,
    thickness,
    psf,
  };
}

/** Prior mean of labelled slices per lesion, used by the planner before it has observed any. */
export const PRIOR_SLICES_PER_LESION = [3, 3.5, 4, 4.5, 6];

/** Brain levels a lesion of each kind can be centred on (zh, mm). */
const Z_RANGE: Record<number, [number, number]> = {
  [EPIDURAL]: [-8, 45],
  [SUBDURAL]: [-5, 50],
  [INTRAPARENCHYMAL]: [-30, 50],
  [INTRAVENTRICULAR]: [-2, 22],
  [SUBARACHNOID]: [-14, 50],
};

const clamp = (x: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, x));

/**
 * Samples the lesions of the subtypes whose bits are set in `kinds`, clustered around one
 * bleeding event (one side, one level) as multi-compartment haemorrhage usually is.
 */
export function sampleLesions(
  rng: Rng,
  kinds: number,
  anatomy: Anatomy,
  difficulty: Difficulty,
): Lesions {
  const knobs = KNOBS[difficulty];
  const m = knobs.size;
  const blood = (): number => rng.uniform(knobs.blood[0], knobs.blood[1]);
  const side: 1 | -1 = rng.chance(0.5) ? 1 : -1;
  const zEvent = rng.uniform(-5, 40);
  const near = (k: number, sd: number): number => {
    const r = Z_RANGE[k] ?? [-10, 40];
    return clamp(zEvent + rng.normal(0, sd), r[0], r[1]);
  };
  // Lateral angle of this side: θ = 0 is +u (left), θ = π is −u.
  const lateral = side > 0 ? 0 : Math.PI;
  const lesions: Lesions = {
    epidural: [],
    subdural: [],
    intraparenchymal: [],
    intraventricular: [],
    subarachnoid: [],
    shift: 0,
  };
  let volume = 0;
  if (kinds & (1 << EPIDURAL)) {
    const big = rng.chance(0.55);
    const t = big ? rng.uniform(8, 22) : rng.uniform(3, 9);
    const theta = lateral + side * rng.uniform(-0.6, 0.5);
    const half = rng.uniform(0.28, 0.55) * Math.sqrt(m);
    const z = near(EPIDURAL, 10);
    const halfHeight = rng.uniform(10, 22) * Math.sqrt(m);
    const thickness = t * m;
    // Biconvex: near its middle the brain-side surface lies at y ≈ R − T + x²(T/h² − R)/(2R²)
    // (R the inner-table radius, h the half-angle), convex toward the brain only when T > R·h².
    // With a margin: h ≤ √(T / 1.3R). A thinner, longer one would be a crescent, i.e. a subdural.
    const r = 0.85 * Math.min(anatomy.a, anatomy.b);
    const maxHalf = Math.sqrt(thickness / (1.3 * r));
    const e: Epidural = {
      theta,
      halfAngle: Math.min(half, maxHalf),
      z,
      halfHeight,
      thickness,
      hu: blood() + rng.uniform(0, 6),
    };
    lesions.epidural.push(e);
    volume += e.thickness * e.halfAngle * 70 * e.halfHeight;
  }
  if (kinds & (1 << SUBDURAL)) {
    const t = rng.chance(0.5) ? rng.uniform(6, 16) : rng.uniform(2, 6);
    const s: Subdural = {
      side,
      theta: lateral + side * rng.uniform(-0.4, 0.4),
      halfAngle: rng.uniform(0.7, 1.35),
      z: near(SUBDURAL, 10),
      halfHeight: rng.uniform(14, 34) * Math.sqrt(m),
      thickness: t * m,
      hu: blood(),
      falx: rng.chance(0.2)
        ? (() => {
            const v0 = rng.uniform(-50, 10);
            return { v0, v1: v0 + rng.uniform(20, 50), width: rng.uniform(1.5, 4) };
          })()
        : undefined,
    };
    lesions.subdural.push(s);
    volume += s.thickness * s.halfAngle * 70 * s.halfHeight;
  }
  if (kinds & (1 << INTRAPARENCHYMAL)) {
    const site = rng.weighted([35, 15, 38, 12]);
    const r = (rng.chance(0.3) ? rng.uniform(3.5, 7) : rng.uniform(7, 22)) * m;
    let u: number;
    let v: number;
    let z: number;
    if (site === 0) {
      // Basal ganglia (putamen).
      u = side * rng.uniform(16, 26);
      v = rng.uniform(-12, 6);
      z = rng.uniform(-2, 12);
    } else if (site === 1) {
      u = side * rng.uniform(7, 13);
      v = rng.uniform(3, 14);
      z = rng.uniform(-2, 10);
    } else if (site === 2) {
      // Lobar: somewhere in the hemisphere, away from the skull.
      const ang = lateral + side * rng.uniform(-1.1, 1.1);
      const rr = rng.uniform(0.3, 0.55) * anatomy.a;
      u = Math.cos(ang) * rr;
      v = Math.sin(ang) * rr * (anatomy.b / anatomy.a);
      z = near(INTRAPARENCHYMAL, 10);
      z = clamp(z, 0, 45);
    } else {
      // Cerebellar hemisphere.
      u = side * rng.uniform(12, 24);
      v = rng.uniform(30, 42);
      z = rng.uniform(-30, -22);
    }
    const radius = site === 3 ? Math.min(r, 14) : Math.min(r, site === 2 ? 24 : 18);
    const ip: Intraparenchymal = {
      u,
      v,
      z,
      ru: radius * rng.uniform(0.8, 1.2),
      rv: radius * rng.uniform(0.8, 1.3),
      rz: radius * rng.uniform(0.8, 1.2),
      irregular: rng.uniform(0.05, 0.3),
      f1: rng.uniform(0.15, 0.5),
      f2: rng.uniform(0.15, 0.5),
      p1: rng.uniform(0, 6.28),
      p2: rng.uniform(0, 6.28),
      oedema: rng.uniform(0.12, 0.4),
      hu: blood() + rng.uniform(0, 6),
    };
    lesions.intraparenchymal.push(ip);
    volume += 4.2 * ip.ru * ip.rv * ip.rz;
  }
  if (kinds & (1 << INTRAVENTRICULAR)) {
    const cast = rng.chance(0.35);
    const both = rng.chance(0.55);
    const z0 = cast ? rng.uniform(-2, 8) : rng.uniform(0, 10);
    lesions.intraventricular.push({
      left: both || side > 0,
      right: both || side < 0,
      z0,
      z1: z0 + (cast ? rng.uniform(10, 26) : rng.uniform(6, 16)) * Math.sqrt(m),
      level: cast ? Number.NEGATIVE_INFINITY : rng.uniform(14, 26),
      hu: blood() - rng.uniform(0, 4),
    });
  }
  if (kinds & (1 << SUBARACHNOID)) {
    const site = rng.weighted([45, 30, 25]);
    let u: number;
    let v: number;
    let z: number;
    if (site === 0) {
      // Convexity sulci.
      const ang = lateral + side * rng.uniform(-1.2, 1.2);
      u = Math.cos(ang) * anatomy.a * 0.8;
      v = Math.sin(ang) * anatomy.b * 0.8;
      z = clamp(near(SUBARACHNOID, 12), 5, 50);
    } else if (site === 1) {
      // Sylvian fissure.
      u = side * rng.uniform(35, 50);
      v = rng.uniform(-12, 4);
      z = rng.uniform(-10, 6);
    } else {
      // Basal cisterns.
      u = rng.uniform(-5, 5);
      v = rng.uniform(-8, 8);
      z = rng.uniform(-14, -6);
    }
    lesions.subarachnoid.push({
      u,
      v,
      z,
      radius: rng.uniform(14, 34) * Math.sqrt(m),
      halfHeight: rng.uniform(8, 22) * Math.sqrt(m),
      hu: blood() - rng.uniform(0, 6),
    });
  }
  // Mass effect: a large bleed pushes the midline away from its side, up to 10 mm.
  lesions.shift = -side * Math.min(10, Math.max(0, Math.cbrt(volume) - 12) * 0.5);
  return lesions;
}

/** Builds patient `index` with the lesion kinds of the `kinds` bitmask (bit k = subtype k). */
export function buildPatient(
  seed: number,
  index: number,
  kinds: number,
  size: number,
  slices: [number, number],
  difficulty: Difficulty,
): Patient {
  const anatomy = sampleAnatomy(new Rng(seed, index, STREAM.anatomy), difficulty);
  const scanner = sampleScanner(new Rng(seed, index, STREAM.series), anatomy, size, slices);
  const lesions = sampleLesions(new Rng(seed, index, STREAM.lesions), kinds, anatomy, difficulty);
  return { index, anatomy, scanner, lesions };
}

/** Number of slices of patient `index`, without building the rest of it. */
export function sliceCount(
  seed: number,
  index: number,
  size: number,
  slices: [number, number],
  difficulty: Difficulty,
): number {
  const anatomy = sampleAnatomy(new Rng(seed, index, STREAM.anatomy), difficulty);
  return sampleScanner(new Rng(seed, index, STREAM.series), anatomy, size, slices).z.length;
}
