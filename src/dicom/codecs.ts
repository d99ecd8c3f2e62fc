/**
 * Compressed pixel data: one place that knows the wasm codecs (dcmjs-codecs bundles DCMTK's
 * IJG JPEG, CharLS, OpenJPEG, OpenJPH, libjxl and an RLE codec in one WebAssembly module that
 * installs offline from npm). Decoding is synchronous once `initCodecs()` has resolved; the
 * module itself (and dcmjs, which it loads) is imported then, not before, so a thread that only
 * meets uncompressed files never loads it (~50–100 ms of start-up per decoding thread).
 * A synchronous decode that meets a compressed frame first throws `CodecsNotLoadedError`;
 * `withCodecs` (read.ts) loads them and decodes again.
 */
import type codecsModuleType from 'dcmjs-codecs';
import type { PixelEncoding } from './syntax.js';

type Codecs = typeof codecsModuleType;

let codecs: Codecs | undefined;
let ready: Promise<void> | undefined;

/** Loads the codec WebAssembly once per thread; later calls return the same promise. */
export function initCodecs(): Promise<void> {
  ready ??= (async () => {
    // A CommonJS module: its exports are the namespace's default.
    const ns = (await import('dcmjs-codecs')) as unknown as { default?: Codecs } & Codecs;
    const m = ns.default ?? ns;
    await m.NativeCodecs.initializeAsync({ logCodecsInfo: false, logCodecsTrace: false });
    codecs = m;
  })();
  return ready;
}

export function codecsReady(): boolean {
  return codecs !== undefined;
}

/** Thrown by `decodeFrame`/`encodeFrame` before `initCodecs()` has resolved in this thread. */
export class CodecsNotLoadedError extends Error {
  override name = 'CodecsNotLoadedError';
  constructor() {
    super('the compressed-pixel codecs are not loaded; await initCodecs() first');
  }
}

function loaded(): Codecs {
  if (codecs === undefined) throw new CodecsNotLoadedError();
  return codecs;
}

/** What a codec needs to know about the frame it decodes or encodes. */
export interface FrameInfo {
  rows: number;
  cols: number;
  bitsAllocated: number;
  bitsStored: number;
  pixelRepresentation: 0 | 1;
  samplesPerPixel: number;
  photometricInterpretation: string;
}

function context(
  Context: Codecs['Context'],
  info: FrameInfo,
  buffers: { encoded?: Uint8Array; decoded?: Uint8Array },
) {
  return new Context({
    width: info.cols,
    height: info.rows,
    bitsAllocated: info.bitsAllocated,
    bitsStored: info.bitsStored,
    samplesPerPixel: info.samplesPerPixel,
    pixelRepresentation: info.pixelRepresentation,
    planarConfiguration: 0,
    photometricInterpretation: info.photometricInterpretation,
    ...(buffers.encoded ? { encodedBuffer: buffers.encoded } : {}),
    ...(buffers.decoded ? { decodedBuffer: buffers.decoded } : {}),
  });
}

/**
 * Decodes one compressed frame into little-endian stored values (BitsAllocated/8 bytes per
 * sample). Throws the codec's own error message; the caller names the file.
 */
export function decodeFrame(
  encoding: PixelEncoding,
  frame: Uint8Array,
  info: FrameInfo,
): Uint8Array {
  const { NativeCodecs, Context } = loaded();
  const ctx = context(Context, info, { encoded: frame });
  let out: InstanceType<typeof Context>;
  switch (encoding) {
    case 'rle':
      out = NativeCodecs.decodeRle(ctx);
      break;
    case 'jpeg':
      out = NativeCodecs.decodeJpeg(ctx, { convertColorspaceToRgb: false });
      break;
    case 'jpegls':
      out = NativeCodecs.decodeJpegLs(ctx);
      break;
    case 'jpeg2000':
      out = NativeCodecs.decodeJpeg2000(ctx);
      break;
    case 'htj2k':
      // OpenJPH decodes only HT codestreams and traps ("unreachable") on a Part 1 one, which
      // the HTJ2K syntaxes may carry; OpenJPEG decodes both, so it takes those.
      out = hasHtCapability(frame)
        ? NativeCodecs.decodeHtJpeg2000(ctx)
        : NativeCodecs.decodeJpeg2000(ctx);
      break;
    case 'jpegxl':
      out = NativeCodecs.decodeJpegXl(ctx);
      break;
    default:
      throw new Error(`no codec for pixel encoding "${encoding}"`);
  }
  const decoded = out.getDecodedBuffer();
  if (!decoded) throw new Error('the codec returned no pixels');
  return decoded;
}

