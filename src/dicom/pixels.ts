/**
 * Pixel data → stored values. Handles native (uncompressed) data in either byte order and
 * encapsulated data through the codecs, then keeps only the BitsStored bits that end at HighBit
 * and sign-extends them when PixelRepresentation is 1 (PS3.5 §8.1.1, PS3.3 C.7.6.3.1).
 */

import { createRequire } from 'node:module';
import type { DataSet } from 'dicom-parser';
import { DicomError } from '../errors.js';
import { CodecsNotLoadedError, decodeFrame } from './codecs.js';
import type { StoredPixels } from './slice.js';
import type { TransferSyntax } from './syntax.js';

const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');

export interface PixelLayout {
  rows: number;
  cols: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: 0 | 1;
  photometricInterpretation: string;
}

/** Reads the single frame of (7FE0,0010) as stored values of the layout's type. */
export function extractStored(
  dataSet: DataSet,
  syntax: TransferSyntax,
  layout: PixelLayout,
  source: string,
): StoredPixels {
  const { bytes, littleEndian } = pixelBytes(dataSet, syntax, layout, source);
  return toStored(bytes, layout.rows * layout.cols, layout, littleEndian, source);
}

/**
 * The frame's sample bytes, decoded from its transfer syntax but not yet masked or
 * sign-extended: exactly rows × cols × BitsAllocated/8 bytes, in the byte order returned.
 */
export function pixelBytes(
  dataSet: DataSet,
  syntax: TransferSyntax,
  layout: PixelLayout,
  source: string,
): { bytes: Uint8Array; littleEndian: boolean } {
  const element = dataSet.elements.x7fe00010;
  if (!element) throw new DicomError(source, 'no pixel data (7FE0,0010)');
  const n = layout.rows * layout.cols;
  const bytesPerSample = layout.bitsAllocated / 8;
  const expected = n * bytesPerSample;
  let bytes: Uint8Array;
  let littleEndian = syntax.littleEndian;
  if (syntax.pixels === 'native') {
    if (element.encapsulatedPixelData) {
      throw new DicomError(
        source,
        `pixel data is encapsulated but the transfer syntax ${syntax.uid} is native`,
      );
    }
    nativeExtent(element.length, dataSet.byteArray.length - element.dataOffset, layout, source);
    bytes = dataSet.byteArray.subarray(element.dataOffset, element.dataOffset + expected);
  } else {
    const fragments = element.fragments ?? [];
    if (!element.encapsulatedPixelData || fragments.length === 0) {
      throw new DicomError(
        source,
        `transfer syntax ${syntax.name} needs encapsulated pixel data, found none`,
      );
    }
    let frame: Uint8Array;
    try {
      frame = dicomParser.readEncapsulatedPixelDataFromFragments(
        dataSet,
        element,
        0,
        fragments.length,
      );
    } catch (err) {
      throw new DicomError(
        source,
        `truncated pixel data: cannot read its fragments (${describe(err)})`,
      );
    }
    if (syntax.pixels === 'encapsulated-uncompressed') {
      bytes = frame;
    } else {
      try {
        bytes = decodeFrame(syntax.pixels, frame, { ...layout, samplesPerPixel: 1 });
      } catch (err) {
        // Not the file's fault: the caller loads the codecs and decodes again (withCodecs).
        if (err instanceof CodecsNotLoadedError) throw err;
        throw new DicomError(source, `cannot decode ${syntax.name} pixel data: ${describe(err)}`);
      }
      littleEndian = true;
      if (syntax.lossy) bytes = clampLossyOvershoot(bytes, expected, layout);
    }
    if (bytes.length < expected) {
      throw new DicomError(
        source,
        `truncated pixel data: decoded ${bytes.length} bytes, ${layout.rows}×${layout.cols}×${layout.bitsAllocated} bits needs ${expected}`,
      );
    }
  }
  return { bytes: bytes.subarray(0, expected), littleEndian };
}

/**
 * Lossy decoders (libjxl in particular) can overshoot the top of an unsigned BitsStored range
 * (4099 for 12 bits); masking would wrap that to 3, white to black. Clamp it to 2^BitsStored − 1
 * instead. Signed data is left alone: whether a codec sign-extends is not knowable here.
 */
