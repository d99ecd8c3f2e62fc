/**
 * Bytes → parsed data set. Accepts DICOM Part 10 files (PS3.10 §7.1: 128-byte preamble, `DICM`,
 * file meta group) and the bare data sets real archives also hold (no preamble, no meta group,
 * or a meta group with no preamble), sniffing their encoding from the first element.
 */
import { createRequire } from 'node:module';
import { inflateRawSync } from 'node:zlib';
import type { DataSet } from 'dicom-parser';
import { DicomError, UnsupportedTransferSyntaxError } from '../errors.js';
import {
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  findTransferSyntax,
  IMPLICIT_VR_LE,
  type TransferSyntax,
  transferSyntaxName,
} from './syntax.js';

// dicom-parser is a UMD bundle; require() gives its exports under Node's ESM loader.
const dicomParser = createRequire(import.meta.url)('dicom-parser') as typeof import('dicom-parser');

/**
 * Header-only parsing (`parseDicomBytes(prefix, source, { fileSize })`): the bytes are a prefix
 * of a file of `fileSize` bytes, and parsing stops at the Pixel Data element's header (its value
 * is never read). Every check that the full parse makes on the elements up to and including the
 * Pixel Data header is made the same way, with the file's size standing in for the bytes not
 * read, so a header-only reader gives the same reasons as a full read.
 */
export interface HeaderOnly {
  /** Size of the whole file; the bytes given are its first bytes. */
  fileSize: number;
}

/**
 * Thrown by a header-only parse when the prefix ends before the Pixel Data element (or inside
 * an element before it): read more of the file and parse again. Never thrown once the prefix
 * is the whole file.
 */
export class NeedMoreBytes extends Error {
  override name = 'NeedMoreBytes';
}

export interface ParsedDicom {
  dataSet: DataSet;
  syntax: TransferSyntax;
  /** How the object was framed: a full Part 10 file, or a bare data set. */
  framing: 'part10' | 'bare';
  /**
   * Length of the parsed bytes: `dataSet.byteArray.length`, or for a header-only parse of a
   * prefix what it would be had the whole file been read. Pixel Data ends within it or is cut.
   */
  end: number;
}

/** The two-letter value representations of PS3.5 Table 6.2-1, for sniffing explicit VR. */
const VRS = new Set(
  'AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(
    ' ',
  ),
);

/** Parses a DICOM object held in memory. `source` names it in errors. */
export function parseDicomBytes(
  bytes: Uint8Array,
  source = '<buffer>',
  header?: HeaderOnly,
): ParsedDicom {
  const partial = header !== undefined && bytes.length < header.fileSize;
  if (bytes.length === 0 && !partial) throw new DicomError(source, 'empty file (0 bytes)');
  try {
    return parseWith(bytes, source, header, partial);
  } catch (err) {
    // On a prefix, any failure may only mean the prefix was too short.
    if (partial) throw new NeedMoreBytes(`${source}: ${bytes.length} bytes are not enough`);
    throw err;
  }
}

