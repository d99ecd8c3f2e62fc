/**
 * The key image: the slice most likely positive, in the brain window (centre 40, width 80),
 * with the Grad-CAM heatmap blended over it when there is one (infer/gradcam.ts' jet blend),
 * magnified to at least 512 columns, under a burned-in banner that says what it is — an
 * UNVERIFIED AI result, not for diagnostic use — and the finding. Written as a Secondary Capture
 * Image (PS3.3 §A.8.1), RGB, in the source study as a new series.
 */
import { encodeDataset } from '../dicom/write.js';
import { jet } from '../infer/gradcam.js';
import { drawText, GLYPH_H, GLYPH_W } from './font.js';
import {
  commonAttributes,
  dicomDateTime,
  type ResultUids,
  type SliceReference,
  type StudyContext,
} from './sr.js';

export const SECONDARY_CAPTURE_STORAGE = '1.2.840.10008.5.1.4.1.1.7';

export interface KeyImage {
  /** rows × cols × 3, 8-bit. */
  rgb: Uint8Array;
  rows: number;
  cols: number;
  /** Rows of the banner at the top (the slice is below it). */
  bannerRows: number;
  /** The slice's magnification. */
  zoom: number;
}

/** Font pixel size in image pixels. */
const SCALE = 2;
const LINE = (GLYPH_H + 3) * SCALE;
const BANNER_BG: [number, number, number] = [110, 0, 0];
const BANNER_FG: [number, number, number] = [255, 255, 0];

/**
 * The key image of a slice: `gray` (rows × cols, the brain window in [0, 1]), `map` (rows ×
 * cols in [0, 1], or null: no heatmap), magnified by the smallest whole factor that reaches 512
 * columns (nearest neighbour), under a banner of `lines`.
 */
export function renderKeyImage(
  gray: Float32Array,
  rows: number,
  cols: number,
  map: Float32Array | null,
  lines: readonly string[],
): KeyImage {
  if (gray.length !== rows * cols || (map !== null && map.length !== rows * cols)) {
    throw new RangeError(
      `key image needs ${rows * cols} pixels, received ${gray.length} and ${map?.length ?? 'no map'}`,
    );
  }
  const zoom = Math.max(1, Math.ceil(512 / cols));
  const W = cols * zoom;
  const bannerRows = lines.length * LINE + 2 * SCALE;
  const H = bannerRows + rows * zoom;
  const rgb = new Uint8Array(W * H * 3);
  for (let i = 0; i < W * bannerRows; i++) rgb.set(BANNER_BG, 3 * i);
  for (const [k, line] of lines.entries()) {
    drawText(rgb, W, H, line, 2 * SCALE, 2 * SCALE + k * LINE, SCALE, BANNER_FG);
  }
  for (let y = 0; y < rows * zoom; y++) {
    const sy = Math.floor(y / zoom);
    for (let x = 0; x < W; x++) {
      const i = sy * cols + Math.floor(x / zoom);
      const g = 255 * Math.min(1, Math.max(0, gray[i]!));
      const o = 3 * ((bannerRows + y) * W + x);
      if (map === null) {
        const v = Math.round(g);
        rgb[o] = v;
        rgb[o + 1] = v;
        rgb[o + 2] = v;
      } else {
        const m = map[i]!;
        const a = 0.5 * m;
        const [r, gg, b] = jet(m);
        rgb[o] = Math.round(g * (1 - a) + r * a);
        rgb[o + 1] = Math.round(g * (1 - a) + gg * a);
        rgb[o + 2] = Math.round(g * (1 - a) + b * a);
      }
    }
  }
  return { rgb, rows: H, cols: W, bannerRows, zoom };
}

/** Characters that fit on one banner line of an image `cols` wide. */
export function bannerChars(cols: number): number {
  return Math.floor((cols - 4 * SCALE) / ((GLYPH_W + 1) * SCALE));
}

/** The Secondary Capture's bytes (a Part 10 file, explicit VR little endian). */
export function buildSecondaryCapture(
  ctx: StudyContext,
  img: KeyImage,
  source: SliceReference & { seriesUid: string },
  uids: ResultUids,
  now: Date,
  description: string,
  seriesNumber = 9902,
): Uint8Array {
  const { date, time } = dicomDateTime(now);
  const pixels = img.rgb.length % 2 === 0 ? img.rgb : new Uint8Array(img.rgb.length + 1);
  if (pixels !== img.rgb) pixels.set(img.rgb);
  return encodeDataset({
    ...commonAttributes(ctx, now),
    SOPClassUID: SECONDARY_CAPTURE_STORAGE,
    SOPInstanceUID: uids.instanceUid,
    Modality: 'OT',
    SeriesInstanceUID: uids.seriesUid,
    SeriesNumber: seriesNumber,
    SeriesDescription: 'ichdet AI key image - UNVERIFIED, not for diagnostic use',
    ConversionType: 'WSD',
    InstanceNumber: 1,
    PatientOrientation: '',
    Laterality: '',
    ContentDate: date,
    ContentTime: time,
    ImageType: ['DERIVED', 'SECONDARY'],
    DerivationDescription: description.slice(0, 1024),
    SourceImageSequence: [
      {
        ReferencedSOPClassUID: source.sopClassUid,
        ReferencedSOPInstanceUID: source.sopInstanceUid,
      },
    ],
    BurnedInAnnotation: 'YES',
    ImageComments: 'UNVERIFIED AI result: not for diagnostic use',
    SamplesPerPixel: 3,
    PhotometricInterpretation: 'RGB',
    PlanarConfiguration: 0,
    Rows: img.rows,
    Columns: img.cols,
    BitsAllocated: 8,
    BitsStored: 8,
    HighBit: 7,
    PixelRepresentation: 0,
    PixelData: [pixels.buffer.slice(pixels.byteOffset, pixels.byteOffset + pixels.byteLength)],
    _vrMap: { PixelData: 'OB' },
  });
}
