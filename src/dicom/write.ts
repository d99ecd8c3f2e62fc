/**
 * Writes DICOM with dcmjs: whole Part 10 files (preamble, `DICM`, file meta group — PS3.10 §7.1)
 * or bare data sets, in any transfer syntax ichdet reads. Used by `ichdet synth` and by the
 * tests' round trips. Compressed syntaxes need `await initCodecs()` first.
 */
import { deflateRawSync } from 'node:zlib';
import dcmjs from 'dcmjs';
import { ConfigError } from '../errors.js';
import { type EncodeParams, encodeFrame } from './codecs.js';
import {
  EXPLICIT_VR_LE,
  findTransferSyntax,
  HTJ2K_LOSSLESS_RPCL,
  JPEG_LOSSLESS_SV1,
} from './syntax.js';

export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
/** ichdet's implementation class UID (a 2.25 UUID-derived root, PS3.5 Annex B.2). */
export const IMPLEMENTATION_CLASS_UID = '2.25.161519322460188409116238349137458315262';
export const IMPLEMENTATION_VERSION_NAME = 'ICHDET_0_1';

export interface WriteSliceSpec {
  rows: number;
  cols: number;
  /** Stored values, row-major. Int16Array for signed 16-bit, Uint16Array for unsigned. */
  stored: Int16Array | Uint16Array | Uint8Array | Int8Array;
  bitsAllocated: 8 | 16;
  bitsStored: number;
  /** Defaults to bitsStored − 1. */
  highBit?: number;
  pixelRepresentation: 0 | 1;
  photometricInterpretation?: 'MONOCHROME2' | 'MONOCHROME1';
  rescaleSlope?: number;
  rescaleIntercept?: number;
  windowCenter?: number | number[];
  windowWidth?: number | number[];
  patientId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  imagePositionPatient?: [number, number, number];
  imageOrientationPatient?: [number, number, number, number, number, number];
  pixelSpacing?: [number, number];
  sliceThickness?: number;
  instanceNumber?: number;
  modality?: string;
  /** More attributes in dcmjs' naturalized form (keyword → value), written as given. */
  extra?: Record<string, unknown>;
}

export interface WriteOptions {
  /** Transfer syntax UID; default explicit VR little endian. */
  transferSyntax?: string;
  /** false: a bare data set with no preamble and no file meta group (implicit or explicit VR LE only). */
  preamble?: boolean;
  /** Encoder parameters for compressed syntaxes. */
  encode?: EncodeParams;
}

