import { Buffer } from 'node:buffer';
import { PNG } from 'pngjs';
import { describe, expect, it } from 'vitest';
import { ConfigError, InputError } from '../src/errors.js';
import { decodePng, encodePngGray8, encodePngRgb8 } from '../src/io/png.js';

/** IHDR follows the 8-byte signature: length (4), 'IHDR' (4), width (4), height (4), depth, colour type. */
const IHDR_DEPTH = 24;
const IHDR_COLOR_TYPE = 25;

describe('encodePngGray8', () => {
  it('writes an 8-bit colour type 0 PNG that pngjs reads back pixel for pixel', () => {
    const gray = Uint8Array.from([0, 1, 2, 255, 128, 7]); // 2 rows × 3 columns
    const file = encodePngGray8(gray, 2, 3);
    expect(file[IHDR_DEPTH]).toBe(8);
    expect(file[IHDR_COLOR_TYPE]).toBe(0);
    const png = PNG.sync.read(file);
    expect([png.width, png.height, png.colorType]).toEqual([3, 2, 0]);
    // pngjs expands to RGBA: gray g becomes (g, g, g, 255).
    expect(Array.from(png.data)).toEqual(Array.from(gray).flatMap((g) => [g, g, g, 255]));
    expect(decodePng(file)).toEqual({ data: gray, width: 3, height: 2, channels: 1 });
  });

  it('encodes only the viewed bytes of a subarray and leaves the input unchanged', () => {
    const whole = Uint8Array.from([9, 10, 20, 30, 40, 9]);
    const view = whole.subarray(1, 5);
    expect(decodePng(encodePngGray8(view, 2, 2)).data).toEqual(Uint8Array.from([10, 20, 30, 40]));
    expect(Array.from(whole)).toEqual([9, 10, 20, 30, 40, 9]);
  });

  it('rejects a size that does not match the data, naming both', () => {
    expect(() => encodePngGray8(new Uint8Array(5), 2, 3)).toThrow(
      new ConfigError('png data length must be 2 × 3 × 1 = 6, received 5'),
    );
    expect(() => encodePngGray8(new Uint8Array(0), 0, 3)).toThrow(
      'png height must be a positive integer, received 0',
    );
  });
});

describe('encodePngRgb8', () => {
  it('writes an 8-bit colour type 2 PNG from HWC data and reads it back', () => {
    const rgb = Uint8Array.from([255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]); // 2 × 2 × 3
    const file = encodePngRgb8(rgb, 2, 2);
    expect(file[IHDR_COLOR_TYPE]).toBe(2);
    const png = PNG.sync.read(file);
    expect(Array.from(png.data)).toEqual([
      255, 0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 10, 20, 30, 255,
    ]);
    expect(decodePng(file)).toEqual({ data: rgb, width: 2, height: 2, channels: 3 });
  });

  it('rejects data that is not h × w × 3', () => {
    expect(() => encodePngRgb8(new Uint8Array(4), 2, 2)).toThrow(
      'png data length must be 2 × 2 × 3 = 12, received 4',
    );
  });
});

describe('decodePng', () => {
  it('keeps the alpha channel of an RGBA file', () => {
    const png = new PNG({ width: 1, height: 2 });
    png.data = Buffer.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const file = PNG.sync.write(png); // pngjs default: colour type 6
    expect(decodePng(file)).toEqual({
      data: Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]),
      width: 1,
      height: 2,
      channels: 4,
    });
  });

  it('reports bytes that are not a PNG as an InputError naming the source', () => {
    expect(() => decodePng(Uint8Array.from([1, 2, 3]), 'mask.png')).toThrow(InputError);
    expect(() => decodePng(Uint8Array.from([1, 2, 3]), 'mask.png')).toThrow(
      /^mask\.png: not a readable PNG: /,
    );
  });
});