/**
 * Whether a JPEG 2000 codestream declares HT block coding: a CAP marker (FF50) in its main
 * header, before the first tile-part (SOT, FF90), with Pcap^15 set (ISO/IEC 15444-1 A.5.2).
 */
export function hasHtCapability(codestream: Uint8Array): boolean {
  let i = 2; // after SOC (FF4F)
  while (i + 4 <= codestream.length && codestream[i] === 0xff) {
    const marker = codestream[i + 1]!;
    if (marker === 0x90) return false;
    const length = (codestream[i + 2]! << 8) | codestream[i + 3]!;
    // Pcap is 32 bits, Pcap^1 the most significant: Pcap^15 is 0x00020000.
    if (marker === 0x50) return i + 5 < codestream.length && (codestream[i + 5]! & 0x02) !== 0;
    i += 2 + length;
  }
  return false;
}

/** Encoder parameters, per codec (see dcmjs-codecs). */
export interface EncodeParams {
  lossy?: boolean;
  /** JPEG baseline quality 1–100. */
  quality?: number;
  /** JPEG lossless predictor (selection value) 1–7. */
  predictor?: number;
  /** JPEG-LS NEAR parameter for near-lossless coding. */
  allowedLossyError?: number;
  /** JPEG 2000 compression rate for lossy coding. */
  rate?: number;
  /** JPEG 2000 / HTJ2K progression order: 0 LRCP … 2 RPCL (ISO/IEC 15444-1 Table A.16). */
  progressionOrder?: number;
}

/** Encodes one frame of little-endian stored values; used by the writer and the tests. */
export function encodeFrame(
  encoding: PixelEncoding,
  decoded: Uint8Array,
  info: FrameInfo,
  params: EncodeParams = {},
): Uint8Array {
  const { NativeCodecs, Context } = loaded();
  const ctx = context(Context, info, { decoded });
  let out: InstanceType<typeof Context>;
  switch (encoding) {
    case 'rle':
      out = NativeCodecs.encodeRle(ctx);
      break;
    case 'jpeg':
      out = NativeCodecs.encodeJpeg(ctx, {
        lossy: params.lossy ?? false,
        quality: params.quality ?? 90,
        predictor: params.predictor ?? 1,
        pointTransform: 0,
      });
      break;
    case 'jpegls':
      out = NativeCodecs.encodeJpegLs(ctx, {
        lossy: params.lossy ?? false,
        allowedLossyError: params.allowedLossyError ?? 2,
      });
      break;
    case 'jpeg2000':
      out = NativeCodecs.encodeJpeg2000(ctx, {
        lossy: params.lossy ?? false,
        ...(params.rate !== undefined ? { rate: params.rate } : {}),
        ...(params.progressionOrder !== undefined
          ? { progressionOrder: params.progressionOrder }
          : {}),
      });
      break;
    case 'htj2k':
      out = NativeCodecs.encodeHtJpeg2000(ctx, {
        lossy: params.lossy ?? false,
        ...(params.progressionOrder !== undefined
          ? { progressionOrder: params.progressionOrder }
          : {}),
      });
      break;
    case 'jpegxl':
      out = NativeCodecs.encodeJpegXl(ctx, { lossy: params.lossy ?? false });
      break;
    default:
      throw new Error(`no encoder for pixel encoding "${encoding}"`);
  }
  const encoded = out.getEncodedBuffer();
  if (!encoded) throw new Error('the codec returned no data');
  return encoded;
}
