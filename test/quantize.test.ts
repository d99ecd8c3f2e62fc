import { describe, expect, it } from 'vitest';
import { quantize255, toUint8 } from '../src/dicom/quantize.js';

describe('quantize255', () => {
  it('rounds v × 255 half up rather than truncating', () => {
    expect(quantize255(0)).toBe(0);
    expect(quantize255(0.25)).toBe(64); // 63.75
    expect(quantize255(0.5)).toBe(128); // 127.5
    expect(quantize255(0.1)).toBe(26); // 25.5 exactly in float64
    expect(quantize255(0.9)).toBe(230); // 229.5 exactly in float64
    expect(quantize255(1)).toBe(255);
  });

  it('clamps to [0, 255] and maps NaN to 0', () => {
    expect(quantize255(-0.2)).toBe(0);
    expect(quantize255(1.5)).toBe(255);
    expect(quantize255(Number.NaN)).toBe(0);
  });
});

describe('toUint8', () => {
  it('quantises each value and leaves the input unchanged', () => {
    const src = Float32Array.from([0, 0.25, 0.5, 1, 2, -1, Number.NaN, 1 / 255]);
    const out = toUint8(src);
    expect(Array.from(out)).toEqual([0, 64, 128, 255, 255, 0, 0, 1]);
    expect(Array.from(src.subarray(0, 6))).toEqual([0, 0.25, 0.5, 1, 2, -1]);
  });

  it('reuses out of the right length and allocates otherwise', () => {
    const out = new Uint8Array(2);
    expect(toUint8(Float32Array.from([1, 0.5]), out)).toBe(out);
    expect(Array.from(out)).toEqual([255, 128]);
    expect(toUint8(Float32Array.from([1]), out)).not.toBe(out);
  });
});
