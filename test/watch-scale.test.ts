/**
 * `ichdet watch` at the scale and on the inputs a PACS really holds, against a real
 * Orthanc on loopback ports: 20 studies and five kills (four at named phases through the
 * ICHDET_WATCH_CRASH_AT test hook, one a SIGKILL from outside at an arbitrary moment) → exactly
 * one SR and one key image per study; non-image instances inside the CT series (a Secondary
 * Capture, a dose SR, a presentation state); an ONNX-only model (with and without the `cam`
 * output); `--series-model` against `predict --series-model`. Tiny on purpose: 8 slices of 64²,
 * a random-weight MobileNetV2 at 32 px.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initBackend } from '../src/backend/init.js';
import { exportSeriesOnnxCommand } from '../src/commands/export-series-onnx.js';
import { predict } from '../src/commands/predict.js';
import { synth } from '../src/commands/synth.js';
import { watch } from '../src/commands/watch.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { encodeDataset } from '../src/dicom/write.js';
import { ConfigError } from '../src/errors.js';
import { resolveInferenceConfig } from '../src/infer/config.js';
import { camToSlice, GradCam } from '../src/infer/gradcam.js';
import { exportOnnx, exportRunToOnnx } from '../src/infer/onnx-export.js';
import { OnnxModel } from '../src/infer/onnx-runtime.js';
import { ANY_INDEX, LABEL_NAMES } from '../src/labels.js';
import { buildModel } from '../src/models/index.js';
import { loadSavedModel, saveLayersModel } from '../src/run/checkpoint.js';
import { readSrProbabilities } from '../src/watch/sr.js';
import { WatchState } from '../src/watch/state.js';
import { tinySeriesRun } from './fixtures.js';
import { writeSynthFeatures } from './series-data.js';
import { synthStudies, TestOrthanc, uidOf, waitFor, writeStudy } from './watch-fixtures.js';

const root = join(import.meta.dirname, '..');
const SIZE = 32;
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';

let dir: string;
let orthanc: TestOrthanc;
/** The tfjs model folder (model.json + model.onnx with the cam output). */
let modelDir: string;
/** A folder holding only model.onnx (with the cam output). */
let onlyDir: string;
/** A bare .onnx file (no cam output) in a folder of its own. */
let bareOnnx: string;
/** The synth studies' files (2 studies of 8 slices, 64²). */
let synthFiles: string[][];
const children: ChildProcess[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-watch-scale-'));
  const started = TestOrthanc.create(join(dir, 'orthanc'), { stableAge: 1 });
  await initBackend('wasm');
  modelDir = join(dir, 'model');
  const m = buildModel('mobilenet_v2', { inputShape: [SIZE, SIZE, 3] });
  await saveLayersModel(m, modelDir, {
    arch: 'mobilenet_v2',
    size: SIZE,
    channels: 3,
    context: 0,
    cacheChannels: 3,
    cacheSize: SIZE,
    windows: DEFAULT_WINDOWS.map((w) => ({ name: w.name, center: w.center, width: w.width })),
    rsnaFix: true,
    preprocessing: 'tf',
    labels: [...LABEL_NAMES],
  });
  m.dispose();
  await exportRunToOnnx(modelDir, join(modelDir, 'model.onnx'), { cam: true });
  onlyDir = join(dir, 'only');
  mkdirSync(onlyDir);
  copyFileSync(join(modelDir, 'model.onnx'), join(onlyDir, 'model.onnx'));
  mkdirSync(join(dir, 'bare'));
  bareOnnx = join(dir, 'bare', 'tiny.onnx');
  await exportRunToOnnx(modelDir, bareOnnx);
  await synth({
    out: join(dir, 'synth'),
    patients: 2,
    size: 64,
    slicesPerSeries: '8:8',
    prevalence: 'balanced',
    seed: 5,
    workers: 1,
    progress: false,
  });
  synthFiles = synthStudies(join(dir, 'synth', 'stage_2_train'));
  orthanc = await started;
}, 120_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.pid !== undefined) c.kill('SIGKILL');
  await orthanc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The study's SR and SC instance ids (and the count of its CT instances). */
