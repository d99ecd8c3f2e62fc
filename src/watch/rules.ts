/**
 * Which series of a study the model reads, in the spirit of MONAI Deploy's series selector: a
 * series must be CT, axial, ORIGINAL/PRIMARY, not a localizer, with a slice thickness and a
 * slice count in range and a SeriesDescription the include/exclude regexes accept. The defaults
 * fit head CT; `--rules FILE` overrides any of them (JSON, the same keys). Of the series that
 * match, the one with the most slices is read; every series left out has its reason.
 */
import { readFileSync } from 'node:fs';
import { ConfigError, InputError } from '../errors.js';

export interface SeriesRules {
  /** Accepted Modality values. */
  modalities: string[];
  /** Values ImageType (0008,0008) must all contain, when present. */
  imageTypeRequire: string[];
  /** Values that exclude a series when ImageType contains one. */
  imageTypeExclude: string[];
  /** Whether a series without ImageType is accepted. */
  allowMissingImageType: boolean;
  /** Largest angle (degrees) between the slice normal and the patient's z axis. */
  maxTiltDegrees: number;
  /** Accepted SliceThickness range in mm, inclusive (a missing thickness is accepted). */
  sliceThickness: [number, number];
  /** Accepted number of instances, inclusive. */
  slices: [number, number];
  /** SeriesDescription must match one of these (case-insensitive) when any is given. */
  includeDescription: string[];
  /** SeriesDescription must match none of these (case-insensitive). */
  excludeDescription: string[];
}

/** Defaults for non-contrast head CT. */
export const DEFAULT_RULES: SeriesRules = {
  modalities: ['CT'],
  imageTypeRequire: ['ORIGINAL', 'PRIMARY'],
  imageTypeExclude: ['LOCALIZER'],
  allowMissingImageType: true,
  maxTiltDegrees: 30,
  sliceThickness: [0.4, 10],
  slices: [8, 2000],
  includeDescription: [],
  excludeDescription: ['scout', 'localizer', 'topogram', 'surview', 'scanogram', 'dose', 'bone'],
};

/** What the selector knows of a series (from the PACS' main tags and one instance's header). */
export interface SeriesInfo {
  /** The PACS' id of the series (Orthanc's), or its UID. */
  id: string;
  seriesUid: string;
  modality: string;
  description: string;
  /** ImageType values, empty when absent. */
  imageType: string[];
  /** ImageOrientationPatient (six direction cosines), or null. */
  orientation: number[] | null;
  thickness: number | null;
  instances: number;
}

export interface Selection {
  chosen: SeriesInfo | null;
  /** Each series not chosen, and why. */
  rejected: { series: SeriesInfo; reason: string }[];
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

function isRange(v: unknown): v is [number, number] {
  return (
    Array.isArray(v) &&
    v.length === 2 &&
    v.every((x) => typeof x === 'number' && Number.isFinite(x)) &&
    (v[0] as number) <= (v[1] as number)
  );
}

/**
 * The defaults overridden by `o` (any subset of the keys).
 *
 * @throws ConfigError naming an unknown key or a bad value.
 */
export function parseRules(o: unknown, source = 'rules'): SeriesRules {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) {
    throw new ConfigError(`${source} must be a JSON object, received ${JSON.stringify(o)}`);
  }
  const r: SeriesRules = { ...DEFAULT_RULES };
  for (const [k, v] of Object.entries(o)) {
    const bad = (want: string) =>
      new ConfigError(`${source}: ${k} must be ${want}, received ${JSON.stringify(v)}`);
    switch (k) {
      case 'modalities':
      case 'imageTypeRequire':
      case 'imageTypeExclude':
      case 'includeDescription':
      case 'excludeDescription':
        if (!isStringArray(v)) throw bad('an array of strings');
        if (k === 'includeDescription' || k === 'excludeDescription') {
          for (const re of v) {
            try {
              new RegExp(re, 'i');
            } catch {
              throw bad('an array of regular expressions');
            }
          }
        }
        r[k] = v;
        break;
      case 'allowMissingImageType':
        if (typeof v !== 'boolean') throw bad('true or false');
        r[k] = v;
        break;
      case 'maxTiltDegrees':
        if (typeof v !== 'number' || !(v >= 0 && v <= 90)) throw bad('a number in [0, 90]');
        r[k] = v;
        break;
      case 'sliceThickness':
      case 'slices':
        if (!isRange(v)) throw bad('[min, max] with min ≤ max');
        r[k] = v;
        break;
      default:
        throw new ConfigError(
          `${source}: unknown key ${JSON.stringify(k)} (known: ${Object.keys(DEFAULT_RULES).join(', ')})`,
        );
    }
  }
  return r;
}

