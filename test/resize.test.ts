import { describe, expect, it } from 'vitest';
import { resize, resolveResizeMethod } from '../src/dicom/resize.js';
import { ConfigError } from '../src/errors.js';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);
const range = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => i);

describe('resize, bilinear with half-pixel centres', () => {
  it('upsamples [[0, 1], [2, 3]] to 4 × 4 as TensorFlow does', () => {
    // Output d samples the input at (d + 0.5)/2 − 0.5 = −0.25, 0.25, 0.75, 1.25 (edges clamp).
    const out = resize(f32([0, 1, 2, 3]), 2, 2, 1, 4, 4, 'bilinear');
    expect(Array.from(out)).toEqual([
      0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3,
    ]);
  });

  it('downsamples 4 → 2 along a row to the mean of each pair (samples at 0.5 and 2.5)', () => {
    expect(Array.from(resize(f32([0, 1, 2, 4]), 1, 4, 1, 1, 2, 'bilinear'))).toEqual([0.5, 3]);
  });

  it('samples 4 → 3 at 1/6, 3/2 and 17/6, which a ramp of slope 6 turns into 1, 9, 17', () => {
    expect(Array.from(resize(f32([0, 6, 12, 18]), 1, 4, 1, 1, 3, 'bilinear'))).toEqual([1, 9, 17]);
  });

  it('keeps channels apart: channel 1 stays 10 × channel 0', () => {
    const src = f32([0, 0, 1, 10, 2, 20, 3, 30]); // 2 × 2 × 2
    const out = resize(src, 2, 2, 2, 4, 4, 'bilinear');
    const c0 = out.filter((_, i) => i % 2 === 0);
    const c1 = out.filter((_, i) => i % 2 === 1);
    expect(Array.from(c0)).toEqual([
      0, 0.25, 0.75, 1, 0.5, 0.75, 1.25, 1.5, 1.5, 1.75, 2.25, 2.5, 2, 2.25, 2.75, 3,
    ]);
    expect(Array.from(c1)).toEqual(Array.from(c0, (v) => v * 10));
  });

  it('repeats a single pixel when upsampling 1 × 1', () => {
    expect(Array.from(resize(f32([7]), 1, 1, 1, 2, 3, 'bilinear'))).toEqual([7, 7, 7, 7, 7, 7]);
  });
});

describe('resize, area averaging', () => {
  it('averages 2 × 2 blocks when halving 4 × 4', () => {
    // Blocks {0,1,4,5}, {2,3,6,7}, {8,9,12,13}, {10,11,14,15}.
    const expected = [2.5, 4.5, 10.5, 12.5];
    expect(Array.from(resize(range(16), 4, 4, 1, 2, 2, 'area'))).toEqual(expected);
    expect(Array.from(resize(range(16), 4, 4, 1, 2, 2, 'bilinear'))).toEqual(expected);
    expect(Array.from(resize(range(16), 4, 4, 1, 2, 2))).toEqual(expected);
  });

  it('averages 3 × 3 blocks when shrinking 6 × 6 by 3', () => {
    // Value 6r + c: a block's mean is 6 × mean(r) + mean(c).
    expect(Array.from(resize(range(36), 6, 6, 1, 2, 2, 'area'))).toEqual([7, 10, 25, 28]);
  });

  it('weights the shared middle pixel by half when shrinking 3 → 2', () => {
    // [a, b, c] → [(a + 0.5 b)/1.5, (0.5 b + c)/1.5] with a = 3, b = 6, c = 12.
    expect(Array.from(resize(f32([3, 6, 12]), 1, 3, 1, 1, 2, 'area'))).toEqual([4, 10]);
  });

  it('applies the fractional weights on both axes when shrinking 3 × 3 → 2 × 2', () => {
    // Value 9r + 3c; rows and columns are weighted (2/3, 1/3) and (1/3, 2/3), so the mean index
    // is 1/3 or 5/3: [[9/3 + 3/3, 9/3 + 15/3], [45/3 + 3/3, 45/3 + 15/3]].
    const src = f32([0, 3, 6, 9, 12, 15, 18, 21, 24]);
    expect(Array.from(resize(src, 3, 3, 1, 2, 2, 'area'))).toEqual([4, 8, 16, 20]);
  });

  it('keeps a constant image constant at 512 → 224', () => {
    const out = resize(new Float32Array(512 * 512).fill(0.7), 512, 512, 1, 224, 224);
    expect(out).toHaveLength(224 * 224);
    expect(out.every((v) => v === Math.fround(0.7))).toBe(true);
  });

  it('gives nearest-like blocks when asked to upsample 2 → 4', () => {
    expect(Array.from(resize(f32([1, 5]), 1, 2, 1, 1, 4, 'area'))).toEqual([1, 1, 5, 5]);
  });

  it('averages each channel separately', () => {
    // 2 × 2 × 3 → 1 × 1 × 3.
    const src = f32([0, 10, 100, 2, 20, 200, 4, 30, 300, 6, 60, 600]);
    expect(Array.from(resize(src, 2, 2, 3, 1, 1))).toEqual([3, 30, 300]);
  });
});