/** Encodes one CT slice. Stored values are written as given: the caller owns slope/intercept. */
export function encodeSlice(spec: WriteSliceSpec, opts: WriteOptions = {}): Uint8Array {
  const n = spec.rows * spec.cols;
  if (spec.stored.length !== n) {
    throw new ConfigError(
      `stored pixel count must equal rows × cols = ${n}, received ${spec.stored.length}`,
    );
  }
  const syntaxUid = opts.transferSyntax ?? EXPLICIT_VR_LE;
  const syntax = findTransferSyntax(syntaxUid);
  if (!syntax) throw new ConfigError(`cannot write transfer syntax ${syntaxUid}`);
  const photometric = spec.photometricInterpretation ?? 'MONOCHROME2';
  if (syntaxUid === JPEG_LOSSLESS_SV1 && (opts.encode?.predictor ?? 1) !== 1) {
    throw new ConfigError(
      `transfer syntax ${JPEG_LOSSLESS_SV1} is selection value 1: encode.predictor must be 1, received ${opts.encode?.predictor}`,
    );
  }
  // HTJ2K Lossless RPCL: RPCL progression (and the TLM markers OpenJPH then writes), PS3.5 §10.18.
  const syntaxParams = syntaxUid === HTJ2K_LOSSLESS_RPCL ? { progressionOrder: 2 } : {};
  const raw = new Uint8Array(spec.stored.buffer, spec.stored.byteOffset, spec.stored.byteLength);
  let pixelValue: ArrayBuffer;
  let pixelVr: 'OW' | 'OB';
  let nativePixels: Uint8Array | undefined;
  if (syntax.pixels === 'native') {
    // Native pixel data is appended as raw element bytes after the rest of the data set
    // (it is the last element, (7FE0,0010)): one copy instead of dcmjs' growing stream.
    pixelVr = spec.bitsAllocated === 8 ? 'OB' : 'OW';
    nativePixels = pixelDataElement(
      raw,
      pixelVr,
      syntax.implicitVr,
      syntax.littleEndian,
      spec.bitsAllocated,
    );
    pixelValue = new ArrayBuffer(0);
  } else {
    pixelVr = 'OB';
    const frame =
      syntax.pixels === 'encapsulated-uncompressed'
        ? raw.slice()
        : encodeFrame(
            syntax.pixels,
            syntax.pixels === 'jpeg' ? jpegSamples(raw, spec) : raw.slice(),
            {
              rows: spec.rows,
              cols: spec.cols,
              bitsAllocated: spec.bitsAllocated,
              bitsStored: spec.bitsStored,
              pixelRepresentation: spec.pixelRepresentation,
              samplesPerPixel: 1,
              photometricInterpretation: photometric,
            },
            { lossy: syntax.lossy, ...syntaxParams, ...opts.encode },
          );
    pixelValue = evenCopy(frame);
  }
  const ds: Record<string, unknown> = {
    SOPClassUID: CT_IMAGE_STORAGE,
    SOPInstanceUID: spec.sopInstanceUid,
    Modality: spec.modality ?? 'CT',
    PatientID: spec.patientId,
    StudyInstanceUID: spec.studyInstanceUid,
    SeriesInstanceUID: spec.seriesInstanceUid,
    ...(spec.instanceNumber !== undefined ? { InstanceNumber: spec.instanceNumber } : {}),
    ...(spec.imagePositionPatient ? { ImagePositionPatient: spec.imagePositionPatient } : {}),
    ...(spec.imageOrientationPatient
      ? { ImageOrientationPatient: spec.imageOrientationPatient }
      : {}),
    ...(spec.pixelSpacing ? { PixelSpacing: spec.pixelSpacing } : {}),
    ...(spec.sliceThickness !== undefined ? { SliceThickness: spec.sliceThickness } : {}),
    SamplesPerPixel: 1,
    PhotometricInterpretation: photometric,
    Rows: spec.rows,
    Columns: spec.cols,
    BitsAllocated: spec.bitsAllocated,
    BitsStored: spec.bitsStored,
    HighBit: spec.highBit ?? spec.bitsStored - 1,
    PixelRepresentation: spec.pixelRepresentation,
    ...(spec.windowCenter !== undefined ? { WindowCenter: spec.windowCenter } : {}),
    ...(spec.windowWidth !== undefined ? { WindowWidth: spec.windowWidth } : {}),
    ...(spec.rescaleIntercept !== undefined ? { RescaleIntercept: spec.rescaleIntercept } : {}),
    ...(spec.rescaleSlope !== undefined ? { RescaleSlope: spec.rescaleSlope } : {}),
    ...spec.extra,
    ...(nativePixels ? {} : { PixelData: [pixelValue], _vrMap: { PixelData: pixelVr } }),
  };
  return encodeDataset(ds, { ...opts, transferSyntax: syntaxUid }, nativePixels);
}

/**
 * A native (7FE0,0010) element as bytes (PS3.5 §7.1): tag, VR and 32-bit length for explicit
 * VR (§7.1.2), tag and length for implicit VR (§7.1.3); 16-bit samples byte-swapped for big
 * endian; padded to even length.
 */
function pixelDataElement(
  raw: Uint8Array,
  vr: 'OW' | 'OB',
  implicit: boolean,
  littleEndian: boolean,
  bitsAllocated: number,
): Uint8Array {
  const length = raw.length + (raw.length % 2);
  const header = implicit ? 8 : 12;
  const out = new Uint8Array(header + length);
  const view = new DataView(out.buffer);
  view.setUint16(0, 0x7fe0, littleEndian);
  view.setUint16(2, 0x0010, littleEndian);
  if (implicit) {
    view.setUint32(4, length, littleEndian);
  } else {
    out[4] = vr.charCodeAt(0);
    out[5] = vr.charCodeAt(1);
    view.setUint32(8, length, littleEndian);
  }
  out.set(raw, header);
  if (!littleEndian && bitsAllocated === 16) swap16(out.subarray(header, header + raw.length));
  return out;
}

/**
 * Encodes any data set given in dcmjs' naturalized form (keyword → value). Pixel data, when
 * present, must already be in the target syntax's form.
 */
