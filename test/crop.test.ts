/**
 * `--crop head`: the head's box on a constructed HU image (the table left out), the cropped
 * 8-bit windows against cropping by hand, Grad-CAM maps placed back on the box, a resumed
 * prepare with another crop refused, and `ichdet info` naming the crop.
 */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { exportSlice } from '../src/commands/export.js';
import { cacheInfo, formatCacheInfo } from '../src/commands/info.js';
import { prepare } from '../src/commands/prepare.js';
import { synth } from '../src/commands/synth.js';
import { HEAD_MARGIN, headBox, OUTSIDE_HU } from '../src/dicom/crop.js';
import { placeMap } from '../src/dicom/place.js';
import { windowedImage, windowedImageUint8 } from '../src/dicom/preprocess.js';
import { toUint8 } from '../src/dicom/quantize.js';
import { readSlice } from '../src/dicom/read.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { camToBox, camToSlice } from '../src/infer/gradcam.js';
import { decodeNpy } from '../src/io/npy.js';

/**
 * A rows × cols HU image: −1000 air, a filled ellipse "head" of 0 HU (with a 60 HU texture so
 * windowing has something to show) centred at (cy, cx) with semi-axes (ry, rx), and a 2 px line
 * of 0 HU at `tableRow` (a table) across most of the width.
 */
function phantom(
  rows: number,
  cols: number,
  e: { cy: number; cx: number; ry: number; rx: number },
  tableRow: number,
): { hu: Float32Array; r0: number; r1: number; c0: number; c1: number } {
  const hu = new Float32Array(rows * cols).fill(-1000);
  let r0 = rows;
  let r1 = -1;
  let c0 = cols;
  let c1 = -1;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      if (((r - e.cy) / e.ry) ** 2 + ((c - e.cx) / e.rx) ** 2 <= 1) {
        hu[r * cols + c] = ((r * 7 + c * 13) % 11) * 6;
        r0 = Math.min(r0, r);
        r1 = Math.max(r1, r);
        c0 = Math.min(c0, c);
        c1 = Math.max(c1, c);
      }
    }
  }
  for (const r of [tableRow, tableRow + 1]) {
    for (let c = 5; c < cols - 5; c++) hu[r * cols + c] = 0;
  }
  return { hu, r0, r1, c0, c1 };
}

describe('headBox', () => {
  it('boxes the ellipse (square, 4% margin) and leaves out a thin table line', () => {
    const rows = 100;
    const cols = 120;
    const p = phantom(rows, cols, { cy: 42, cx: 60, ry: 30, rx: 22 }, 80);
    // The ellipse's own bounding box, rows 12..72 and cols 38..82.
    expect([p.r0, p.r1, p.c0, p.c1]).toEqual([12, 72, 38, 82]);
    const h = p.r1 - p.r0 + 1;
    const side = Math.round(Math.max(h, p.c1 - p.c0 + 1) * (1 + 2 * HEAD_MARGIN));
    expect(side).toBe(66);
    // Centred on the ellipse: (12 + 72 + 1 − 66) / 2 = 9.5 → 10, (38 + 82 + 1 − 66) / 2 = 27.5 → 28.
    expect(headBox(p.hu, rows, cols)).toEqual({ top: 10, left: 28, side: 66 });
    // With the table counted the box would reach row 81 and span the width.
  });

  it('is null on a blank image and on a speck smaller than 1% of it', () => {
    expect(headBox(new Float32Array(64 * 64).fill(-1000), 64, 64)).toBeNull();
    const speck = new Float32Array(64 * 64).fill(-1000);
    for (let r = 30; r < 36; r++) for (let c = 30; c < 36; c++) speck[r * 64 + c] = 40;
    expect(headBox(speck, 64, 64)).toBeNull();
  });
});

describe('windowedImageUint8 with crop head', () => {
  it('equals cropping the HU by hand (air outside the image) then windowing and resizing', () => {
    const rows = 80;
    const cols = 90;
    // A head near the left edge, so the square runs past the image and reads as air there.
    const p = phantom(rows, cols, { cy: 38, cx: 18, ry: 28, rx: 20 }, 72);
    const box = headBox(p.hu, rows, cols)!;
    expect(box.left).toBeLessThan(0);
    const { top, left, side } = box;
    const cropped = new Float32Array(side * side);
    for (let y = 0; y < side; y++) {
      for (let x = 0; x < side; x++) {
        const r = top + y;
        const c = left + x;
        cropped[y * side + x] =
          r >= 0 && r < rows && c >= 0 && c < cols ? p.hu[r * cols + c]! : OUTSIDE_HU;
      }
    }
    const windows = [
      { center: 40, width: 80 },
      { center: 80, width: 200 },
      { center: 600, width: 2800 },
    ];
    const want = toUint8(
      windowedImage({ hu: cropped, rows: side, cols: side }, { windows, size: 32 }).data,
    );
    const got = windowedImageUint8({ hu: p.hu, rows, cols }, { windows, size: 32, crop: 'head' });
    expect([got.height, got.width, got.channels]).toEqual([32, 32, 3]);
    expect(Array.from(got.data)).toEqual(Array.from(want));
    // And it differs from the uncropped image.
    const whole = windowedImageUint8({ hu: p.hu, rows, cols }, { windows, size: 32 });
    expect(Array.from(whole.data)).not.toEqual(Array.from(want));
  });
});