async function results(id: string): Promise<{ sr: string[]; ot: string[]; ct: number }> {
  const s = await orthanc.seriesOf(id);
  const of = (m: string) => s.filter((x) => x.modality === m).flatMap((x) => x.instances);
  return { sr: of('SR'), ot: of('OT'), ct: of('CT').length };
}

function naturalize(bytes: Uint8Array): Record<string, unknown> {
  const d = dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  );
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(d.dict);
}

/**
 * A state folder that starts at the feed's end, once every study is stable again (the results
 * stored by earlier tests make their studies change), so earlier studies are not read again.
 */
async function stateFromNow(name: string): Promise<string> {
  const state = join(dir, name);
  await waitFor(
    'every study stable',
    async () => {
      const all = await orthanc.json<{ IsStable: boolean }[]>('/studies?expand');
      return all.every((x) => x.IsStable) ? true : undefined;
    },
    30_000,
    200,
  );
  const last = (await orthanc.json<{ Last: number }>('/changes?last')).Last;
  const st = new WatchState(state);
  st.setLastSeq(last);
  st.close();
  return state;
}

/** `ichdet watch` from sources on `model` (a crash phase through the test hook); exits with a signal. */
function spawnWatch(
  state: string,
  crashAt?: string,
): { child: ChildProcess; lines: Record<string, unknown>[]; exit: Promise<string | null> } {
  const env: NodeJS.ProcessEnv = { ...process.env, CI: 'true' };
  delete env.ICHDET_WATCH_CRASH_AT;
  if (crashAt !== undefined) env.ICHDET_WATCH_CRASH_AT = crashAt;
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(root, 'src/cli/run.ts'),
      'watch',
      '--orthanc',
      orthanc.url,
      '--model',
      onlyDir,
      '--state',
      state,
      '--workers',
      '1',
      '--poll',
      '0.2',
      '--no-heatmap',
    ],
    { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  child.stdout?.on('data', (d) => {
    buf += String(d);
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts)
      if (p.trim() !== '') lines.push(JSON.parse(p) as Record<string, unknown>);
  });
  let err = '';
  child.stderr?.on('data', (d) => {
    err = (err + String(d)).slice(-2000);
  });
  const exit = new Promise<string | null>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? `exit ${code}: ${err}`)),
  );
  return { child, lines, exit };
}

function doneCount(state: string): number {
  const st = new WatchState(state);
  try {
    return st.studies().filter((x) => x.state === 'done').length;
  } finally {
    st.close();
  }
}

/** Runs watch on `state` until the crash hook kills it -9 at `phase`; the studies done then. */
async function killedAt(state: string, phase: string): Promise<number> {
  const w = spawnWatch(state, phase);
  expect(await w.exit).toBe('SIGKILL');
  return doneCount(state);
}

