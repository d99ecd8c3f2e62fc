import { Buffer } from 'node:buffer';
import { describe, expect, it } from 'vitest';
import { ConfigError, InputError } from '../src/errors.js';
import { decodeNpy, encodeNpy, type NpyArray } from '../src/io/npy.js';

const ascii = (bytes: Uint8Array): string => Buffer.from(bytes).toString('latin1');

/** A .npy file with the given version, header dict and data bytes, padded like numpy does. */
function npyFile(
  major: number,
  dict: string,
  data: number[],
  encoding: 'latin1' | 'utf8' = 'latin1',
): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const dictBytes = Buffer.from(dict, encoding);
  const pad = 64 - ((prefix + dictBytes.length + 1) % 64);
  const header = Buffer.concat([dictBytes, Buffer.from(`${' '.repeat(pad)}\n`)]);
  const lenBytes = Buffer.alloc(prefix - 8);
  if (major === 1) lenBytes.writeUInt16LE(header.length);
  else lenBytes.writeUInt32LE(header.length);
  return new Uint8Array(
    Buffer.concat([
      Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]),
      lenBytes,
      header,
      Buffer.from(data),
    ]),
  );
}

describe('encodeNpy', () => {
  it('writes the header np.save writes for a 2 × 3 float32 array', () => {
    const bytes = encodeNpy(Float32Array.from([0, 1, 2, 3, 4, 5]), [2, 3]);
    // The dict is 59 characters; numpy adds 21 − len('2') = 20 spare spaces, then pads
    // 10 + 79 + 1 = 90 up to 128 with 38 spaces and '\n': header length 118 = 0x76.
    const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
    expect(dict).toHaveLength(59);
    expect(Array.from(bytes.subarray(0, 10))).toEqual([
      0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 0x76, 0,
    ]);
    expect(ascii(bytes.subarray(10, 128))).toBe(`${dict}${' '.repeat(58)}\n`);
    expect(bytes).toHaveLength(128 + 24);
    // 1.0f is 0x3f800000, little-endian 00 00 80 3f.
    expect(Array.from(bytes.subarray(132, 136))).toEqual([0, 0, 0x80, 0x3f]);
  });

  it('writes a 1-D shape as (3,) and uint8 as |u1', () => {
    const bytes = encodeNpy(Uint8Array.from([7, 8, 9]), [3]);
    // 57 characters + 20 spare spaces; 10 + 77 + 1 = 88 is padded to 128 with 40 more.
    const dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }";
    expect(dict).toHaveLength(57);
    expect(ascii(bytes.subarray(10, 128))).toBe(`${dict}${' '.repeat(20 + 40)}\n`);
    expect(Array.from(bytes.subarray(128))).toEqual([7, 8, 9]);
  });

  it('keeps every header a multiple of 64 bytes ending in a newline', () => {
    for (const shape of [[], [1], [512, 512], [12345678, 0], [3, 224, 224, 1]]) {
      const n = shape.reduce((a, b) => a * b, 1);
      const bytes = encodeNpy(new Int16Array(n), shape);
      const headerLength = bytes[8]! + 256 * bytes[9]!;
      expect((10 + headerLength) % 64).toBe(0);
      expect(bytes[10 + headerLength - 1]).toBe(0x0a);
    }
  });

  it('writes only the viewed part of a typed array that is a subarray', () => {
    const whole = Int32Array.from([1, 2, 3, 4]);
    const { data } = decodeNpy(encodeNpy(whole.subarray(1, 3), [2]));
    expect(Array.from(data)).toEqual([2, 3]);
  });

  it('rejects a shape that does not hold the data, naming both', () => {
    expect(() => encodeNpy(new Float32Array(5), [2, 3])).toThrow(
      new ConfigError('npy shape (2, 3) holds 6 values, received data of length 5'),
    );
    expect(() => encodeNpy(new Float32Array(0), [-1])).toThrow(
      'npy shape entries must be non-negative integers, received (-1,)',
    );
  });
});

