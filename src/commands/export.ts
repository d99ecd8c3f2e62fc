/**
 * `ichdet export`: one slice to a NumPy `.npy` (float32 HU, H × W; or windows, H × W × C) or an
 * 8-bit PNG for viewing — the format users compare against pydicom + NumPy.
 */
import { extname } from 'node:path';
import type { CropBox } from '../dicom/crop.js';
import {
  CROP_MODES,
  type CropMode,
  huImage,
  preprocessGrid,
  validatePreprocessConfig,
  windowedImage,
} from '../dicom/preprocess.js';
import { toUint8 } from '../dicom/quantize.js';
import { CT_IMAGE_SOP_CLASSES, readSlice } from '../dicom/read.js';
import type { ResizeMethod } from '../dicom/resize.js';
import type { CtSlice } from '../dicom/slice.js';
import {
  DEFAULT_WINDOWS,
  parseWindows,
  type Window,
  type WindowLevel,
  windowStackUint8,
} from '../dicom/window.js';
import { ConfigError } from '../errors.js';
import { encodeNpy } from '../io/npy.js';
import { encodePngGray8, encodePngRgb8 } from '../io/png.js';
import { writeFileAtomic } from '../util/files.js';

export interface ExportOptions {
  /** The DICOM file. */
  file: string;
  /** Output path ending in .npy or .png. */
  out: string;
  /** Export Hounsfield units instead of windows. */
  hu?: boolean;
  /** Windows as names or center/width (`brain,subdural,soft`, `40/80`); default brain,subdural,soft. */
  windows?: string | readonly Window[];
  /** Resize to size × size. */
  size?: number;
  resizeMethod?: ResizeMethod;
  /** Apply the RSNA 12-bit intercept fix (default true). */
  rsnaFix?: boolean;
  /** `head`: crop to the square around the head first, as `prepare --crop head` (default none). */
  crop?: CropMode | string;
}

export interface ExportResult {
  out: string;
  format: 'npy' | 'png';
  shape: number[];
  dtype: 'float32' | 'uint8';
  rsnaFixApplied: boolean;
  /** With `crop: 'head'`: the square exported (null when the slice has no head to crop to). */
  cropBox?: CropBox | null;
  /** For a PNG of HU: the display window used. */
  displayWindow?: WindowLevel & { inverted: boolean };
  /**
   * What was read: export takes any single-frame greyscale image, not only the CT slices the
   * pipeline accepts; `ct` says whether `prepare` and `predict` would take it.
   */
  read: { modality: string; sopClassUid: string; ct: boolean };
}

/** Validates options before any file is read. */
export function resolveExportOptions(o: ExportOptions): {
  format: 'npy' | 'png';
  windows: readonly Window[] | undefined;
  crop: CropMode;
} {
  const ext = extname(o.out).toLowerCase();
  if (ext !== '.npy' && ext !== '.png') {
    throw new ConfigError(`--out must end in .npy or .png, received "${o.out}"`);
  }
  if (o.hu && o.windows !== undefined) {
    throw new ConfigError('--hu and --windows exclude each other: export HU or windows, not both');
  }
  const windows = o.hu
    ? undefined
    : typeof o.windows === 'string'
      ? parseWindows(o.windows)
      : (o.windows ?? DEFAULT_WINDOWS);
  if (o.size !== undefined && (!Number.isInteger(o.size) || o.size < 1)) {
    throw new ConfigError(`--size must be a positive integer, received ${o.size}`);
  }
  const crop = (o.crop ?? 'none') as CropMode;
  if (!(CROP_MODES as readonly string[]).includes(crop)) {
    throw new ConfigError(`--crop must be one of ${CROP_MODES.join(', ')}, received "${o.crop}"`);
  }
  if (windows) validatePreprocessConfig({ windows, size: o.size });
  if (ext === '.png' && windows && windows.length !== 1 && windows.length !== 3) {
    throw new ConfigError(
      `a PNG holds 1 (grey) or 3 (RGB) windows, received ${windows.length}; use .npy for other counts`,
    );
  }
  return { format: ext === '.npy' ? 'npy' : 'png', windows, crop };
}

export async function exportSlice(o: ExportOptions): Promise<ExportResult> {
  const { format, windows, crop } = resolveExportOptions(o);
  const slice = await readSlice(o.file, { rsnaFix: o.rsnaFix ?? true });
  const method = o.resizeMethod ?? 'auto';
  const grid = preprocessGrid(slice, crop);
  const img = windows
    ? windowedImage(grid, { windows, size: o.size, resizeMethod: method })
    : huImage({ ...slice, hu: grid.hu, rows: grid.rows, cols: grid.cols }, o.size, method);
  const shape = windows ? [img.height, img.width, img.channels] : [img.height, img.width];
  const sopClassUid = slice.sopClassUid ?? '';
  const read = {
    modality: slice.modality,
    sopClassUid,
    ct: slice.modality === 'CT' || (slice.modality === '' && CT_IMAGE_SOP_CLASSES.has(sopClassUid)),
  };
  const result = {
    out: o.out,
    format,
    shape,
    rsnaFixApplied: slice.rsnaFixApplied,
    read,
    ...(crop === 'head' && { cropBox: grid.box }),
  };
  if (format === 'npy') {
    await writeFileAtomic(o.out, encodeNpy(img.data, shape));
    return { ...result, dtype: 'float32' };
  }
  if (!windows) {
    const display = displayWindow(slice);
    const bytes = windowStackUint8(img.data, [display]);
    if (display.inverted) for (let i = 0; i < bytes.length; i++) bytes[i] = 255 - bytes[i]!;
    await writeFileAtomic(o.out, encodePngGray8(bytes, img.height, img.width));
    return { ...result, dtype: 'uint8', displayWindow: display };
  }
  const bytes = toUint8(img.data);
  const png =
    img.channels === 1
      ? encodePngGray8(bytes, img.height, img.width)
      : encodePngRgb8(bytes, img.height, img.width);
  await writeFileAtomic(o.out, png);
  return { ...result, dtype: 'uint8' };
}

/**
 * How a viewer shows the slice: the file's first WindowCenter/Width (brain 40/80 when absent),
 * and MONOCHROME1 inverted — the minimum value is white (PS3.3 C.7.6.3.1.2). HU themselves are
 * never inverted: photometric interpretation applies after the Modality and VOI LUTs.
 */
export function displayWindow(slice: CtSlice): WindowLevel & { inverted: boolean } {
  const c = slice.windowCenter[0];
  const w = slice.windowWidth[0];
  const ok = c !== undefined && w !== undefined && w > 0;
  return {
    center: ok ? c : 40,
    width: ok ? w : 80,
    inverted: slice.photometricInterpretation === 'MONOCHROME1',
  };
}