describe('ichdet watch at scale', () => {
  it('20 studies, 5 kills -9 (4 at named phases, 1 from outside) → one SR and one key image each', async () => {
    // 20 studies of 8 slices, sent with one storescu.
    const uids: string[] = [];
    for (let i = 0; i < 20; i++) {
      uids.push(
        writeStudy(join(dir, 'kill', `s${i}`), { files: synthFiles[i % 2]!, key: `kill${i}` }),
      );
    }
    await orthanc.storescu(join(dir, 'kill'));
    const ids = await Promise.all(uids.map((u) => orthanc.waitStable(u)));
    const state = join(dir, 'state-kill');

    // Killed while downloading the 2nd study: the 1st is committed, the 2nd has nothing.
    expect(await killedAt(state, 'download:2')).toBe(1);
    // Killed after predicting the 3rd study it reads (the done one is not read again).
    expect(await killedAt(state, 'predict:3')).toBe(3);
    // Killed between storing the SR and the key image of its 2nd study.
    expect(await killedAt(state, 'after-sr:2')).toBe(4);
    const partial = await Promise.all(ids.map(results));
    expect(partial.filter((r) => r.sr.length === 1 && r.ot.length === 0).length).toBe(1);
    // Killed with both results of its 2nd study stored, before the state commit.
    expect(await killedAt(state, 'before-commit:2')).toBe(5);
    const stored = (await Promise.all(ids.map(results))).filter(
      (r) => r.sr.length === 1 && r.ot.length === 1,
    ).length;
    expect(stored).toBe(6);
    // A kill -9 from outside at an arbitrary moment after its 2nd study is done.
    const w = spawnWatch(state);
    await waitFor(
      'a 2nd study done',
      () =>
        w.lines.filter((l) => l.kind === 'study' && l.state === 'done').length >= 2
          ? true
          : undefined,
      60_000,
      20,
    );
    await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
    w.child.kill('SIGKILL');
    expect(await w.exit).toBe('SIGKILL');
    const before = doneCount(state);
    // Its 2nd study's line comes just before its commit: 6 or 7 done.
    expect(before).toBeGreaterThanOrEqual(6);
    expect(before).toBeLessThan(20);

    // Restart: every study done, exactly one SR and one key image each, none missed.
    const r = await watch({
      orthanc: orthanc.url,
      model: onlyDir,
      state,
      once: true,
      workers: 1,
      heatmap: false,
      progress: false,
    });
    expect(r.state.length).toBe(20);
    expect(r.state.every((x) => x.state === 'done')).toBe(true);
    expect(new Set(r.state.map((x) => x.studyUid))).toEqual(new Set(uids));
    for (const id of ids) {
      const res = await results(id);
      expect([res.ct, res.sr.length, res.ot.length]).toEqual([8, 1, 1]);
    }
  }, 120_000);
});

/** A non-image instance of a CT series: the slice's patient, study and series, another class. */
function nonImage(
  slice: Record<string, unknown>,
  sopClassUid: string,
  n: number,
  withPixels: boolean,
  set: Record<string, unknown> = {},
) {
  const keep = [
    'PatientName',
    'PatientID',
    'StudyInstanceUID',
    'SeriesInstanceUID',
    'StudyDate',
    'StudyTime',
    'StudyID',
    'AccessionNumber',
    'SeriesNumber',
    'SeriesDescription',
  ];
  const ds: Record<string, unknown> = {
    SOPClassUID: sopClassUid,
    SOPInstanceUID: uidOf(`${String(slice.SOPInstanceUID)}-nonimage-${n}`),
    Modality: 'CT',
    InstanceNumber: 100 + n,
  };
  for (const k of keep) ds[k] = slice[k];
  if (withPixels) {
    Object.assign(ds, {
      ImageType: ['DERIVED', 'SECONDARY'],
      ConversionType: 'WSD',
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: 16,
      Columns: 16,
      BitsAllocated: 16,
      BitsStored: 16,
      HighBit: 15,
      PixelRepresentation: 0,
      PixelData: [new Uint16Array(256).fill(1000).buffer],
    });
  }
  return encodeDataset({ ...ds, ...set });
}