export function encodeDataset(
  ds: Record<string, unknown>,
  opts: WriteOptions = {},
  /** Encoded elements to append after the data set (they must sort after all of its tags). */
  trailing?: Uint8Array,
): Uint8Array {
  const syntaxUid = opts.transferSyntax ?? EXPLICIT_VR_LE;
  const syntax = findTransferSyntax(syntaxUid);
  if (!syntax) throw new ConfigError(`cannot write transfer syntax ${syntaxUid}`);
  if (
    opts.preamble === false &&
    (!syntax.littleEndian || syntax.deflated || syntax.pixels !== 'native')
  ) {
    throw new ConfigError(
      `a bare data set (preamble: false) must be implicit or explicit VR little endian, received ${syntaxUid}`,
    );
  }
  const meta = dcmjs.data.DicomMetaDictionary.denaturalizeDataset({
    FileMetaInformationVersion: new Uint8Array([0, 1]).buffer,
    MediaStorageSOPClassUID: (ds.SOPClassUID as string | undefined) ?? CT_IMAGE_STORAGE,
    MediaStorageSOPInstanceUID: (ds.SOPInstanceUID as string | undefined) ?? '',
    // dcmjs encodes the data set itself; deflation is applied to its bytes below.
    TransferSyntaxUID: syntax.deflated ? EXPLICIT_VR_LE : syntaxUid,
    ImplementationClassUID: IMPLEMENTATION_CLASS_UID,
    ImplementationVersionName: IMPLEMENTATION_VERSION_NAME,
    _vrMap: { FileMetaInformationVersion: 'OB' },
  });
  const dict = new dcmjs.data.DicomDict(meta);
  dict.dict = dcmjs.data.DicomMetaDictionary.denaturalizeDataset(ds);
  const written = new Uint8Array(
    dict.write({ allowInvalidVRLength: true, fragmentMultiframe: false }),
  );
  let file = written;
  if (trailing) {
    file = new Uint8Array(written.length + trailing.length);
    file.set(written, 0);
    file.set(trailing, written.length);
  }
  const dataStart = datasetOffset(file);
  if (opts.preamble === false) return file.slice(dataStart);
  if (!syntax.deflated) return file;
  return withDeflatedDataset(file, dataStart, syntaxUid);
}

/** Byte offset of the data set in a Part 10 file written by dcmjs: after the meta group. */
function datasetOffset(file: Uint8Array): number {
  // 128-byte preamble, 'DICM', then (0002,0000) UL: tag 4 + VR 2 + length 2 + value 4.
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const groupLength = view.getUint32(132 + 8, true);
  return 132 + 12 + groupLength;
}

/** Rewrites the meta group's TransferSyntaxUID as deflated and deflates the data set (PS3.5 A.5). */
function withDeflatedDataset(file: Uint8Array, dataStart: number, uid: string): Uint8Array {
  const body = deflateRawSync(file.subarray(dataStart));
  const metaDs = dcmjs.data.DicomMessage.readFile(file.slice(0, dataStart).buffer as ArrayBuffer, {
    ignoreErrors: true,
  }).meta;
  metaDs['00020010'] = { vr: 'UI', Value: [uid] };
  const dict = new dcmjs.data.DicomDict(metaDs);
  dict.dict = {};
  const head = new Uint8Array(dict.write());
  const out = new Uint8Array(head.length + body.length);
  out.set(head, 0);
  out.set(body, head.length);
  return out;
}

/**
 * JPEG (ITU T.81) codes samples in [0, 2^P − 1] with P = BitsStored, so signed values go in as
 * their P-bit two's complement pattern, which the reader sign-extends back. Sign-extended 16-bit
 * words would reach the codec as out-of-range samples, which the lossless predictors 5–7 (with
 * their halving) corrupt.
 */
function jpegSamples(raw: Uint8Array, spec: WriteSliceSpec): Uint8Array {
  const bytes = raw.slice();
  if (spec.bitsAllocated !== 16 || spec.bitsStored >= 16) return bytes;
  const mask = 2 ** spec.bitsStored - 1;
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const v = (bytes[i]! | (bytes[i + 1]! << 8)) & mask;
    bytes[i] = v & 0xff;
    bytes[i + 1] = v >> 8;
  }
  return bytes;
}

function swap16(bytes: Uint8Array): void {
  for (let i = 0; i + 1 < bytes.length; i += 2) {
    const t = bytes[i]!;
    bytes[i] = bytes[i + 1]!;
    bytes[i + 1] = t;
  }
}

/** Encapsulated fragments must have even length (PS3.5 A.4): pad with one zero byte. */
function evenCopy(frame: Uint8Array): ArrayBuffer {
  const out = new Uint8Array(frame.length + (frame.length % 2));
  out.set(frame);
  return out.buffer;
}