function parseWith(
  bytes: Uint8Array,
  source: string,
  header: HeaderOnly | undefined,
  partial: boolean,
): ParsedDicom {
  let input = bytes;
  let framing: ParsedDicom['framing'] = 'part10';
  let assumed: string | undefined;
  if (!hasMagicAt(input, 128)) {
    if (hasMagicAt(input, 0)) {
      input = withPreamble(input, 0);
    } else if (input.length >= 8 && readU16le(input, 0) === 0x0002) {
      input = withPreamble(input, 4);
    } else {
      framing = 'bare';
      assumed = sniffBareSyntax(input, source);
    }
  }
  let dataSet: DataSet;
  try {
    dataSet = dicomParser.parseDicom(input, {
      ...(assumed ? { TransferSyntaxUID: assumed } : {}),
      ...(header ? { untilTag: 'x7fe00010' } : {}),
      inflater: (array: Uint8Array, position: number) => inflate(array, position, source),
    } as Parameters<typeof dicomParser.parseDicom>[1]);
  } catch (err) {
    // An unknown syntax (a deflated JPIP one, say) makes the data set unparseable; name the
    // syntax rather than the parser's complaint about bytes it was never meant to read.
    throw (
      (framing === 'part10' && unsupportedSyntax(input, source)) || parseFailure(err, source, input)
    );
  }
  if (partial) {
    // The prefix must hold every element before Pixel Data, and Pixel Data's header.
    const pixel = dataSet.elements.x7fe00010;
    if (!pixel) throw new NeedMoreBytes('no pixel data header in the prefix');
    for (const [tag, el] of Object.entries(dataSet.elements)) {
      if (tag === 'x7fe00010' || el.length === 0xffffffff) continue;
      if (el.dataOffset + el.length > input.length) throw new NeedMoreBytes(tag);
    }
  }
  // The bytes of the whole file, as the parser would have held them (a bare data set gets a
  // preamble prepended; a header-only parse counts the bytes not read).
  // (A deflated data set is parsed from its inflated bytes, which a prefix never reaches.)
  const end = partial ? header!.fileSize + (input.length - bytes.length) : dataSet.byteArray.length;
  checkComplete(dataSet, source, end);
  const uid = (dataSet.string('x00020010') ?? assumed ?? IMPLICIT_VR_LE).replace(/\0/g, '').trim();
  const syntax = findTransferSyntax(uid);
  if (!syntax) throw new UnsupportedTransferSyntaxError(source, uid, transferSyntaxName(uid));
  return { dataSet, syntax, framing, end };
}

function hasMagicAt(b: Uint8Array, at: number): boolean {
  return (
    b.length >= at + 4 &&
    b[at] === 0x44 &&
    b[at + 1] === 0x49 &&
    b[at + 2] === 0x43 &&
    b[at + 3] === 0x4d
  );
}

function readU16le(b: Uint8Array, at: number): number {
  return (b[at] ?? 0) | ((b[at + 1] ?? 0) << 8);
}

function readU32le(b: Uint8Array, at: number): number {
  return (readU16le(b, at) + readU16le(b, at + 2) * 65536) >>> 0;
}

const FIRST_GROUPS = new Set([0x0008, 0x0010, 0x0018, 0x0020, 0x0028]);

/** Prepends a zero preamble (and `DICM` when missing) so the parser sees a Part 10 file. */
function withPreamble(b: Uint8Array, extra: 0 | 4): Uint8Array {
  const out = new Uint8Array(b.length + 128 + extra);
  if (extra === 4) out.set([0x44, 0x49, 0x43, 0x4d], 128);
  out.set(b, 128 + extra);
  return out;
}

/**
 * Guesses the encoding of a data set with no meta group from its first element: a plausible
 * even group number read little endian, then whether bytes 4–5 spell a VR (PS3.5 §7.1.2).
 */
function sniffBareSyntax(b: Uint8Array, source: string): string {
  if (b.length < 8) {
    throw new DicomError(source, `not a DICOM file: only ${b.length} bytes and no 'DICM' magic`);
  }
  const vr = String.fromCharCode(b[4]!, b[5]!);
  const groupLe = readU16le(b, 0);
  const groupBe = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  // A data set's first element belongs to one of the first standard groups (identifying,
  // patient, acquisition, relationship, image); DCMTK's detection looks at the same thing.
  const plausible = (g: number) => FIRST_GROUPS.has(g);
  const fits = (length: number, header: number) =>
    length === 0xffffffff || header + length <= b.length;
  if (plausible(groupLe)) {
    if (VRS.has(vr) && fits(readU16le(b, 6), 8)) return EXPLICIT_VR_LE;
    if (fits(readU32le(b, 4), 8)) return IMPLICIT_VR_LE;
  }
  if (plausible(groupBe) && VRS.has(vr)) return EXPLICIT_VR_BE;
  const head = Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, '0')).join(' ');
  throw new DicomError(
    source,
    `not a DICOM file: no 'DICM' magic at byte 128 and the first bytes (${head}) are not a DICOM element`,
  );
}