describe('decodeNpy', () => {
  it('round-trips each supported dtype and shape', () => {
    const cases: [NpyArray, number[], string][] = [
      [Float32Array.from([0.5, -1.25, 3e-8, 7]), [2, 2], 'float32'],
      [Float64Array.from([Math.PI, -0]), [2], 'float64'],
      [Uint8Array.from([0, 255, 128]), [3, 1], 'uint8'],
      [Int16Array.from([-32768, 32767, -1024]), [3], 'int16'],
      [Uint16Array.from([0, 65535]), [1, 2], 'uint16'],
      [Int32Array.from([-2147483648, 5]), [2], 'int32'],
      [Int16Array.from([-5]), [], 'int16'],
      [new Float32Array(0), [0, 3], 'float32'],
    ];
    for (const [data, shape, dtype] of cases) {
      const decoded = decodeNpy(encodeNpy(data, shape));
      expect(decoded.dtype).toBe(dtype);
      expect(decoded.shape).toEqual(shape);
      expect(decoded.data).toEqual(data);
      expect(decoded.data.constructor).toBe(data.constructor);
    }
  });

  it('reads version 2.0 and 3.0 headers', () => {
    const v2 = npyFile(
      2,
      "{'descr': '<u2', 'fortran_order': False, 'shape': (2,), }",
      [1, 0, 2, 1],
    );
    expect(decodeNpy(v2)).toEqual({
      data: Uint16Array.from([1, 258]),
      shape: [2],
      dtype: 'uint16',
    });
    const v3 = npyFile(
      3,
      "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 2), }",
      [4, 5],
      'utf8',
    );
    expect(decodeNpy(v3)).toEqual({ data: Uint8Array.from([4, 5]), shape: [1, 2], dtype: 'uint8' });
  });

  it('reads Python 2 long shapes such as (3L,)', () => {
    const file = npyFile(
      1,
      "{'descr': '|u1', 'fortran_order': False, 'shape': (3L,), }",
      [1, 2, 3],
    );
    expect(decodeNpy(file).shape).toEqual([3]);
  });

  it('reads a Buffer that sits at an odd offset of a larger allocation', () => {
    const file = encodeNpy(Float32Array.from([1.5, 2.5]), [2]);
    const padded = Buffer.concat([Buffer.from([9]), Buffer.from(file)]).subarray(1);
    expect(Array.from(decodeNpy(padded).data)).toEqual([1.5, 2.5]);
  });

  it('returns a copy that does not change when the bytes do', () => {
    const file = encodeNpy(Uint8Array.from([1, 2]), [2]);
    const { data } = decodeNpy(file);
    file[128] = 99;
    expect(Array.from(data)).toEqual([1, 2]);
  });

  it('rejects bytes that are not .npy, naming the file and the bytes found', () => {
    const zip = Uint8Array.from([0x50, 0x4b, 0x03, 0x04, 0x14, 0x00, 0, 0, 0, 0, 0]);
    expect(() => decodeNpy(zip, 'x.npy')).toThrow(
      new InputError(
        'x.npy: not a NumPy .npy file; expected magic bytes 93 4e 55 4d 50 59, received 50 4b 03 04 14 00',
      ),
    );
    expect(() => decodeNpy(new Uint8Array(0), 'e.npy')).toThrow('received an empty file');
    expect(() => decodeNpy(new Uint8Array(0))).toThrow(InputError);
  });

  it('rejects Fortran order, big-endian and unsupported dtypes, quoting the header value', () => {
    const fortran = npyFile(
      1,
      "{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
      [0, 0, 0, 0],
    );
    expect(() => decodeNpy(fortran, 'f.npy')).toThrow(
      'f.npy: .npy fortran_order True is not supported; expected False (C order)',
    );
    const big = npyFile(
      1,
      "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }",
      [0, 0, 0, 0],
    );
    expect(() => decodeNpy(big, 'b.npy')).toThrow(
      "b.npy: big-endian .npy dtype '>f4' is not supported; expected little-endian '<f4'",
    );
    const complex = npyFile(1, "{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", []);
    expect(() => decodeNpy(complex, 'c.npy')).toThrow(
      "c.npy: unsupported .npy dtype '<c8'; expected one of <f4, <f8, |u1, <i2, <u2, <i4",
    );
  });

  it('rejects truncated data, an unknown version and a header that is not a dict', () => {
    const short = encodeNpy(Float32Array.from([1, 2]), [2]).subarray(0, 128 + 6);
    expect(() => decodeNpy(short, 's.npy')).toThrow(
      "s.npy: .npy data is 6 bytes, expected 8 for shape (2,) and dtype '<f4'",
    );
    const v9 = encodeNpy(Uint8Array.from([1]), [1]);
    v9[6] = 9;
    expect(() => decodeNpy(v9, 'v.npy')).toThrow(
      'v.npy: unsupported .npy version 9.0; expected 1.0, 2.0 or 3.0',
    );
    expect(() => decodeNpy(npyFile(1, 'hello', []), 'h.npy')).toThrow(
      `h.npy: .npy header must be a dict with 'descr', 'fortran_order' and 'shape', received "hello"`,
    );
    const cut = encodeNpy(Uint8Array.from([1]), [1]).subarray(0, 50);
    expect(() => decodeNpy(cut, 'c.npy')).toThrow(
      'c.npy: .npy header length 118 runs past the end of the file (50 bytes)',
    );
  });
});