/** Reads `--rules FILE`. @throws InputError for an unreadable file, ConfigError for bad rules. */
export function readRules(file: string): SeriesRules {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new InputError(`cannot read --rules ${file}: ${(err as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`--rules ${file} is not JSON: ${(err as Error).message}`);
  }
  return parseRules(json, `--rules ${file}`);
}

/**
 * Angle in degrees between the slice normal (row × column direction cosines, PS3.3 §C.7.6.2.1.1)
 * and the patient's z axis; null when the orientation is not six finite numbers.
 */
export function tiltDegrees(o: readonly number[] | null): number | null {
  if (o === null || o.length !== 6 || !o.every(Number.isFinite)) return null;
  const [a, b, c, d, e, f] = o as [number, number, number, number, number, number];
  const n = [b * f - c * e, c * d - a * f, a * e - b * d];
  const len = Math.hypot(n[0]!, n[1]!, n[2]!);
  if (len === 0) return null;
  return (Math.acos(Math.min(1, Math.abs(n[2]!) / len)) * 180) / Math.PI;
}

/** Why a series does not match, or null when it does. */
export function seriesMismatch(s: SeriesInfo, r: SeriesRules): string | null {
  if (!r.modalities.includes(s.modality)) {
    return `Modality ${s.modality || '(none)'} is not ${r.modalities.join(' or ')}`;
  }
  const types = s.imageType.map((t) => t.trim().toUpperCase());
  if (types.length === 0) {
    if (!r.allowMissingImageType) return 'no ImageType';
  } else {
    const excluded = r.imageTypeExclude.find((t) => types.includes(t.toUpperCase()));
    if (excluded !== undefined) return `ImageType ${types.join('\\')} contains ${excluded}`;
    const missing = r.imageTypeRequire.find((t) => !types.includes(t.toUpperCase()));
    if (missing !== undefined) return `ImageType ${types.join('\\')} lacks ${missing}`;
  }
  const bad = r.excludeDescription.find((re) => new RegExp(re, 'i').test(s.description));
  if (bad !== undefined) return `SeriesDescription "${s.description}" matches /${bad}/i`;
  if (
    r.includeDescription.length > 0 &&
    !r.includeDescription.some((re) => new RegExp(re, 'i').test(s.description))
  ) {
    return `SeriesDescription "${s.description}" matches none of ${r.includeDescription.map((x) => `/${x}/i`).join(', ')}`;
  }
  const tilt = tiltDegrees(s.orientation);
  if (tilt === null) return 'no usable ImageOrientationPatient';
  if (tilt > r.maxTiltDegrees) {
    return `not axial: slice normal ${tilt.toFixed(1)}° from z (at most ${r.maxTiltDegrees}°)`;
  }
  const [tmin, tmax] = r.sliceThickness;
  if (s.thickness !== null && (s.thickness < tmin || s.thickness > tmax)) {
    return `SliceThickness ${s.thickness} mm outside [${tmin}, ${tmax}]`;
  }
  const [nmin, nmax] = r.slices;
  if (s.instances < nmin || s.instances > nmax) {
    return `${s.instances} slices, outside [${nmin}, ${nmax}]`;
  }
  return null;
}

/** The series to read: of those matching, the most slices (then the smallest UID). */
export function selectSeries(series: readonly SeriesInfo[], r: SeriesRules): Selection {
  const rejected: Selection['rejected'] = [];
  const ok: SeriesInfo[] = [];
  for (const s of series) {
    const why = seriesMismatch(s, r);
    if (why === null) ok.push(s);
    else rejected.push({ series: s, reason: why });
  }
  ok.sort((a, b) => b.instances - a.instances || (a.seriesUid < b.seriesUid ? -1 : 1));
  const [chosen, ...others] = ok;
  for (const s of others) {
    rejected.push({ series: s, reason: `another series matches with more slices` });
  }
  return { chosen: chosen ?? null, rejected };
}

/** The reason a study has no series to read: each series and why it was left out. */
export function noMatchReason(sel: Selection): string {
  if (sel.rejected.length === 0) return 'no series matches the rules: the study has no series';
  return `no series matches the rules: ${sel.rejected
    .map((x) => `${x.series.seriesUid} (${x.series.description || 'no description'}): ${x.reason}`)
    .join('; ')}`;
}
