/**
 * Transfer syntaxes (DICOM PS3.5 §10 and Annex A; UIDs from PS3.6 Annex A).
 * One table says, for every syntax ichdet knows, how its pixel data is stored and which codec
 * decodes it, so the reader never special-cases a UID elsewhere.
 */

export type PixelEncoding =
  | 'native'
  | 'rle'
  | 'jpeg'
  | 'jpegls'
  | 'jpeg2000'
  | 'htj2k'
  | 'jpegxl'
  | 'encapsulated-uncompressed';

/** Whether pixel data in this encoding goes through the codecs (`initCodecs` first). */
export function needsCodecs(pixels: PixelEncoding): boolean {
  return pixels !== 'native' && pixels !== 'encapsulated-uncompressed';
}

export interface TransferSyntax {
  uid: string;
  name: string;
  /** Implicit VR (only 1.2.840.10008.1.2). */
  implicitVr: boolean;
  littleEndian: boolean;
  /** The data set after the file meta group is deflated (RFC 1951) — PS3.5 A.5. */
  deflated: boolean;
  pixels: PixelEncoding;
  lossy: boolean;
}

const ts = (
  uid: string,
  name: string,
  pixels: PixelEncoding,
  extra: Partial<Omit<TransferSyntax, 'uid' | 'name' | 'pixels'>> = {},
): TransferSyntax => ({
  uid,
  name,
  pixels,
  implicitVr: false,
  littleEndian: true,
  deflated: false,
  lossy: false,
  ...extra,
});

export const IMPLICIT_VR_LE = '1.2.840.10008.1.2';
export const EXPLICIT_VR_LE = '1.2.840.10008.1.2.1';
export const DEFLATED_EXPLICIT_VR_LE = '1.2.840.10008.1.2.1.99';
export const EXPLICIT_VR_BE = '1.2.840.10008.1.2.2';
export const ENCAPSULATED_UNCOMPRESSED = '1.2.840.10008.1.2.1.98';
export const RLE_LOSSLESS = '1.2.840.10008.1.2.5';
export const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';
export const JPEG_EXTENDED = '1.2.840.10008.1.2.4.51';
export const JPEG_LOSSLESS = '1.2.840.10008.1.2.4.57';
export const JPEG_LOSSLESS_SV1 = '1.2.840.10008.1.2.4.70';
export const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';
export const JPEG_LS_NEAR_LOSSLESS = '1.2.840.10008.1.2.4.81';
export const JPEG2000_LOSSLESS = '1.2.840.10008.1.2.4.90';
export const JPEG2000 = '1.2.840.10008.1.2.4.91';
export const HTJ2K_LOSSLESS = '1.2.840.10008.1.2.4.201';
export const HTJ2K_LOSSLESS_RPCL = '1.2.840.10008.1.2.4.202';
export const HTJ2K = '1.2.840.10008.1.2.4.203';
export const JPEG_XL_LOSSLESS = '1.2.840.10008.1.2.4.110';
export const JPEG_XL_RECOMPRESSION = '1.2.840.10008.1.2.4.111';
export const JPEG_XL = '1.2.840.10008.1.2.4.112';

