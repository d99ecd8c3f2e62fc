/**
 * The options of `ichdet synth`, validated once when built: every bad value raises a ConfigError
 * naming the CLI option, the value received and what was expected.
 */
import { ConfigError } from '../errors.js';
import { SUBTYPES } from './subtypes.js';

export type Difficulty = 'easy' | 'realistic' | 'hard';
export const DIFFICULTIES: readonly Difficulty[] = ['easy', 'realistic', 'hard'];

/** Target per-image positive rate of each subtype and of `any`, each in [0, 1]. */
export interface PrevalenceRates {
  epidural: number;
  intraparenchymal: number;
  intraventricular: number;
  subarachnoid: number;
  subdural: number;
  any: number;
}

/** MISSION.md's per-image positive rates of the RSNA 2019 training set. */
export const RSNA_RATES: PrevalenceRates = {
  epidural: 0.0041,
  intraparenchymal: 0.048,
  intraventricular: 0.035,
  subarachnoid: 0.048,
  subdural: 0.063,
  any: 0.144,
};

/** Every subtype equally common (10% of images each), 35% of images positive. */
export const BALANCED_RATES: PrevalenceRates = {
  epidural: 0.1,
  intraparenchymal: 0.1,
  intraventricular: 0.1,
  subarachnoid: 0.1,
  subdural: 0.1,
  any: 0.35,
};

/** Options as a caller gives them; everything but `out` has a default. */
export interface SynthOptionsInput {
  /** Output folder (created; must be empty or absent unless `overwrite`). */
  out: string;
  /** Number of patients (one study, one axial series each). Default 20. */
  patients?: number | string;
  /** Seed of every random choice. Default 0. */
  seed?: number | string;
  /** Nominal matrix size; a few patients get other sizes. Default 512. */
  size?: number | string;
  /** Slices per series `MIN:MAX` (or one number). Default `24:36`. */
  slicesPerSeries?: string | [number, number];
  /** `rsna`, `balanced`, or a JSON object of per-subtype rates (and optionally `any`). Default `rsna`. */
  prevalence?: string | PrevalenceRates;
  /** Default `realistic`. */
  difficulty?: Difficulty | string;
  /** Number of images whose CSV rows are repeated, as in the real CSV. Default 0. */
  duplicates?: number | string;
  /** Number of broken files to add (truncated pixel data, non-DICOM, empty, in turn). Default 0. */
  faults?: number | string | boolean;
  /** Path of a PNG montage of example slices, or undefined for none. */
  preview?: string;
  /** Worker threads; default os.availableParallelism(). */
  workers?: number | string;
  /** Show a progress bar (on a TTY). Default true. */
  progress?: boolean;
  /** Allow writing into a non-empty folder. Default false. */
  overwrite?: boolean;
}

/** Validated options; this object is saved as `<out>/synth-config.json`. */
export interface SynthOptions {
  out: string;
  patients: number;
  seed: number;
  size: number;
  slicesPerSeries: [number, number];
  prevalence: PrevalenceRates;
  /** `rsna`, `balanced` or `custom`, as given. */
  prevalenceName: string;
  difficulty: Difficulty;
  duplicates: number;
  faults: number;
  preview: string | undefined;
  workers: number | undefined;
  progress: boolean;
  overwrite: boolean;
}

export const SYNTH_DEFAULTS = {
  patients: 20,
  seed: 0,
  size: 512,
  slicesPerSeries: [24, 36] as [number, number],
  prevalence: 'rsna',
  difficulty: 'realistic' as Difficulty,
  duplicates: 0,
  faults: 0,
  /** What a bare `--faults` flag means: one file of each kind. */
  faultsFlag: 3,
} as const;

function show(value: unknown): string {
  return typeof value === 'string' ? `"${value}"` : (JSON.stringify(value) ?? String(value));
}

function integer(option: string, value: unknown, min: number, max: number): number {
  const n = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `≥ ${min}` : `in [${min}, ${max}]`;
    const what = min === 1 ? 'a positive integer' : `an integer ${range}`;
    throw new ConfigError(`${option} must be ${what}, received ${show(value)}`);
  }
  return n;
}

function parseSlices(value: string | [number, number]): [number, number] {
  const parts = Array.isArray(value) ? value.map(String) : String(value).split(':');
  const expected = 'MIN:MAX with integers 4 ≤ MIN ≤ MAX ≤ 200';
  if (parts.length < 1 || parts.length > 2) {
    throw new ConfigError(`--slices-per-series must be ${expected}, received ${show(value)}`);
  }
  const nums = parts.map((p) => (p.trim() === '' ? Number.NaN : Number(p)));
  const lo = nums[0] ?? Number.NaN;
  const hi = nums[1] ?? lo;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 4 || hi < lo || hi > 200) {
    throw new ConfigError(`--slices-per-series must be ${expected}, received ${show(value)}`);
  }
  return [lo, hi];
}

