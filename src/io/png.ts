/**
 * 8-bit PNG files through pngjs: grayscale (colour type 0) and RGB (colour type 2) writing, and
 * reading any PNG back as 8-bit samples with as many channels as the file has (for tests,
 * masks and previews).
 */
import { Buffer } from 'node:buffer';
import { PNG } from 'pngjs';
import { ConfigError, InputError } from '../errors.js';

export interface DecodedPng {
  /** 8-bit samples, row-major, channels interleaved (HWC). */
  data: Uint8Array;
  width: number;
  height: number;
  /** 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA. */
  channels: 1 | 2 | 3 | 4;
}

function checkImage(data: Uint8Array, h: number, w: number, channels: number): void {
  for (const [field, value] of [
    ['png height', h],
    ['png width', w],
  ] as const) {
    if (!Number.isInteger(value) || value <= 0) {
      throw new ConfigError(`${field} must be a positive integer, received ${value}`);
    }
  }
  if (data.length !== h * w * channels) {
    throw new ConfigError(
      `png data length must be ${h} × ${w} × ${channels} = ${h * w * channels}, ` +
        `received ${data.length}`,
    );
  }
}

/** colorType 0 = grayscale, 2 = RGB; the input is given in the same layout, with no alpha. */
function encode(data: Uint8Array, h: number, w: number, colorType: 0 | 2): Buffer {
  const png = new PNG();
  png.width = w;
  png.height = h;
  png.data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  return PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false });
}

/**
 * Encodes an h × w 8-bit grayscale image as a colour type 0 PNG. `data` is unchanged.
 *
 * @throws ConfigError for a size that is not a positive integer or a data length other than h × w.
 */
export function encodePngGray8(data: Uint8Array, h: number, w: number): Buffer {
  checkImage(data, h, w, 1);
  return encode(data, h, w, 0);
}

/**
 * Encodes an h × w × 3 8-bit RGB image (HWC) as a colour type 2 PNG. `data` is unchanged.
 *
 * @throws ConfigError for a size that is not a positive integer or a length other than h × w × 3.
 */
export function encodePngRgb8(data: Uint8Array, h: number, w: number): Buffer {
  checkImage(data, h, w, 3);
  return encode(data, h, w, 2);
}

/**
 * Decodes a PNG to 8-bit samples (16-bit files are rescaled by pngjs, palettes expanded) with
 * 1, 2, 3 or 4 channels: gray or colour, with alpha when the file has an alpha channel or tRNS.
 *
 * @throws InputError naming `source` when the bytes are not a readable PNG.
 */
export function decodePng(bytes: Uint8Array, source = '<buffer>'): DecodedPng {
  let png: ReturnType<typeof PNG.sync.read>;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new InputError(
      `${source}: not a readable PNG: ${e instanceof Error ? e.message : String(e)}`,
    );
  }
  const { width, height } = png;
  const channels = ((png.color ? 3 : 1) + (png.alpha ? 1 : 0)) as DecodedPng['channels'];
  // pngjs always hands back RGBA; keep the channels the file has.
  const keep = channels === 1 ? [0] : channels === 2 ? [0, 3] : channels === 3 ? [0, 1, 2] : null;
  if (keep === null) return { data: new Uint8Array(png.data), width, height, channels };
  const n = width * height;
  const data = new Uint8Array(n * channels);
  for (let i = 0, o = 0; i < n; i++) {
    for (const k of keep) data[o++] = png.data[i * 4 + k]!;
  }
  return { data, width, height, channels };
}