describe('ichdet watch on what a PACS holds', () => {
  it('skips non-image instances of the CT series with their reason and reads its slices', async () => {
    const state = await stateFromNow('state-nonimage');
    const folder = join(dir, 'nonimage');
    const uid = writeStudy(join(folder, 'b-slices'), { files: synthFiles[0]!, key: 'nonimage' });
    const first = naturalize(new Uint8Array(readFileSync(join(folder, 'b-slices', '0.dcm'))));
    // Sent first, so Orthanc lists them first in the series.
    const extra = [
      ['1.2.840.10008.5.1.4.1.1.7', true],
      ['1.2.840.10008.5.1.4.1.1.88.67', false],
      ['1.2.840.10008.5.1.4.1.1.11.1', false],
      [CT_IMAGE, false],
    ] as const;
    const geometry = {
      ImageType: first.ImageType,
      ImageOrientationPatient: first.ImageOrientationPatient,
      SliceThickness: first.SliceThickness,
    };
    mkdirSync(join(folder, 'a-extra'));
    const extraUids: string[] = [];
    for (const [i, [sop, px]] of extra.entries()) {
      const bytes = nonImage(first, sop, i, px, sop === CT_IMAGE ? geometry : {});
      extraUids.push(String(naturalize(bytes).SOPInstanceUID));
      writeFileSync(join(folder, 'a-extra', `${i}.dcm`), bytes);
    }
    // A study whose 8-instance CT series has no Pixel Data at all (CT Image Storage headers).
    const header = {
      ...geometry,
      StudyInstanceUID: uidOf('nopixels-study'),
      SeriesInstanceUID: uidOf('nopixels-series'),
    };
    mkdirSync(join(folder, 'c-nopixels'));
    for (let i = 0; i < 8; i++) {
      writeFileSync(
        join(folder, 'c-nopixels', `${i}.dcm`),
        nonImage(first, CT_IMAGE, 10 + i, false, header),
      );
    }
    await orthanc.storescu(join(folder, 'a-extra'));
    await orthanc.storescu(join(folder, 'b-slices'));
    await orthanc.storescu(join(folder, 'c-nopixels'));
    const id = await orthanc.waitStable(uid);
    await orthanc.waitStable(header.StudyInstanceUID);
    expect((await results(id)).ct).toBe(12);
    const r = await watch({
      orthanc: orthanc.url,
      model: modelDir,
      state,
      once: true,
      workers: 1,
      heatmap: false,
      progress: false,
    });
    expect(r.studies.length).toBe(2);
    const empty = r.studies.find((x) => x.row.studyUid === header.StudyInstanceUID)!.row;
    expect(empty.state).toBe('skipped');
    expect(empty.reason).toMatch(
      /^series .* holds no CT image: no Pixel Data \(8: [0-9a-f-]+, …\)$/,
    );
    const row = r.studies.find((x) => x.row.studyUid === uid)!.row;
    expect(row.state).toBe('done');
    expect(row.reason).toMatch(/^4 non-image instances skipped: /);
    expect(row.reason).toMatch(/no Pixel Data \(1: [0-9a-f-]+\)/);
    expect(row.reason).toMatch(/\(Grayscale Softcopy Presentation State\) is not a CT image \(1: /);
    expect(row.reason).toMatch(
      /SOPClassUID 1\.2\.840\.10008\.5\.1\.4\.1\.1\.7 \(Secondary Capture\) is not a CT image/,
    );
    expect(row.reason).toMatch(/\(X-Ray Radiation Dose SR\) is not a CT image/);
    const res = await results(id);
    expect([res.sr.length, res.ot.length]).toEqual([1, 1]);
    const srBytes = await orthanc.bytes(`/instances/${res.sr[0]}/file`);
    // The SR is predict's on the 8 CT slices alone; it references no non-image instance.
    const p = await predict({
      model: modelDir,
      inputs: readdirSync(join(folder, 'b-slices')).map((f) => join(folder, 'b-slices', f)),
      out: join(dir, 'pred-nonimage'),
      runtime: 'onnx',
      workers: 1,
      progress: false,
    });
    const st = p.studies[0]!;
    const probs = readSrProbabilities(srBytes);
    for (const [l, name] of LABEL_NAMES.entries()) {
      expect(probs[name]).toBeCloseTo(name === 'any' ? st.any : st.max[l]!, 7);
    }
    const sr = naturalize(srBytes);
    const evidence = (
      sr.CurrentRequestedProcedureEvidenceSequence as {
        ReferencedSeriesSequence: {
          ReferencedSOPSequence: {
            ReferencedSOPClassUID: string;
            ReferencedSOPInstanceUID: string;
          }[];
        }[];
      }[]
    )[0]!.ReferencedSeriesSequence[0]!.ReferencedSOPSequence;
    expect(evidence.length).toBe(8);
    expect(new Set(evidence.map((e) => e.ReferencedSOPClassUID))).toEqual(
      new Set(['1.2.840.10008.5.1.4.1.1.2']),
    );
    for (const u of extraUids)
      expect(evidence.map((e) => e.ReferencedSOPInstanceUID)).not.toContain(u);
  }, 60_000);

  it('reads with a folder holding only model.onnx: predictions from the ONNX alone, heatmap from its cam output', async () => {
    const state = await stateFromNow('state-only');
    const folder = join(dir, 'only-study');
    const uid = writeStudy(folder, { files: synthFiles[1]!, key: 'only' });
    await orthanc.storescu(folder);
    const id = await orthanc.waitStable(uid);
    const r = await watch({
      orthanc: orthanc.url,
      model: onlyDir,
      state,
      once: true,
      workers: 1,
      progress: false,
    });
    expect(r.heatmap).toBe(true);
    expect(r.studies.map((x) => [x.row.state, x.row.reason])).toEqual([['done', null]]);
    const res = await results(id);
    expect([res.sr.length, res.ot.length]).toEqual([1, 1]);
    const srBytes = await orthanc.bytes(`/instances/${res.sr[0]}/file`);
    // The same probabilities as predict with the tfjs model folder (its card, its model.onnx).
    const p = await predict({
      model: modelDir,
      inputs: readdirSync(folder).map((f) => join(folder, f)),
      out: join(dir, 'pred-only'),
      runtime: 'onnx',
      workers: 1,
      progress: false,
    });
    const st = p.studies[0]!;
    const probs = readSrProbabilities(srBytes);
    for (const [l, name] of LABEL_NAMES.entries()) {
      expect(probs[name]).toBeCloseTo(name === 'any' ? st.any : st.max[l]!, 7);
    }
    expect(JSON.stringify(naturalize(srBytes).ContentSequence)).toContain(
      'with the heatmap (class activation map of any, from the ONNX cam output)',
    );
    const sc = naturalize(await orthanc.bytes(`/instances/${res.ot[0]}/file`));
    expect(sc.DerivationDescription).toMatch(/with the heatmap \(class activation map of any/);
    expect(
      (sc.SourceImageSequence as { ReferencedSOPInstanceUID: string }[])[0]!
        .ReferencedSOPInstanceUID,
    ).toBe(st.top[0]!.imageId);

    // A bare .onnx without the cam output: the key image has no heatmap, and the SR says so.
    const state2 = await stateFromNow('state-bare');
    const folder2 = join(dir, 'bare-study');
    const uid2 = writeStudy(folder2, { files: synthFiles[0]!, key: 'bare' });
    await orthanc.storescu(folder2);
    const id2 = await orthanc.waitStable(uid2);
    const r2 = await watch({
      orthanc: orthanc.url,
      model: bareOnnx,
      state: state2,
      once: true,
      workers: 1,
      progress: false,
    });
    expect(r2.heatmap).toBe(false);
    expect(r2.studies.map((x) => x.row.state)).toEqual(['done']);
    const res2 = await results(id2);
    const sr2 = naturalize(await orthanc.bytes(`/instances/${res2.sr[0]}/file`));
    expect(JSON.stringify(sr2.ContentSequence)).toContain(
      'without a heatmap (no cam output in the onnx model)',
    );
    const sc2 = naturalize(await orthanc.bytes(`/instances/${res2.ot[0]}/file`));
    expect(sc2.DerivationDescription).toMatch(/without a heatmap/);
  }, 60_000);

  it("the ONNX cam output's maps equal Grad-CAM's (normalised), and ONNX-only needs --runtime onnx", async () => {
    const onnx = await OnnxModel.load(join(onlyDir, 'model.onnx'), { threads: 1 });
    // The cam output is the class activation map of the feature layer (MobileNetV2's out_relu);
    // Grad-CAM's default at 32² is an earlier block.
    const cam = await GradCam.load(modelDir, 'out_relu');
    try {
      expect(onnx.hasCam).toBe(true);
      const per = SIZE * SIZE * 3;
      const x = new Float32Array(2 * per);
      for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 0.8;
      const a = await onnx.camMaps(x, 2, [ANY_INDEX]);
      const b = cam.maps(x, 2, [ANY_INDEX]);
      expect([a.h, a.w]).toEqual([b.h, b.w]);
      const hw = a.h * a.w;
      for (let e = 0; e < 2; e++) {
        const ma = camToSlice(a.maps.subarray(e * hw, (e + 1) * hw), a.h, a.w, 64, 64);
        const mb = camToSlice(b.maps.subarray(e * hw, (e + 1) * hw), b.h, b.w, 64, 64);
        let diff = 0;
        for (let i = 0; i < ma.length; i++) diff = Math.max(diff, Math.abs(ma[i]! - mb[i]!));
        expect(diff).toBeLessThan(1e-3);
      }
    } finally {
      await onnx.close();
      cam.dispose();
    }
    await expect(
      predict({ model: onlyDir, inputs: synthFiles[0]!, out: join(dir, 'p-x'), progress: false }),
    ).rejects.toThrow(ConfigError);
    // An .onnx without ichdet's metadata_props cannot say how to feed it.
    const layers = await loadSavedModel(modelDir);
    const plain = join(dir, 'plain.onnx');
    writeFileSync(plain, exportOnnx(layers));
    layers.dispose();
    expect(() => resolveInferenceConfig({ model: plain, runtime: 'onnx' })).toThrow(
      `${plain} has no ichdet metadata (metadata_props "ichdet"); export it with ichdet export-onnx`,
    );
    // With it, the card comes from the file.
    const c = resolveInferenceConfig({ model: join(onlyDir, 'model.onnx'), runtime: 'onnx' });
    expect([c.model.onnxOnly, c.dir, c.input.size, c.input.windows.length]).toEqual([
      join(onlyDir, 'model.onnx'),
      onlyDir,
      SIZE,
      DEFAULT_WINDOWS.length,
    ]);
  }, 60_000);

  it('--series-model: the SR holds what predict --series-model gives on the same files', async () => {
    const features = join(dir, 'features');
    const srun = join(dir, 'srun');
    await writeSynthFeatures(features, { patients: 8, folds: 2, seed: 4 });
    await tinySeriesRun({ features, out: srun });
    await exportSeriesOnnxCommand({ run: srun });
    const state = await stateFromNow('state-series');
    const folder = join(dir, 'series-study');
    const uid = writeStudy(folder, { files: synthFiles[1]!, key: 'series' });
    await orthanc.storescu(folder);
    const id = await orthanc.waitStable(uid);
    const r = await watch({
      orthanc: orthanc.url,
      model: onlyDir,
      seriesModel: srun,
      state,
      once: true,
      workers: 1,
      heatmap: false,
      progress: false,
    });
    expect(r.studies.map((x) => x.row.state)).toEqual(['done']);
    const res = await results(id);
    expect([res.sr.length, res.ot.length]).toEqual([1, 1]);
    const srBytes = await orthanc.bytes(`/instances/${res.sr[0]}/file`);
    const p = await predict({
      model: modelDir,
      seriesModel: srun,
      inputs: readdirSync(folder).map((f) => join(folder, f)),
      out: join(dir, 'pred-series'),
      runtime: 'onnx',
      workers: 1,
      progress: false,
    });
    const plain = await predict({
      model: modelDir,
      inputs: readdirSync(folder).map((f) => join(folder, f)),
      out: join(dir, 'pred-plain'),
      runtime: 'onnx',
      workers: 1,
      progress: false,
    });
    const st = p.studies[0]!;
    // Stage 2 changed the decision score (else this test would not tell the paths apart).
    expect(Math.abs(st.any - plain.studies[0]!.any)).toBeGreaterThan(1e-4);
    const probs = readSrProbabilities(srBytes);
    for (const [l, name] of LABEL_NAMES.entries()) {
      expect(probs[name]).toBeCloseTo(name === 'any' ? st.any : st.max[l]!, 6);
    }
    expect(r.studies[0]!.row.any).toBeCloseTo(st.any, 6);
  }, 90_000);

  it('refuses a bad crash hook before anything starts', async () => {
    process.env.ICHDET_WATCH_CRASH_AT = 'sometime:1';
    try {
      await expect(
        watch({ orthanc: orthanc.url, model: onlyDir, state: join(dir, 'state-bad'), once: true }),
      ).rejects.toThrow(
        'ICHDET_WATCH_CRASH_AT must be <phase>:<n> with phase one of download, predict, after-sr, before-commit and n >= 1, received "sometime:1"',
      );
    } finally {
      delete process.env.ICHDET_WATCH_CRASH_AT;
    }
  });
});