describe('placing a map on the crop box', () => {
  // A 2×2 map upsampled to 4×4 (bilinear, half-pixel centres, edges clamped): along an axis the
  // source coordinates are −0.25, 0.25, 0.75, 1.25 → weights of the second sample 0, ¼, ¾, 1.
  const f = [0, 0.25, 0.75, 1];
  const map = Float32Array.from([1, 2, 3, 4]); // value = 1 + x + 2y
  const up = (y: number, x: number) => 1 + f[x]! + 2 * f[y]!;

  it('upsamples to the side and puts it at (top, left), zero outside, normalised', () => {
    const rows = 6;
    const cols = 8;
    const out = camToBox(map, 2, 2, rows, cols, { top: 1, left: 2, side: 4 });
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) {
        const inside = r >= 1 && r < 5 && c >= 2 && c < 6;
        expect(out[r * cols + c]).toBeCloseTo(inside ? up(r - 1, c - 2) / 4 : 0, 6);
      }
    }
  });

  it('clips a box that runs past the slice', () => {
    // Box rows −1..2 and cols −2..1 on a 3×3 slice: slice (r, c) is box (r + 1, c + 2).
    const out = placeMap(map, 2, 2, 3, 3, { top: -1, left: -2, side: 4 });
    const want = [0, 1, 2].flatMap((r) => [0, 1, 2].map((c) => (c < 2 ? up(r + 1, c + 2) : 0)));
    expect(Array.from(out).map((v) => Number(v.toFixed(6)))).toEqual(
      want.map((v) => Number(v.toFixed(6))),
    );
    // Normalised by the visible maximum, box (3, 3) = 4.
    expect(camToBox(map, 2, 2, 3, 3, { top: -1, left: -2, side: 4 })[2 * 3 + 1]).toBeCloseTo(1, 6);
  });

  it('equals camToSlice without a box', () => {
    const raw = Float32Array.from({ length: 7 * 7 }, (_, i) => Math.sin(i * 1.7) * 3 - 0.5);
    expect(Array.from(camToBox(raw, 7, 7, 40, 50, null))).toEqual(
      Array.from(camToSlice(raw, 7, 7, 40, 50)),
    );
  });
});

describe('prepare --crop head', () => {
  it('refuses to resume a cache with another crop, naming the field, and info shows the crop', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ichdet-crop-'));
    const data = join(dir, 'synth');
    await synth({
      out: data,
      patients: 2,
      slicesPerSeries: '8:8',
      size: 64,
      difficulty: 'easy',
      seed: 3,
      workers: 1,
      progress: false,
    });
    const common = {
      images: join(data, 'stage_2_train'),
      labels: join(data, 'stage_2_train.csv'),
      out: join(dir, 'cache'),
      size: 32,
      workers: 1,
      progress: false,
    };
    await prepare({ ...common, crop: 'head' });
    // export --crop head writes what the cache holds before quantisation, and the box.
    const file = join(common.images, readdirSync(common.images).sort()[3]!);
    const ex = await exportSlice({ file, out: join(dir, 'x.npy'), size: 32, crop: 'head' });
    const slice = await readSlice(file);
    expect(ex.cropBox).toEqual(headBox(slice.hu, slice.rows, slice.cols));
    expect(ex.cropBox).not.toBeNull();
    expect(ex.shape).toEqual([32, 32, 3]);
    const want = windowedImage(slice, { windows: DEFAULT_WINDOWS, size: 32, crop: 'head' }).data;
    expect(Array.from(decodeNpy(readFileSync(ex.out)).data as Float32Array)).toEqual(
      Array.from(want),
    );
    const info = cacheInfo(common.out);
    expect(info.config.crop).toBe('head');
    expect(formatCacheInfo(info)).toMatch(/rsna fix on, crop head, record/);
    await expect(prepare({ ...common, crop: 'none' })).rejects.toThrow(
      /has crop head, expected none/,
    );
  }, 60_000);
});