function clampLossyOvershoot(
  bytes: Uint8Array,
  expected: number,
  layout: Pick<PixelLayout, 'bitsAllocated' | 'bitsStored' | 'pixelRepresentation'>,
): Uint8Array {
  if (layout.bitsAllocated !== 16 || layout.bitsStored >= 16 || layout.pixelRepresentation !== 0) {
    return bytes;
  }
  const max = 2 ** layout.bitsStored - 1;
  let out = bytes;
  const end = Math.min(expected, bytes.length);
  for (let j = 0; j + 1 < end; j += 2) {
    if ((bytes[j]! | (bytes[j + 1]! << 8)) > max) {
      if (out === bytes) out = new Uint8Array(bytes.subarray(0, expected));
      out[j] = max & 0xff;
      out[j + 1] = max >> 8;
    }
  }
  return out;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** BitsStored bits ending at HighBit must fit in BitsAllocated (PS3.5 §8.1.1). */
export function checkBitLayout(
  layout: Pick<PixelLayout, 'bitsAllocated' | 'bitsStored' | 'highBit'>,
  source = '<buffer>',
): void {
  const { bitsAllocated, bitsStored, highBit } = layout;
  if (
    bitsStored < 1 ||
    bitsStored > bitsAllocated ||
    highBit < bitsStored - 1 ||
    highBit >= bitsAllocated
  ) {
    throw new DicomError(
      source,
      `inconsistent pixel layout: BitsAllocated ${bitsAllocated}, BitsStored ${bitsStored}, HighBit ${highBit}`,
    );
  }
}

/**
 * The checks of `pixelBytes` that need only Pixel Data's header (a header-only parse, see
 * parse.ts): native data must be unencapsulated and hold rows × cols samples within `end`;
 * encapsulated syntaxes need encapsulated data. Same reasons as `pixelBytes`; what only the
 * pixel bytes can show (empty fragments, a frame that does not decode) is not checked.
 */
export function checkPixelHeader(
  dataSet: DataSet,
  syntax: TransferSyntax,
  layout: PixelLayout,
  source: string,
  end: number,
): void {
  const element = dataSet.elements.x7fe00010;
  if (!element) throw new DicomError(source, 'no pixel data (7FE0,0010)');
  const undefinedLength = element.length === 0xffffffff;
  if (syntax.pixels === 'native') {
    if (undefinedLength) {
      throw new DicomError(
        source,
        `pixel data is encapsulated but the transfer syntax ${syntax.uid} is native`,
      );
    }
    nativeExtent(element.length, end - element.dataOffset, layout, source);
  } else if (!undefinedLength) {
    throw new DicomError(
      source,
      `transfer syntax ${syntax.name} needs encapsulated pixel data, found none`,
    );
  }
}

function nativeExtent(length: number, held: number, layout: PixelLayout, source: string): number {
  const expected = layout.rows * layout.cols * (layout.bitsAllocated / 8);
  const available = Math.min(length, held);
  if (available < expected) {
    throw new DicomError(
      source,
      `truncated pixel data: ${layout.rows}×${layout.cols}×${layout.bitsAllocated} bits needs ${expected} bytes, found ${Math.max(0, available)}`,
    );
  }
  return expected;
}

/** Raw sample bytes → typed stored values with masking and sign extension. */
export function toStored(
  bytes: Uint8Array,
  n: number,
  layout: Pick<PixelLayout, 'bitsAllocated' | 'bitsStored' | 'highBit' | 'pixelRepresentation'>,
  littleEndian: boolean,
  source = '<buffer>',
): StoredPixels {
  const { bitsAllocated, bitsStored, highBit, pixelRepresentation } = layout;
  const signed = pixelRepresentation === 1;
  checkBitLayout(layout, source);
  const shift = highBit + 1 - bitsStored;
  const full = bitsStored === bitsAllocated;
  if (bitsAllocated === 16) {
    const raw = samples16(bytes, n, littleEndian);
    if (full) return signed ? new Int16Array(raw.buffer, raw.byteOffset, n) : raw;
    const mask = (1 << bitsStored) - 1;
    const signBit = 1 << (bitsStored - 1);
    if (signed) {
      const out = new Int16Array(n);
      for (let i = 0; i < n; i++) {
        const v = (raw[i]! >> shift) & mask;
        out[i] = v & signBit ? v - (mask + 1) : v;
      }
      return out;
    }
    const out = shift === 0 && raw.buffer !== bytes.buffer ? raw : new Uint16Array(n);
    for (let i = 0; i < n; i++) out[i] = (raw[i]! >> shift) & mask;
    return out;
  }
  if (bitsAllocated === 8) {
    const raw = bytes.subarray(0, n);
    // A plain Uint8Array view, never a Node Buffer (whose `slice` does not copy).
    if (full)
      return signed
        ? new Int8Array(raw.buffer, raw.byteOffset, n)
        : new Uint8Array(raw.buffer, raw.byteOffset, n);
    const mask = (1 << bitsStored) - 1;
    const signBit = 1 << (bitsStored - 1);
    const out = signed ? new Int8Array(n) : new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = (raw[i]! >> shift) & mask;
      out[i] = signed && v & signBit ? v - (mask + 1) : v;
    }
    return out;
  }
  if (bitsAllocated === 32) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, n * 4);
    const out = signed ? new Int32Array(n) : new Uint32Array(n);
    const mask = bitsStored === 32 ? 0xffffffff : 2 ** bitsStored - 1;
    for (let i = 0; i < n; i++) {
      let v = Math.floor(view.getUint32(i * 4, littleEndian) / 2 ** shift) % (mask + 1);
      if (signed && v >= 2 ** (bitsStored - 1)) v -= 2 ** bitsStored;
      out[i] = v;
    }
    return out;
  }
  throw new DicomError(source, `unsupported BitsAllocated ${bitsAllocated}; expected 8, 16 or 32`);
}

/** 16-bit samples in native order, as a Uint16Array (a view when aligned little endian). */
function samples16(bytes: Uint8Array, n: number, littleEndian: boolean): Uint16Array {
  if (littleEndian) {
    if (bytes.byteOffset % 2 === 0) return new Uint16Array(bytes.buffer, bytes.byteOffset, n);
    // Copy through the Uint8Array constructor: for a Node Buffer (what readFile returns)
    // `slice` is a view, and its `.buffer` is the whole file, not these bytes.
    return new Uint16Array(new Uint8Array(bytes.subarray(0, n * 2)).buffer);
  }
  const out = new Uint16Array(n);
  for (let i = 0, j = 0; i < n; i++, j += 2) out[i] = (bytes[j]! << 8) | bytes[j + 1]!;
  return out;
}