function inflate(array: Uint8Array, position: number, source: string): Uint8Array {
  let body: Buffer;
  try {
    body = inflateRawSync(array.subarray(position));
  } catch (err) {
    throw new DicomError(source, `deflated data set cannot be inflated: ${(err as Error).message}`);
  }
  const out = Buffer.alloc(position + body.length);
  out.set(array.subarray(0, position), 0);
  out.set(body, position);
  return out;
}

/**
 * dicom-parser's implicit VR reader accepts an element whose length runs past the end of the
 * bytes (a truncated file), and reading its value later throws a bare string; stop it here.
 */
function checkComplete(dataSet: DataSet, source: string, end: number): void {
  for (const [tag, el] of Object.entries(dataSet.elements)) {
    // Undefined length left unresolved (no delimiter before the end): the fragments or items
    // themselves are checked where they are read.
    // (dicom-parser adds a bare data set's assumed TransferSyntaxUID with no offset at all.)
    if (el.length === 0xffffffff || !(el.dataOffset + el.length > end)) continue;
    const name = `(${tag.slice(1, 5)},${tag.slice(5)})`.toUpperCase();
    const what = tag === 'x7fe00010' ? 'truncated pixel data' : 'truncated file';
    throw new DicomError(
      source,
      `${what}: ${name} declares ${el.length} bytes, the file holds ${Math.max(0, end - el.dataOffset)}`,
    );
  }
}

/** The error for a readable file meta group whose TransferSyntaxUID ichdet cannot decode. */
function unsupportedSyntax(
  input: Uint8Array,
  source: string,
): UnsupportedTransferSyntaxError | undefined {
  let uid: string | undefined;
  try {
    uid = dicomParser.readPart10Header(input).string('x00020010');
  } catch {
    return undefined;
  }
  uid = uid?.replace(/\0/g, '').trim();
  if (!uid || findTransferSyntax(uid)) return undefined;
  return new UnsupportedTransferSyntaxError(source, uid, transferSyntaxName(uid));
}

/** dicom-parser throws strings or `{exception, dataSet}`; turn them into one clear DicomError. */
function parseFailure(err: unknown, source: string, input: Uint8Array): DicomError {
  if (err instanceof DicomError) return err;
  const inner = typeof err === 'object' && err !== null && 'exception' in err ? err.exception : err;
  if (inner instanceof DicomError) return inner;
  const partial =
    typeof err === 'object' && err !== null && 'dataSet' in err
      ? (err.dataSet as DataSet | undefined)
      : undefined;
  const pixel = partial?.elements.x7fe00010;
  if (pixel && pixel.dataOffset + pixel.length > input.length) {
    return new DicomError(
      source,
      `truncated pixel data: (7FE0,0010) declares ${pixel.length} bytes, the file holds ${Math.max(0, input.length - pixel.dataOffset)}`,
    );
  }
  const text = inner instanceof Error ? inner.message : String(inner);
  const clean = text.replace(/^dicomParser\.[A-Za-z0-9]+: /, '');
  if (/DICM prefix not found/.test(text)) {
    return new DicomError(source, "not a DICOM file: no 'DICM' magic at byte 128");
  }
  // (0002,0000) UL at byte 132 gives the meta group's length (PS3.10 §7.1).
  const metaEnd =
    hasMagicAt(input, 128) && readU16le(input, 132) === 0x0002 && readU16le(input, 134) === 0
      ? 144 + readU32le(input, 140)
      : 0;
  if (metaEnd > input.length) {
    return new DicomError(
      source,
      `truncated file: the file meta group ends at byte ${metaEnd}, the file holds ${input.length}`,
    );
  }
  if (/buffer overrun|past end|eof|end of buffer|outside|cannot be greater than/i.test(text)) {
    return new DicomError(source, `truncated file: ${clean}`);
  }
  return new DicomError(source, `cannot parse DICOM: ${clean}`);
}