describe('resize, auto', () => {
  it('uses area when both axes shrink by 2 or more, bilinear otherwise', () => {
    expect(resolveResizeMethod(512, 512, 256, 256, 'auto')).toBe('area');
    expect(resolveResizeMethod(512, 512, 224, 224, 'auto')).toBe('area');
    expect(resolveResizeMethod(512, 512, 300, 300, 'auto')).toBe('bilinear');
    expect(resolveResizeMethod(512, 300, 256, 256, 'auto')).toBe('bilinear');
    expect(resolveResizeMethod(256, 256, 512, 512, 'auto')).toBe('bilinear');
    expect(resolveResizeMethod(512, 512, 300, 300, 'area')).toBe('area');
  });

  it('averages a lone bright pixel when shrinking 6 × 6 by 3, where bilinear would miss it', () => {
    // Bilinear samples 6 → 2 exactly at pixels 1 and 4, so pixel (0, 0) is never seen.
    const src = new Float32Array(36);
    src[0] = 9;
    expect(Array.from(resize(src, 6, 6, 1, 2, 2))).toEqual([1, 0, 0, 0]);
    expect(Array.from(resize(src, 6, 6, 1, 2, 2, 'bilinear'))).toEqual([0, 0, 0, 0]);
  });
});

describe('resize, general', () => {
  it('returns a copy at the same size', () => {
    const src = f32([1, 2, 3, 4]);
    const out = resize(src, 2, 2, 1, 2, 2, 'bilinear');
    expect(out).not.toBe(src);
    expect(Array.from(out)).toEqual([1, 2, 3, 4]);
  });

  it('leaves the input unchanged', () => {
    const src = range(16);
    resize(src, 4, 4, 1, 3, 3, 'bilinear');
    resize(src, 4, 4, 1, 3, 3, 'area');
    resize(src, 4, 4, 1, 2, 2);
    expect(Array.from(src)).toEqual(Array.from(range(16)));
  });

  it('names the bad size, length or method it received', () => {
    expect(() => resize(range(4), 2, 2, 1, 0, 2)).toThrow(
      new ConfigError('resize output height must be a positive integer, received 0'),
    );
    expect(() => resize(range(4), 2, 2, 1, 2, 1.5)).toThrow(
      'resize output width must be a positive integer, received 1.5',
    );
    expect(() => resize(range(3), 2, 2, 1, 1, 1)).toThrow(
      'resize input length must be h × w × c = 2 × 2 × 1 = 4, received 3',
    );
    expect(() => resize(range(4), 2, 2, 1, 1, 1, 'cubic' as 'area')).toThrow(
      'resize method must be one of bilinear, area, auto, received "cubic"',
    );
  });
});
