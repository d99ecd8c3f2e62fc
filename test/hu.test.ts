import { describe, expect, it } from 'vitest';
import { needsRsnaFix, storedToHu } from '../src/dicom/hu.js';
import { ConfigError } from '../src/errors.js';

const rsna12 = {
  rescaleSlope: 1,
  rescaleIntercept: 0,
  bitsStored: 12,
  pixelRepresentation: 0,
} as const;

describe('needsRsnaFix', () => {
  it('flags 12-bit unsigned slices whose intercept is above -100', () => {
    expect(needsRsnaFix({ bitsStored: 12, pixelRepresentation: 0, rescaleIntercept: 0 })).toBe(
      true,
    );
    expect(needsRsnaFix({ bitsStored: 12, pixelRepresentation: 0, rescaleIntercept: 1 })).toBe(
      true,
    );
    expect(needsRsnaFix({ bitsStored: 12, pixelRepresentation: 0, rescaleIntercept: -99 })).toBe(
      true,
    );
  });

  it('leaves alone intercepts of -100 and below, signed pixels and 16-bit slices', () => {
    expect(needsRsnaFix({ bitsStored: 12, pixelRepresentation: 0, rescaleIntercept: -100 })).toBe(
      false,
    );
    expect(needsRsnaFix({ bitsStored: 12, pixelRepresentation: 0, rescaleIntercept: -1024 })).toBe(
      false,
    );
    expect(needsRsnaFix({ bitsStored: 12, pixelRepresentation: 1, rescaleIntercept: 0 })).toBe(
      false,
    );
    expect(needsRsnaFix({ bitsStored: 16, pixelRepresentation: 0, rescaleIntercept: 0 })).toBe(
      false,
    );
  });
});

describe('storedToHu', () => {
  it('applies the RSNA fix: +1000, wrap at 4096, intercept -1000', () => {
    // v = stored + 1000 = [1000, 1024, 4095, 4096 → 0, 5095 → 999]; HU = v − 1000.
    const stored = Uint16Array.from([0, 24, 3095, 3096, 4095]);
    const { hu, rsnaFixApplied } = storedToHu(stored, rsna12);
    expect(rsnaFixApplied).toBe(true);
    expect(Array.from(hu)).toEqual([0, 24, 3095, -1000, -1]);
  });

  it('gives the raw modality LUT when rsnaFix is false', () => {
    const stored = Uint16Array.from([0, 24, 3095, 3096, 4095]);
    const { hu, rsnaFixApplied } = storedToHu(stored, rsna12, { rsnaFix: false });
    expect(rsnaFixApplied).toBe(false);
    expect(Array.from(hu)).toEqual([0, 24, 3095, 3096, 4095]);
  });

  it('does not fix 12-bit unsigned slices with intercept -1024', () => {
    const stored = Uint16Array.from([0, 1024, 1064, 4095]);
    const { hu, rsnaFixApplied } = storedToHu(stored, { ...rsna12, rescaleIntercept: -1024 });
    expect(rsnaFixApplied).toBe(false);
    expect(Array.from(hu)).toEqual([-1024, 0, 40, 3071]);
  });

  it('does not fix 16-bit slices with intercept 0', () => {
    const stored = Uint16Array.from([0, 3096, 5000]);
    const { hu, rsnaFixApplied } = storedToHu(stored, { ...rsna12, bitsStored: 16 });
    expect(rsnaFixApplied).toBe(false);
    expect(Array.from(hu)).toEqual([0, 3096, 5000]);
  });

  it('multiplies by the slope after the fix: v × 2 − 1000', () => {
    // v = [1000, 0, 999] → [1000, −1000, 998]; the file's intercept 1 is replaced by −1000.
    const stored = Uint16Array.from([0, 3096, 4095]);
    const { hu } = storedToHu(stored, { ...rsna12, rescaleSlope: 2, rescaleIntercept: 1 });
    expect(Array.from(hu)).toEqual([1000, -1000, 998]);
  });

  it('computes stored × slope + intercept for signed 16-bit pixels', () => {
    const stored = Int16Array.from([-5, 0, 7, 3]);
    const attrs = {
      rescaleSlope: 2,
      rescaleIntercept: -1024,
      bitsStored: 16,
      pixelRepresentation: 1,
    } as const;
    expect(Array.from(storedToHu(stored, attrs).hu)).toEqual([-1034, -1024, -1010, -1018]);
    const half = storedToHu(stored, { ...attrs, rescaleSlope: 0.5 }).hu;
    expect(Array.from(half)).toEqual([-1026.5, -1024, -1020.5, -1022.5]);
  });

  it('writes into out when it has the right length and leaves the input unchanged', () => {
    const stored = Uint16Array.from([0, 3096]);
    const out = new Float32Array(2);
    const { hu } = storedToHu(stored, rsna12, {}, out);
    expect(hu).toBe(out);
    expect(Array.from(out)).toEqual([0, -1000]);
    expect(Array.from(stored)).toEqual([0, 3096]);
  });

  it('allocates a new array when out has the wrong length, leaving out untouched', () => {
    const out = new Float32Array(3).fill(7);
    const { hu } = storedToHu(Uint16Array.from([5]), rsna12, { rsnaFix: false }, out);
    expect(hu).not.toBe(out);
    expect(Array.from(hu)).toEqual([5]);
    expect(Array.from(out)).toEqual([7, 7, 7]);
  });

  it('rejects a slope or intercept that is not a finite number, naming the field', () => {
    const stored = Uint16Array.from([1]);
    expect(() => storedToHu(stored, { ...rsna12, rescaleSlope: Number.NaN })).toThrow(
      new ConfigError('RescaleSlope must be a finite number, received NaN'),
    );
    expect(() =>
      storedToHu(stored, { ...rsna12, rescaleIntercept: Number.POSITIVE_INFINITY }),
    ).toThrow('RescaleIntercept must be a finite number, received Infinity');
    expect(() => storedToHu(stored, { ...rsna12, rescaleSlope: Number.NaN })).toThrow(ConfigError);
  });
});
