/**
 * NumPy `.npy` files, so that arrays ichdet writes open with `np.load` and the reverse.
 *
 * Format (numpy/lib/format.py, "NEP 1"): the magic bytes `\x93NUMPY`, a major and minor version
 * byte, the header length (uint16 little-endian in version 1.0, uint32 in 2.0 and 3.0), then an
 * ASCII Python dict literal such as `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }`
 * padded with spaces and ended by `\n` so that the data starts at a multiple of 64 bytes, then the
 * data, little-endian in C order here.
 *
 * `encodeNpy` writes version 1.0 byte for byte as `np.save` does (checked against numpy 2.4), with the
 * spare spaces numpy leaves after the dict so the first axis can grow in place.
 * `decodeNpy` reads versions 1.0, 2.0 and 3.0 of the six dtypes below.
 */
import { Buffer } from 'node:buffer';
import { ConfigError, InputError } from '../errors.js';

export type NpyArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array;

export type NpyDtype = 'float32' | 'float64' | 'uint8' | 'int16' | 'uint16' | 'int32';

export interface NpyDecoded {
  data: NpyArray;
  shape: number[];
  dtype: NpyDtype;
}

interface DtypeInfo {
  dtype: NpyDtype;
  /** The type character and size of numpy's `dtype.str`, without the byte-order character. */
  code: string;
  itemSize: number;
  make(buffer: ArrayBuffer): NpyArray;
}

const DTYPES: readonly DtypeInfo[] = [
  { dtype: 'float32', code: 'f4', itemSize: 4, make: (b) => new Float32Array(b) },
  { dtype: 'float64', code: 'f8', itemSize: 8, make: (b) => new Float64Array(b) },
  { dtype: 'uint8', code: 'u1', itemSize: 1, make: (b) => new Uint8Array(b) },
  { dtype: 'int16', code: 'i2', itemSize: 2, make: (b) => new Int16Array(b) },
  { dtype: 'uint16', code: 'u2', itemSize: 2, make: (b) => new Uint16Array(b) },
  { dtype: 'int32', code: 'i4', itemSize: 4, make: (b) => new Int32Array(b) },
];

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ARRAY_ALIGN = 64;
/** numpy pads the header so the first axis can grow to this many digits in place. */
const GROWTH_AXIS_MAX_DIGITS = 21;
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** numpy's `dtype.str`: `|u1` for bytes, `<` and the code otherwise. */
function descrOf(info: DtypeInfo): string {
  return (info.itemSize === 1 ? '|' : '<') + info.code;
}

function dtypeOfArray(data: NpyArray): DtypeInfo {
  const dtype: NpyDtype | undefined =
    data instanceof Float32Array
      ? 'float32'
      : data instanceof Float64Array
        ? 'float64'
        : data instanceof Uint8Array
          ? 'uint8'
          : data instanceof Int16Array
            ? 'int16'
            : data instanceof Uint16Array
              ? 'uint16'
              : data instanceof Int32Array
                ? 'int32'
                : undefined;
  const info = DTYPES.find((d) => d.dtype === dtype);
  if (info === undefined) {
    const name = (data as { constructor?: { name?: string } }).constructor?.name ?? typeof data;
    throw new ConfigError(
      `npy data must be a Float32Array, Float64Array, Uint8Array, Int16Array, Uint16Array ` +
        `or Int32Array, received ${name}`,
    );
  }
  return info;
}

/** Python's repr of a tuple of ints: `()`, `(3,)`, `(2, 3)`. */
function shapeRepr(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function swapBytes(bytes: Uint8Array, itemSize: number): void {
  for (let i = 0; i + itemSize <= bytes.length; i += itemSize) {
    bytes.subarray(i, i + itemSize).reverse();
  }
}

/**
 * Encodes an array as a version 1.0 `.npy` file in C order, little-endian.
 *
 * @throws ConfigError when a shape entry is not a non-negative integer or the shape does not
 * hold `data.length` values.
 */
export function encodeNpy(data: NpyArray, shape: readonly number[]): Uint8Array {
  const info = dtypeOfArray(data);
  for (const dim of shape) {
    if (!Number.isSafeInteger(dim) || dim < 0) {
      throw new ConfigError(
        `npy shape entries must be non-negative integers, received ${shapeRepr(shape)}`,
      );
    }
  }
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) {
    throw new ConfigError(
      `npy shape ${shapeRepr(shape)} holds ${count} values, received data of length ${data.length}`,
    );
  }
  let dict = `{'descr': '${descrOf(info)}', 'fortran_order': False, 'shape': ${shapeRepr(shape)}, }`;
  if (shape.length > 0) {
    dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length));
  }
  // As numpy's _wrap_header: magic (6) + version (2) + length (2) + dict + padding + '\n'.
  const padding = ARRAY_ALIGN - ((10 + dict.length + 1) % ARRAY_ALIGN);
  const header = `${dict}${' '.repeat(padding)}\n`;
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(Buffer.from(header, 'latin1'), 10);
  const body = out.subarray(10 + header.length);
  body.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  if (!HOST_LITTLE_ENDIAN && info.itemSize > 1) swapBytes(body, info.itemSize);
  return out;
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join(' ');
}