/** Every syntax ichdet decodes. */
export const SUPPORTED_SYNTAXES: readonly TransferSyntax[] = [
  ts(IMPLICIT_VR_LE, 'Implicit VR Little Endian', 'native', { implicitVr: true }),
  ts(EXPLICIT_VR_LE, 'Explicit VR Little Endian', 'native'),
  ts(DEFLATED_EXPLICIT_VR_LE, 'Deflated Explicit VR Little Endian', 'native', { deflated: true }),
  ts(EXPLICIT_VR_BE, 'Explicit VR Big Endian', 'native', { littleEndian: false }),
  ts(
    ENCAPSULATED_UNCOMPRESSED,
    'Encapsulated Uncompressed Explicit VR Little Endian',
    'encapsulated-uncompressed',
  ),
  ts(RLE_LOSSLESS, 'RLE Lossless', 'rle'),
  ts(JPEG_BASELINE, 'JPEG Baseline (Process 1)', 'jpeg', { lossy: true }),
  ts(JPEG_EXTENDED, 'JPEG Extended (Process 2 & 4)', 'jpeg', { lossy: true }),
  ts(JPEG_LOSSLESS, 'JPEG Lossless, Non-Hierarchical (Process 14)', 'jpeg'),
  ts(
    JPEG_LOSSLESS_SV1,
    'JPEG Lossless, Non-Hierarchical, First-Order Prediction (Process 14 [Selection Value 1])',
    'jpeg',
  ),
  ts(JPEG_LS_LOSSLESS, 'JPEG-LS Lossless', 'jpegls'),
  ts(JPEG_LS_NEAR_LOSSLESS, 'JPEG-LS Lossy (Near-Lossless)', 'jpegls', { lossy: true }),
  ts(JPEG2000_LOSSLESS, 'JPEG 2000 Lossless Only', 'jpeg2000'),
  ts(JPEG2000, 'JPEG 2000', 'jpeg2000', { lossy: true }),
  ts(HTJ2K_LOSSLESS, 'High-Throughput JPEG 2000 Lossless Only', 'htj2k'),
  ts(HTJ2K_LOSSLESS_RPCL, 'High-Throughput JPEG 2000 with RPCL Options Lossless Only', 'htj2k'),
  ts(HTJ2K, 'High-Throughput JPEG 2000', 'htj2k', { lossy: true }),
  ts(JPEG_XL_LOSSLESS, 'JPEG XL Lossless', 'jpegxl'),
  ts(JPEG_XL_RECOMPRESSION, 'JPEG XL JPEG Recompression', 'jpegxl'),
  ts(JPEG_XL, 'JPEG XL', 'jpegxl', { lossy: true }),
];

/** Names of syntaxes ichdet recognises but cannot decode, so the error can name them. */
const UNSUPPORTED_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.4.53': 'JPEG Spectral Selection, Non-Hierarchical (Process 6 & 8) (retired)',
  '1.2.840.10008.1.2.4.55': 'JPEG Full Progression, Non-Hierarchical (Process 10 & 12) (retired)',
  '1.2.840.10008.1.2.4.58': 'JPEG Lossless, Non-Hierarchical (Process 15) (retired)',
  '1.2.840.10008.1.2.4.92': 'JPEG 2000 Part 2 Multi-component Lossless Only',
  '1.2.840.10008.1.2.4.93': 'JPEG 2000 Part 2 Multi-component',
  '1.2.840.10008.1.2.4.94': 'JPIP Referenced',
  '1.2.840.10008.1.2.4.95': 'JPIP Referenced Deflate',
  '1.2.840.10008.1.2.4.100': 'MPEG2 Main Profile / Main Level',
  '1.2.840.10008.1.2.4.101': 'MPEG2 Main Profile / High Level',
  '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264 High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1',
  '1.2.840.10008.1.2.4.104': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video',
  '1.2.840.10008.1.2.4.105': 'MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video',
  '1.2.840.10008.1.2.4.106': 'MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2',
  '1.2.840.10008.1.2.4.107': 'HEVC/H.265 Main Profile / Level 5.1',
  '1.2.840.10008.1.2.4.108': 'HEVC/H.265 Main 10 Profile / Level 5.1',
  '1.2.840.10008.1.2.6.1': 'RFC 2557 MIME encapsulation (retired)',
  '1.2.840.10008.1.2.6.2': 'XML Encoding (retired)',
  '1.2.840.10008.1.2.7.1': 'SMPTE ST 2110-20 Uncompressed Progressive Active Video',
};

const BY_UID = new Map(SUPPORTED_SYNTAXES.map((s) => [s.uid, s]));

/** The syntax for a UID, or undefined when ichdet cannot decode it. */
export function findTransferSyntax(uid: string): TransferSyntax | undefined {
  return BY_UID.get(uid);
}

/** A human name for any UID ichdet knows of, supported or not. */
export function transferSyntaxName(uid: string): string | undefined {
  return BY_UID.get(uid)?.name ?? UNSUPPORTED_NAMES[uid];
}
