/**
 * `ichdet predict` and Grad-CAM: series grouping and ordering (shuffled files, tilted
 * orientation), predictions from DICOM files equal to those `evaluate` computes from the cache,
 * bad files listed and skipped, the RSNA submission format, Grad-CAM heatmaps equal to the CAM
 * of the GAP head, and the pointing game's tally against the masks (`--masks`); a model trained
 * on a `--crop head` cache (inputs and heatmaps on the head's box). The pointing game's "more
 * often than chance" is in gradcam.test.ts.
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { evaluate } from '../src/commands/evaluate.js';
import { exportOnnxCommand } from '../src/commands/export-onnx.js';
import { predict } from '../src/commands/predict.js';
import { prepare } from '../src/commands/prepare.js';
import { split } from '../src/commands/split.js';
import { contextIndices } from '../src/data/series.js';
import { LABEL_NAMES } from '../src/data/types.js';
import { headBox } from '../src/dicom/crop.js';
import { readSlice } from '../src/dicom/read.js';
import { encodeSlice } from '../src/dicom/write.js';
import { readOnnxMetadata } from '../src/infer/config.js';
import { camToSlice, GradCam, pointingHit } from '../src/infer/gradcam.js';
import { flipInput, resolveThreshold, scanFile } from '../src/infer/predict.js';
import { groupSeries, groupStudies, type SliceRef } from '../src/infer/series.js';
import { decodeNpy } from '../src/io/npy.js';
import { decodePng, encodePngGray8 } from '../src/io/png.js';
import { backbone } from '../src/models/index.js';
import { loadSavedModel } from '../src/run/checkpoint.js';
import { inputCard, parseModelCard, toInputCard } from '../src/run/model-card.js';
import { Rng } from '../src/util/rng.js';
import { tinyCache, tinyRun } from './fixtures.js';

/** A 4×4 CT slice at `ipp` with orientation `iop`. */
function slice(
  sop: string,
  series: string,
  study: string,
  ipp: [number, number, number],
  iop: [number, number, number, number, number, number],
  instanceNumber: number,
): Uint8Array {
  return encodeSlice({
    rows: 4,
    cols: 4,
    stored: Int16Array.from({ length: 16 }, (_, i) => i * 10 + 1024),
    bitsAllocated: 16,
    bitsStored: 16,
    pixelRepresentation: 1,
    rescaleIntercept: -1024,
    rescaleSlope: 1,
    patientId: 'ID_p1',
    studyInstanceUid: study,
    seriesInstanceUid: series,
    sopInstanceUid: sop,
    imagePositionPatient: ipp,
    imageOrientationPatient: iop,
    instanceNumber,
    modality: 'CT',
  });
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  const rng = new Rng(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

describe('series grouping and ordering', () => {
  // A 20° gantry tilt about x: rows along x, columns along (0, cos θ, −sin θ); the normal is
  // (0, sin θ, cos θ). Slices 5 mm apart along the normal; with a table shift the z of the
  // positions alone would order them wrongly.
  const t = (20 * Math.PI) / 180;
  const iop: [number, number, number, number, number, number] = [
    1,
    0,
    0,
    0,
    Number(Math.cos(t).toFixed(12)),
    Number((-Math.sin(t)).toFixed(12)),
  ];
  const normal = [0, Math.sin(t), Math.cos(t)] as const;
  // Slice k sits 5k mm along the normal, shifted 20k mm along the column direction (a table
  // move in the tilted plane), so the z of ImagePositionPatient decreases as k increases.
  const tilted = Array.from({ length: 8 }, (_, k) => {
    const along = 5 * k;
    const shift = 20 * k;
    const ipp: [number, number, number] = [
      -100,
      along * normal[1] + shift * Math.cos(t),
      along * normal[2] - shift * Math.sin(t),
    ].map((v) => Number(v.toFixed(9))) as [number, number, number];
    return { sop: `1.2.3.${k}`, ipp, k };
  });

  it('orders a tilted series by position along the slice normal, whatever the file order', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ichdet-series-'));
    const files = shuffled(tilted, 3).map((s) => {
      const f = join(dir, `f${s.k}.dcm`);
      // InstanceNumbers are scrambled too, so only the geometry gives the order.
      writeFileSync(f, slice(s.sop, '1.2.9', '1.2.8', s.ipp, iop, 100 - ((s.k * 3) % 8)));
      return f;
    });
    const refs = files.map((f) => {
      const r = scanFile(f, readFileSync(f));
      if (!r.ok) throw new Error(r.reason);
      return r.slice;
    });
    const [series] = groupSeries(refs);
    expect(series!.slices.map((s) => s.imageId)).toEqual(tilted.map((s) => s.sop));
    // The z of ImagePositionPatient alone would order them backwards.
    const byZ = [...tilted].sort((a, b) => a.ipp[2] - b.ipp[2]).map((s) => s.sop);
    expect(byZ).toEqual(tilted.map((s) => s.sop).reverse());
    // Positions along the unit normal: 0, 5, 10… mm.
    const pos = series!.slices.map((s) => s.position!);
    for (const [k, p] of pos.entries()) expect(p).toBeCloseTo(5 * k, 6);
  });

  it('groups slices into series and series into studies, and falls back to InstanceNumber', () => {
    const ref = (
      imageId: string,
      seriesUid: string,
      studyUid: string,
      position: number | null,
      instanceNumber: number | null,
    ): SliceRef => ({
      file: `${imageId}.dcm`,
      imageId,
      patientId: 'p',
      studyUid,
      seriesUid,
      position,
      instanceNumber,
      rows: 4,
      cols: 4,
    });
    const refs = shuffled(
      [
        ref('a1', 'A', 'S1', null, 3),
        ref('a2', 'A', 'S1', null, 1),
        ref('a3', 'A', 'S1', null, 2),
        ref('b1', 'B', 'S1', 10, null),
        ref('b2', 'B', 'S1', -5, null),
        ref('b3', 'B', 'S1', null, null),
        ref('c1', 'C', 'S2', 1, 1),
      ],
      7,
    );
    const series = groupSeries(refs);
    const order = Object.fromEntries(
      series.map((s) => [s.seriesUid, s.slices.map((r) => r.imageId)]),
    );
    expect(order).toEqual({ A: ['a2', 'a3', 'a1'], B: ['b2', 'b1', 'b3'], C: ['c1'] });
    const studies = groupStudies(series);
    expect(
      Object.fromEntries(studies.map((s) => [s.studyUid, s.series.map((x) => x.seriesUid).sort()])),
    ).toEqual({ S1: ['A', 'B'], S2: ['C'] });
  });

  it('repeats the nearest slice past the ends of a series for 2.5D context', () => {
    expect(contextIndices(0, 5, 2)).toEqual([0, 0, 0, 1, 2]);
    expect(contextIndices(4, 5, 1)).toEqual([3, 4, 4]);
    expect(contextIndices(0, 1, 1)).toEqual([0, 0, 0]);
  });
});

describe('Grad-CAM helpers', () => {
  it('normalises an upsampled map to [0, 1] with its maximum where the raw maximum was', () => {
    // 2×2 → 4×4, half-pixel bilinear: the corner pixel of the max cell keeps its value.
    const m = camToSlice(Float32Array.from([0, 2, 1, 0]), 2, 2, 4, 4);
    expect(m[3]).toBe(1);
    expect(m[12]).toBe(0.5);
    expect(m[0]).toBe(0);
    expect(Math.max(...m)).toBe(1);
  });

  it('scores a pointing-game hit when the maximum lies on a mask pixel with the bit set', () => {
    const map = [0, 0.2, 0.9, 0.1];
    expect(pointingHit(map, [0, 0, 2, 0], 2)).toBe(true);
    expect(pointingHit(map, [0, 0, 1, 0], 2)).toBe(false);
    expect(pointingHit(map, [2, 2, 0, 2], 2)).toBe(false);
  });

  it('mirrors the model input horizontally', () => {
    // One 2×2 image with 2 channels: pixel (y, x) channel c = 10y + 2x + c.
    const x = Float32Array.from([0, 1, 2, 3, 10, 11, 12, 13]);
    expect(Array.from(flipInput(x, 1, 2, 2))).toEqual([2, 3, 0, 1, 12, 13, 10, 11]);
  });
});

describe('predict on a trained model', () => {
  let dir: string;
  let data: string;
  let run: string;
  let cache: string;
  let splitCsv: string;
  /** The validation split's DICOM files and one file that is not DICOM (`notes.txt`). */
  let valDir: string;
  let valIds: Set<string>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'ichdet-predict-'));
    ({ data, cache } = await tinyCache(dir, {
      synth: { patients: 10, slicesPerSeries: '10:12', difficulty: 'easy', seed: 2 },
      size: 64,
      workers: 2,
    }));
    splitCsv = join(dir, 'split.csv');
    await split({ cache, out: splitCsv, val: 0.25, seed: 1 });
    run = join(dir, 'run');
    await tinyRun({ cache, split: splitCsv, out: run, size: 64, epochs: 2, workers: 2 });
    // The validation images' files.
    valIds = new Set<string>();
    for (const line of readFileSync(splitCsv, 'utf8').trim().split('\n').slice(1)) {
      const [id, name] = line.split(',');
      if (name === 'val') valIds.add(id!);
    }
    valDir = join(dir, 'val-dicom');
    mkdirSync(valDir);
    for (const id of valIds) {
      copyFileSync(join(data, 'stage_2_train', `${id}.dcm`), join(valDir, `${id}.dcm`));
    }
    writeFileSync(join(valDir, 'notes.txt'), 'not DICOM\n');
  }, 240_000);

  it('reproduces the probabilities evaluate computes from the cache, within 1e-5', async () => {
    const ev = await evaluate({
      run,
      bootstrap: 0,
      figures: false,
      workers: 2,
      backend: 'wasm',
      progress: false,
    });
    const evIds = readFileSync(join(ev.out, 'predictions.csv'), 'utf8');
    expect(evIds.length).toBeGreaterThan(0);
    const r = await predict({
      model: run,
      inputs: [valDir],
      out: join(dir, 'pred'),
      format: 'json',
      workers: 2,
      backend: 'wasm',
      progress: false,
    });
    expect(r.slices.length).toBe(valIds.size);
    expect(r.rejects).toEqual([{ file: join(valDir, 'notes.txt'), reason: expect.any(String) }]);
    const byId = new Map(r.slices.map((s) => [s.imageId, s.p]));
    let maxDiff = 0;
    // evaluate's order: the split's validation rows; its ids are in predictions.csv.
    const ids = evIds
      .trim()
      .split('\n')
      .slice(1)
      .filter((_, i) => i % 6 === 0)
      .map((l) => l.split(',')[0]!.replace(/_epidural$/, ''));
    expect(ids.length).toBe(valIds.size);
    for (const [i, id] of ids.entries()) {
      const p = byId.get(id)!;
      for (let l = 0; l < 6; l++) maxDiff = Math.max(maxDiff, Math.abs(p[l]! - ev.p[i * 6 + l]!));
    }
    expect(maxDiff).toBeLessThan(1e-5);
    // The default threshold is evaluate's triage threshold for any.
    expect(r.threshold.value).toBe(ev.metrics.labels.any.triage?.threshold ?? 0.5);
    expect(resolveThreshold(join(run, 'best'), 0.3)).toEqual({ value: 0.3, source: 'option' });
    // Study summaries: any = max over the study's slices, flag at the threshold.
    for (const st of r.studies) {
      const mine = r.slices.filter((s) => s.studyUid === st.studyUid);
      const max = Math.max(...mine.map((s) => s.p[5]!));
      expect(st.any).toBe(max);
      expect(st.flag).toBe(max >= r.threshold.value);
      expect(st.top[0]!.any).toBe(max);
    }
  }, 120_000);

  it('with a --crop head cache: predict crops as prepare did (= evaluate within 1e-5) and places its maps on the box', async () => {
    const cropCache = join(dir, 'cache-crop');
    await prepare({
      images: join(data, 'stage_2_train'),
      labels: join(data, 'stage_2_train.csv'),
      out: cropCache,
      size: 64,
      crop: 'head',
      workers: 1,
      progress: false,
    });
    const cropRun = join(dir, 'run-crop');
    await tinyRun({ cache: cropCache, split: splitCsv, out: cropRun });
    expect(inputCard(join(cropRun, 'best')).crop).toBe('head');
    // The images with a lesion mask (all in the training split) as DICOM files of their own.
    const masks = join(data, 'masks');
    const maskedDir = join(dir, 'masked-dicom');
    mkdirSync(maskedDir);
    const maskedIds = readdirSync(masks)
      .filter((f) => f.endsWith('.png'))
      .map((f) => f.slice(0, -4));
    for (const id of maskedIds) {
      copyFileSync(join(data, 'stage_2_train', `${id}.dcm`), join(maskedDir, `${id}.dcm`));
    }
    const ev = await evaluate({
      run: cropRun,
      splitName: 'train',
      masks,
      camLayer: '1/16',
      out: join(dir, 'eval-crop'),
      bootstrap: 0,
      figures: false,
      workers: 1,
      backend: 'wasm',
      progress: false,
    });
    const r = await predict({
      model: cropRun,
      inputs: [maskedDir],
      out: join(dir, 'pred-crop'),
      format: 'json',
      cam: join(dir, 'cam-crop'),
      // The 1/16 layer (2 × 2 at 32²): the last feature layer's maps are all zero after 1 epoch.
      camLayer: '1/16',
      masks,
      threshold: 0,
      workers: 1,
      backend: 'wasm',
      progress: false,
    });
    const byId = new Map(r.slices.map((x) => [x.imageId, x.p]));
    const ids = readFileSync(join(ev.out, 'predictions.csv'), 'utf8')
      .trim()
      .split('\n')
      .slice(1)
      .filter((_, i) => i % 6 === 0)
      .map((l) => l.split(',')[0]!.replace(/_epidural$/, ''));
    let maxDiff = 0;
    let compared = 0;
    for (const [i, id] of ids.entries()) {
      const p = byId.get(id);
      if (p === undefined) continue;
      compared++;
      for (let l = 0; l < 6; l++) maxDiff = Math.max(maxDiff, Math.abs(p[l]! - ev.p[i * 6 + l]!));
    }
    expect(compared).toBe(maskedIds.length);
    expect(maxDiff).toBeLessThan(1e-5);
    // The heatmaps lie on each slice's head box: zero outside it, maximum 1 inside.
    let boxed = 0;
    for (const c of r.cams.filter((x) => x.label === 'any').slice(0, 12)) {
      const slice = await readSlice(join(maskedDir, `${c.imageId}.dcm`));
      // A slice with no head (a vertex slice of noise) is not cropped: its box is the slice.
      const box = headBox(slice.hu, slice.rows, slice.cols) ?? { top: 0, left: 0, side: 64 };
      const { top, left, side } = box;
      const { data: map } = decodeNpy(readFileSync(c.npy));
      let outside = 0;
      let inside = 0;
      for (let y = 0; y < slice.rows; y++) {
        for (let x = 0; x < slice.cols; x++) {
          const v = Number(map[y * slice.cols + x]);
          const within = y >= top && y < top + side && x >= left && x < left + side;
          if (within) inside = Math.max(inside, v);
          else outside = Math.max(outside, v);
        }
      }
      expect(outside).toBe(0);
      // Normalised to 1 inside the box (all zero when the ReLU'd map is).
      if (inside > 0) {
        expect(inside).toBeCloseTo(1, 6);
        if (side < slice.rows) boxed++;
      }
    }
    // The synthetic heads leave air around them, so the boxes are smaller than the slice.
    expect(boxed).toBeGreaterThan(0);
    // evaluate --masks places the cache's maps on the box of each slice's DICOM file, as predict
    // does: the same pointing game on the masked images.
    expect(r.pointing!.find((x) => x.label === 'any')!.slices).toBeGreaterThan(0);
    expect(ev.pointing!.rows.map((x) => [x.label, x.slices, x.hits])).toEqual(
      r.pointing!.map((x) => [x.label, x.slices, x.hits]),
    );
    // Their tallies have no hits at this layer, so aim masks at predict's own peaks: a 3 × 3 mask
    // around each `any` map's maximum. evaluate hits every one only when it places its maps
    // exactly where predict does (on the box); stretched over the slice they peak elsewhere.
    const aimDir = join(dir, 'aim-masks');
    mkdirSync(aimDir);
    let aimed = 0;
    for (const c of r.cams.filter((x) => x.label === 'any')) {
      const map = decodeNpy(readFileSync(c.npy)).data as Float32Array;
      if (Math.max(...map) <= 0) continue;
      const mask = new Uint8Array(64 * 64);
      const [py, px] = c.peak;
      for (let y = Math.max(0, py - 1); y <= Math.min(63, py + 1); y++) {
        for (let x = Math.max(0, px - 1); x <= Math.min(63, px + 1); x++) mask[y * 64 + x] = 31;
      }
      writeFileSync(join(aimDir, `${c.imageId}.png`), encodePngGray8(mask, 64, 64));
      aimed++;
    }
    expect(aimed).toBeGreaterThan(0);
    const aim = await evaluate({
      run: cropRun,
      splitName: 'train',
      masks: aimDir,
      camLayer: '1/16',
      out: join(dir, 'eval-aim'),
      bootstrap: 0,
      figures: false,
      workers: 1,
      backend: 'wasm',
      progress: false,
    });
    const anyRow = aim.pointing!.rows.find((x) => x.label === 'any')!;
    expect([anyRow.slices, anyRow.hits]).toEqual([aimed, aimed]);
    // export-onnx carries the crop in the ONNX metadata; a card without one reads as none.
    const onnx = join(dir, 'crop-onnx', 'model.onnx');
    await exportOnnxCommand({ run: cropRun, out: onnx, verify: false });
    const meta = readOnnxMetadata(onnx);
    expect(meta.crop).toBe('head');
    expect(toInputCard(parseModelCard(meta, onnx), onnx).crop).toBe('head');
    const { crop: _crop, ...old } = meta;
    expect(toInputCard(parseModelCard(old, onnx), onnx).crop).toBe('none');
  }, 120_000);

  it('predicts the same probabilities with --runtime onnx, native and wasm builds, within 1e-4', async () => {
    const common = {
      model: run,
      inputs: [valDir],
      format: 'json' as const,
      workers: 2,
      progress: false,
    };
    const t = await predict({ ...common, out: join(dir, 'pred-tfjs'), backend: 'wasm' });
    for (const onnxBackend of ['native', 'wasm'] as const) {
      const out = join(dir, `pred-onnx-${onnxBackend}`);
      const o = await predict({ ...common, out, runtime: 'onnx', onnxBackend });
      expect(o.onnxBackend).toBe(onnxBackend);
      expect(JSON.parse(readFileSync(join(out, 'predict.json'), 'utf8')).onnxBackend).toBe(
        onnxBackend,
      );
      expect(o.slices.map((s) => s.imageId)).toEqual(t.slices.map((s) => s.imageId));
      let maxDiff = 0;
      for (const [i, s] of o.slices.entries()) {
        for (let l = 0; l < 6; l++)
          maxDiff = Math.max(maxDiff, Math.abs(s.p[l]! - t.slices[i]!.p[l]!));
      }
      expect(maxDiff).toBeLessThan(1e-4);
    }
    await expect(
      predict({ ...common, out: join(dir, 'pred-bad'), onnxBackend: 'wasm' }),
    ).rejects.toThrow(/--onnx-backend needs --runtime onnx/);
  }, 120_000);

  it('lists bad files with reasons, skips them and writes an RSNA submission of the rest', async () => {
    const inDir = join(dir, 'mixed');
    mkdirSync(inDir);
    const good = readdirSync(join(data, 'stage_2_train'))
      .filter((f) => f.endsWith('.dcm'))
      .slice(0, 3);
    for (const f of good) copyFileSync(join(data, 'stage_2_train', f), join(inDir, f));
    writeFileSync(join(inDir, 'empty.dcm'), new Uint8Array(0));
    const bytes = readFileSync(join(inDir, good[0]!));
    writeFileSync(join(inDir, 'truncated.dcm'), bytes.subarray(0, bytes.length - 1000));
    writeFileSync(join(inDir, 'ID_dup.dcm'), bytes);
    const out = join(dir, 'pred-rsna');
    const r = await predict({
      model: join(run, 'best'),
      inputs: [inDir],
      out,
      format: 'rsna',
      threshold: 0.5,
      workers: 1,
      backend: 'wasm',
      progress: false,
    });
    const rejects = readFileSync(join(out, 'rejects.csv'), 'utf8').trim().split('\n');
    expect(rejects[0]).toBe('file,reason');
    const rejected = Object.fromEntries(
      rejects.slice(1).map((l) => [l.split(',')[0]!.split('/').at(-1), l]),
    );
    expect(Object.keys(rejected).sort()).toEqual(['ID_dup.dcm', 'empty.dcm', 'truncated.dcm']);
    expect(rejected['ID_dup.dcm']).toMatch(/duplicate image id/);
    const sub = readFileSync(join(out, 'submission.csv'), 'utf8').trim().split('\n');
    expect(sub[0]).toBe('ID,Label');
    expect(sub.length).toBe(1 + 6 * 3);
    const ids = good.map((f) => f.slice(0, -4)).sort();
    expect(
      [...new Set(sub.slice(1).map((l) => l.split(',')[0]!.replace(/_[a-z]+$/, '')))].sort(),
    ).toEqual(ids);
    for (const sp of r.slices) {
      for (const [l, label] of [
        'epidural',
        'intraparenchymal',
        'intraventricular',
        'subarachnoid',
        'subdural',
        'any',
      ].entries()) {
        const row = sub.find((x) => x.startsWith(`${sp.imageId}_${label},`));
        expect(Number(row!.split(',')[1])).toBeCloseTo(sp.p[l]!, 6);
      }
    }
  }, 60_000);

  it('writes Grad-CAM maps equal to ReLU(Σ_k W_k·A_k) of the GAP head, normalised, per label', async () => {
    const camDir = join(dir, 'cam');
    const r = await predict({
      model: run,
      inputs: [valDir],
      out: join(dir, 'pred-cam'),
      threshold: 0,
      cam: camDir,
      workers: 2,
      backend: 'wasm',
      progress: false,
    });
    expect(r.cams.length).toBe(6 * r.slices.length);
    const first = r.slices[0]!;
    const png = decodePng(readFileSync(join(camDir, `${first.imageId}_any.png`)));
    expect([png.height, png.width, png.channels]).toEqual([64, 64, 3]);
    // For GAP → Dense → sigmoid, ∂y_l/∂A_k(i, j) = σ'(z_l)·W[k, l]/(h·w) at every (i, j), so
    // Grad-CAM's map is ReLU(Σ_k W[k, l]·A_k) up to a positive factor: check that on raw maps.
    // At the feature layer (MobileNetV2's out_relu; the default at 64² is the stride-16 block).
    const cam = await GradCam.load(join(run, 'best'), 'out_relu');
    const model = await loadSavedModel(join(run, 'best'));
    const x = new Float32Array(64 * 64 * 3).map((_, i) => Math.sin(i * 0.37));
    const m = cam.maps(x, 1);
    const feats = backbone(model, 'mobilenet_v2').predict(
      tf.tensor4d(x, [1, 64, 64, 3]),
    ) as tf.Tensor;
    const a = feats.dataSync();
    const K = feats.shape[3]!;
    const W = model.getLayer('head_dense').getWeights()[0]!.dataSync();
    for (let l = 0; l < 6; l++) {
      const expected = new Float64Array(m.h * m.w);
      for (let p = 0; p < m.h * m.w; p++) {
        let v = 0;
        for (let k = 0; k < K; k++) v += W[k * 6 + l]! * a[p * K + k]!;
        expected[p] = Math.max(0, v);
      }
      const got = m.maps.subarray(l * m.h * m.w, (l + 1) * m.h * m.w);
      const eMax = Math.max(...expected);
      const gMax = Math.max(...got);
      for (let p = 0; p < expected.length; p++) {
        if (eMax > 0) expect(got[p]! / gMax).toBeCloseTo(expected[p]! / eMax, 4);
        else expect(got[p]).toBe(0);
      }
    }
    cam.dispose();
    model.dispose();
  }, 60_000);

  it('scores the heatmaps of a chosen layer with the pointing game against the masks (--masks)', async () => {
    const camDir = join(dir, 'cam-masks');
    const masks = join(data, 'masks');
    const r = await predict({
      model: run,
      inputs: [join(data, 'stage_2_train')],
      out: join(dir, 'pred-masks'),
      threshold: 0,
      cam: camDir,
      camLayer: '1/16',
      masks,
      workers: 1,
      backend: 'wasm',
      progress: false,
    });
    // MobileNetV2 at 64²: the last layer at 4×4 is block_13's expansion.
    expect(r.camLayer).toBe('block_13_expand_relu');
    const saved = JSON.parse(readFileSync(join(dir, 'pred-masks', 'predict.json'), 'utf8'));
    expect(saved.camLayer).toBe('block_13_expand_relu');
    expect(saved.pointing).toEqual(r.pointing);
    // Recount from the written maps and the mask files.
    const tally = new Map<string, { slices: number; hits: number; area: number }>();
    for (const c of r.cams) {
      const maskFile = join(masks, `${c.imageId}.png`);
      const t = tally.get(c.label) ?? { slices: 0, hits: 0, area: 0 };
      tally.set(c.label, t);
      if (!existsSync(maskFile)) continue;
      const png = decodePng(readFileSync(maskFile));
      const mask = png.data;
      const bits =
        c.label === 'any' ? 31 : 1 << LABEL_NAMES.indexOf(c.label as (typeof LABEL_NAMES)[number]);
      const lesion: [number, number][] = [];
      for (let i = 0; i < mask.length; i++) {
        if ((mask[i]! & bits) !== 0) lesion.push([Math.floor(i / png.width), i % png.width]);
      }
      if (lesion.length === 0) continue;
      t.slices++;
      // By brute force: a pixel is near the lesion within 15/224 of the larger side.
      const tol = (15 / 224) * Math.max(png.height, png.width);
      const near = (r: number, c: number) =>
        lesion.some(([lr, lc]) => (lr - r) ** 2 + (lc - c) ** 2 <= tol * tol);
      let band = 0;
      for (let r = 0; r < png.height; r++) for (let c = 0; c < png.width; c++) band += +near(r, c);
      t.area += band / mask.length;
      const map = decodeNpy(readFileSync(c.npy)).data as Float32Array;
      const peak = map.indexOf(Math.max(...map));
      if (near(Math.floor(peak / png.width), peak % png.width)) t.hits++;
      expect(
        pointingHit(map, mask, bits, { rows: png.height, cols: png.width, tolerance: tol }),
      ).toBe(near(Math.floor(peak / png.width), peak % png.width));
    }
    expect(tally.get('any')!.slices).toBe(
      readdirSync(masks).filter((f) => f.endsWith('.png')).length,
    );
    const csv = readFileSync(join(dir, 'pred-masks', 'pointing.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csv[0]).toBe('label,slices,hits,rate,chance');
    expect(csv.slice(1).map((l) => l.split(',')[0])).toEqual([...LABEL_NAMES]);
    for (const line of csv.slice(1)) {
      const [label, slices, hits, rate, chance] = line.split(',');
      const t = tally.get(label!)!;
      expect([Number(slices), Number(hits)]).toEqual([t.slices, t.hits]);
      if (t.slices === 0) expect([rate, chance]).toEqual(['', '']);
      else {
        expect(Number(rate)).toBeCloseTo(t.hits / t.slices, 12);
        expect(Number(chance)).toBeCloseTo(t.area / t.slices, 12);
      }
    }
    // evaluate --masks scores the same maps from the cache (the same model inputs: see the
    // first test), so its tally of the training split, where every masked slice is, is equal.
    const ev = await evaluate({
      run,
      splitName: 'train',
      masks,
      camLayer: '1/16',
      bootstrap: 0,
      figures: false,
      out: join(dir, 'eval-masks'),
      workers: 1,
      backend: 'wasm',
      progress: false,
    });
    expect(ev.pointing!.layer).toBe('block_13_expand_relu');
    expect(ev.pointing!.rows.map((x) => [x.label, x.slices, x.hits])).toEqual(
      r.pointing!.map((x) => [x.label, x.slices, x.hits]),
    );
    for (const [k, x] of ev.pointing!.rows.entries()) {
      if (x.chance !== null) expect(x.chance).toBeCloseTo(r.pointing![k]!.chance!, 12);
    }
    expect(readFileSync(join(dir, 'eval-masks', 'pointing.csv'), 'utf8')).toBe(
      readFileSync(join(dir, 'pred-masks', 'pointing.csv'), 'utf8'),
    );
    await expect(
      predict({ model: run, inputs: [valDir], out: join(dir, 'x'), masks }),
    ).rejects.toThrow('--masks needs --cam DIR');
    await expect(
      predict({
        model: run,
        inputs: [valDir],
        out: join(dir, 'x'),
        cam: join(dir, 'x-cam'),
        masks: join(dir, 'no-such-masks'),
      }),
    ).rejects.toThrow(`--masks: no such folder: ${join(dir, 'no-such-masks')}`);
  }, 60_000);
});
