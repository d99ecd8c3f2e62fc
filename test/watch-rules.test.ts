import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import {
  DEFAULT_RULES,
  noMatchReason,
  parseRules,
  readRules,
  type SeriesInfo,
  selectSeries,
  tiltDegrees,
} from '../src/watch/rules.js';
import { hashUid, resultUid } from '../src/watch/uids.js';

const axial: SeriesInfo = {
  id: 'o1',
  seriesUid: '1.2.3',
  modality: 'CT',
  description: 'HEAD WO 5mm',
  imageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
  orientation: [1, 0, 0, 0, 1, 0],
  thickness: 5,
  instances: 32,
};

describe('series rules', () => {
  it('measures the tilt of the slice normal from z: 0° axial, 90° coronal, 20° for a 20° gantry tilt', () => {
    expect(tiltDegrees([1, 0, 0, 0, 1, 0])).toBe(0);
    expect(tiltDegrees([1, 0, 0, 0, 0, -1])).toBe(90);
    const t = (20 * Math.PI) / 180;
    expect(tiltDegrees([1, 0, 0, 0, Math.cos(t), Math.sin(t)])).toBeCloseTo(20, 10);
    expect(tiltDegrees(null)).toBeNull();
    expect(tiltDegrees([1, 0, 0, 0, 0, 0])).toBeNull();
  });

  it('picks the matching series with the most slices and says why each other one was left out', () => {
    const series: SeriesInfo[] = [
      {
        ...axial,
        id: 's',
        seriesUid: '9',
        imageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'],
        instances: 2,
      },
      { ...axial, id: 'thin', seriesUid: '8', thickness: 0.3, instances: 300 },
      { ...axial, id: 'cor', seriesUid: '7', orientation: [1, 0, 0, 0, 0, -1] },
      { ...axial, id: 'bone', seriesUid: '6', description: 'HEAD BONE 1mm' },
      { ...axial, id: 'der', seriesUid: '5', imageType: ['DERIVED', 'SECONDARY'] },
      { ...axial, id: 'mr', seriesUid: '4', modality: 'MR' },
      { ...axial, id: 'few', seriesUid: '3', instances: 3 },
      { ...axial, id: 'small', seriesUid: '2', instances: 20 },
      axial,
    ];
    const sel = selectSeries(series, DEFAULT_RULES);
    expect(sel.chosen?.id).toBe('o1');
    expect(Object.fromEntries(sel.rejected.map((r) => [r.series.id, r.reason]))).toEqual({
      s: 'ImageType ORIGINAL\\PRIMARY\\LOCALIZER contains LOCALIZER',
      thin: 'SliceThickness 0.3 mm outside [0.4, 10]',
      cor: 'not axial: slice normal 90.0° from z (at most 30°)',
      bone: 'SeriesDescription "HEAD BONE 1mm" matches /bone/i',
      der: 'ImageType DERIVED\\SECONDARY lacks ORIGINAL',
      mr: 'Modality MR is not CT',
      few: '3 slices, outside [8, 2000]',
      small: 'another series matches with more slices',
    });
  });

  it('records a reason naming every series when none matches', () => {
    const sel = selectSeries([{ ...axial, modality: 'MR' }], DEFAULT_RULES);
    expect(sel.chosen).toBeNull();
    expect(noMatchReason(sel)).toBe(
      'no series matches the rules: 1.2.3 (HEAD WO 5mm): Modality MR is not CT',
    );
    expect(noMatchReason(selectSeries([], DEFAULT_RULES))).toBe(
      'no series matches the rules: the study has no series',
    );
  });

  it('reads overrides from a JSON file and refuses unknown keys and bad values', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ichdet-rules-'));
    try {
      const f = join(dir, 'rules.json');
      writeFileSync(f, JSON.stringify({ slices: [3, 50], includeDescription: ['head'] }));
      const r = readRules(f);
      expect(r.slices).toEqual([3, 50]);
      expect(r.modalities).toEqual(['CT']);
      expect(selectSeries([{ ...axial, instances: 3 }], r).chosen?.id).toBe('o1');
      expect(selectSeries([{ ...axial, description: 'BRAIN' }], r).rejected[0]?.reason).toBe(
        'SeriesDescription "BRAIN" matches none of /head/i',
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(() => parseRules({ slice: [1, 2] })).toThrow(ConfigError);
    expect(() => parseRules({ slice: [1, 2] })).toThrow(/unknown key "slice"/);
    expect(() => parseRules({ slices: [5, 2] })).toThrow(
      'rules: slices must be [min, max] with min ≤ max, received [5,2]',
    );
    expect(() => parseRules({ excludeDescription: ['('] })).toThrow(/regular expressions/);
  });
});

describe('result UIDs', () => {
  it('are 2.25 UIDs of at most 64 characters, the same for the same study and model', () => {
    const a = resultUid('1.2.840.1', 'abc', 'sr-instance');
    expect(a).toMatch(/^2\.25\.[1-9]\d*$/);
    expect(a.length).toBeLessThanOrEqual(64);
    expect(resultUid('1.2.840.1', 'abc', 'sr-instance')).toBe(a);
    expect(resultUid('1.2.840.1', 'abd', 'sr-instance')).not.toBe(a);
    expect(resultUid('1.2.840.1', 'abc', 'sc-instance')).not.toBe(a);
    // The parts are length-prefixed: moving a character between them changes the UID.
    expect(hashUid('ab', 'c')).not.toBe(hashUid('a', 'bc'));
  });
});