/** The value of `'key': <value>` in a header dict, as written (quotes stripped for strings). */
function headerField(header: string, key: string, value: string): string | undefined {
  const m = new RegExp(`['"]${key}['"]\\s*:\\s*(${value})`).exec(header);
  return m?.[1];
}

function parseShape(source: string, text: string): number[] {
  const inner = text.slice(1, -1).trim();
  if (inner === '') return [];
  const parts = inner.split(',').map((s) => s.trim());
  if (parts[parts.length - 1] === '') parts.pop();
  return parts.map((p) => {
    if (!/^\d+L?$/.test(p)) {
      throw new InputError(`${source}: .npy shape must be a tuple of integers, received ${text}`);
    }
    return Number.parseInt(p, 10);
  });
}

function parseDescr(source: string, descr: string): DtypeInfo {
  const order = descr.slice(0, 1);
  const info = DTYPES.find((d) => d.code === descr.slice(1));
  const supported = DTYPES.map(descrOf).join(', ');
  if (info === undefined || !['<', '>', '|', '='].includes(order)) {
    throw new InputError(
      `${source}: unsupported .npy dtype '${descr}'; expected one of ${supported}`,
    );
  }
  if (order === '>' && info.itemSize > 1) {
    throw new InputError(
      `${source}: big-endian .npy dtype '${descr}' is not supported; ` +
        `expected little-endian '${descrOf(info)}'`,
    );
  }
  return info;
}

/**
 * Decodes a `.npy` file (version 1.0, 2.0 or 3.0) of one of the six supported dtypes.
 * The data is copied, so the result does not share memory with `bytes`.
 *
 * @param source the file name used in error messages.
 * @throws InputError naming `source` and what was found, for a file that is not `.npy`, has
 * an unsupported version or dtype, is big-endian or Fortran-ordered, or is truncated.
 */
export function decodeNpy(bytes: Uint8Array, source = '<buffer>'): NpyDecoded {
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new InputError(
      `${source}: not a NumPy .npy file; expected magic bytes ${hex(Uint8Array.from(MAGIC))}, ` +
        `received ${bytes.length === 0 ? 'an empty file' : hex(bytes.subarray(0, 6))}`,
    );
  }
  const major = bytes[6]!;
  const minor = bytes[7]!;
  if (major < 1 || major > 3) {
    throw new InputError(
      `${source}: unsupported .npy version ${major}.${minor}; expected 1.0, 2.0 or 3.0`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) {
    throw new InputError(`${source}: .npy file ends inside its header (${bytes.length} bytes)`);
  }
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataStart = headerStart + headerLength;
  if (dataStart > bytes.length) {
    throw new InputError(
      `${source}: .npy header length ${headerLength} runs past the end of the file ` +
        `(${bytes.length} bytes)`,
    );
  }
  const headerBytes = Buffer.from(bytes.buffer, bytes.byteOffset + headerStart, headerLength);
  const header = headerBytes.toString(major === 3 ? 'utf8' : 'latin1').trim();
  const descr = headerField(header, 'descr', `'[^']*'|"[^"]*"`);
  const fortran = headerField(header, 'fortran_order', '[A-Za-z]+');
  const shapeText = headerField(header, 'shape', String.raw`\([^)]*\)`);
  if (!header.startsWith('{') || descr === undefined || fortran === undefined || !shapeText) {
    throw new InputError(
      `${source}: .npy header must be a dict with 'descr', 'fortran_order' and 'shape', ` +
        `received ${JSON.stringify(header.slice(0, 200))}`,
    );
  }
  const info = parseDescr(source, descr.slice(1, -1));
  if (fortran !== 'False') {
    throw new InputError(
      `${source}: .npy fortran_order ${fortran} is not supported; expected False (C order)`,
    );
  }
  const shape = parseShape(source, shapeText);
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = count * info.itemSize;
  const found = bytes.length - dataStart;
  if (found !== expected) {
    throw new InputError(
      `${source}: .npy data is ${found} bytes, expected ${expected} for shape ` +
        `${shapeRepr(shape)} and dtype '${descr.slice(1, -1)}'`,
    );
  }
  // A copy in a fresh ArrayBuffer (Buffer#slice would share memory and a pool's offset).
  const copy = new Uint8Array(bytes.subarray(dataStart, dataStart + expected));
  if (!HOST_LITTLE_ENDIAN && info.itemSize > 1) swapBytes(copy, info.itemSize);
  return { data: info.make(copy.buffer), shape, dtype: info.dtype };
}