/** Parses `rsna`, `balanced` or a JSON object of rates; `any` defaults to a typical overlap. */
export function parsePrevalence(value: string | PrevalenceRates): {
  rates: PrevalenceRates;
  name: string;
} {
  if (value === 'rsna') return { rates: { ...RSNA_RATES }, name: 'rsna' };
  if (value === 'balanced') return { rates: { ...BALANCED_RATES }, name: 'balanced' };
  let obj: unknown = value;
  const expected =
    'rsna, balanced, or a JSON object of rates in [0, 1] for ' + [...SUBTYPES, 'any'].join(', ');
  if (typeof value === 'string') {
    try {
      obj = JSON.parse(value);
    } catch {
      throw new ConfigError(`--prevalence must be ${expected}, received ${show(value)}`);
    }
  }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new ConfigError(`--prevalence must be ${expected}, received ${show(value)}`);
  }
  const rec = obj as Record<string, unknown>;
  for (const key of Object.keys(rec)) {
    if (![...SUBTYPES, 'any'].includes(key)) {
      throw new ConfigError(`--prevalence has an unknown key ${show(key)}; expected ${expected}`);
    }
  }
  const rate = (key: string): number => {
    const v = rec[key] ?? 0;
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new ConfigError(`--prevalence ${key} must be a rate in [0, 1], received ${show(v)}`);
    }
    return v;
  };
  const r = {
    epidural: rate('epidural'),
    intraparenchymal: rate('intraparenchymal'),
    intraventricular: rate('intraventricular'),
    subarachnoid: rate('subarachnoid'),
    subdural: rate('subdural'),
    any: 0,
  };
  const maxSub = Math.max(
    r.epidural,
    r.intraparenchymal,
    r.intraventricular,
    r.subarachnoid,
    r.subdural,
  );
  const sum = r.epidural + r.intraparenchymal + r.intraventricular + r.subarachnoid + r.subdural;
  // RSNA: any / sum of subtypes = 0.144 / 0.198 ≈ 0.73, the overlap used when `any` is not given.
  r.any = rec.any === undefined ? Math.min(1, Math.max(maxSub, 0.73 * sum)) : rate('any');
  if (r.any < maxSub - 1e-12 || r.any > sum + 1e-12) {
    throw new ConfigError(
      `--prevalence any must lie between the largest subtype rate (${maxSub}) and their sum ` +
        `(${sum}), received ${r.any}`,
    );
  }
  return { rates: r, name: 'custom' };
}

/** Validates every option and fills in the defaults. @throws ConfigError */
export function resolveSynthOptions(input: SynthOptionsInput): SynthOptions {
  if (typeof input.out !== 'string' || input.out.trim() === '') {
    throw new ConfigError(`--out must be a folder path, received ${show(input.out)}`);
  }
  const patients = integer('--patients', input.patients ?? SYNTH_DEFAULTS.patients, 1, 1_000_000);
  const seed = integer('--seed', input.seed ?? SYNTH_DEFAULTS.seed, 0, Number.MAX_SAFE_INTEGER);
  const size = integer('--size', input.size ?? SYNTH_DEFAULTS.size, 64, 2048);
  const slicesPerSeries = parseSlices(input.slicesPerSeries ?? SYNTH_DEFAULTS.slicesPerSeries);
  const prev = parsePrevalence(input.prevalence ?? SYNTH_DEFAULTS.prevalence);
  const difficulty = input.difficulty ?? SYNTH_DEFAULTS.difficulty;
  if (!DIFFICULTIES.includes(difficulty as Difficulty)) {
    throw new ConfigError(
      `--difficulty must be one of ${DIFFICULTIES.join(', ')}, received ${show(difficulty)}`,
    );
  }
  const duplicates = integer(
    '--duplicates',
    input.duplicates ?? SYNTH_DEFAULTS.duplicates,
    0,
    Number.MAX_SAFE_INTEGER,
  );
  const faultsIn = input.faults ?? SYNTH_DEFAULTS.faults;
  const faults =
    faultsIn === true
      ? SYNTH_DEFAULTS.faultsFlag
      : faultsIn === false
        ? 0
        : integer('--faults', faultsIn, 0, 1000);
  const workers =
    input.workers === undefined ? undefined : integer('--workers', input.workers, 1, 256);
  if (input.preview !== undefined && !/\.png$/i.test(input.preview)) {
    throw new ConfigError(`--preview must be a .png path, received ${show(input.preview)}`);
  }
  return {
    out: input.out,
    patients,
    seed,
    size,
    slicesPerSeries,
    prevalence: prev.rates,
    prevalenceName: prev.name,
    difficulty: difficulty as Difficulty,
    duplicates,
    faults,
    preview: input.preview,
    workers,
    progress: input.progress ?? true,
    overwrite: input.overwrite ?? false,
  };
}
