/**
 * `ichdet watch` against a real Orthanc (the Debian package) on loopback ports: synthetic
 * studies sent with storescu, results read back from Orthanc and checked with dcmtk's dsrdump and
 * dicom3tools' dciodvfy, the SR's probabilities against `ichdet predict` on the same files; bad
 * studies and an Orthanc restart (the kill -9 tests are in watch-scale.test.ts).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dcmjs from 'dcmjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { predict } from '../src/commands/predict.js';
import { split } from '../src/commands/split.js';
import { watch } from '../src/commands/watch.js';
import { ConfigError } from '../src/errors.js';
import { exportRunToOnnx } from '../src/infer/onnx-export.js';
import { LABEL_NAMES } from '../src/labels.js';
import { jsonReporter } from '../src/util/reporter.js';
import { readSrProbabilities } from '../src/watch/sr.js';
import { WatchState } from '../src/watch/state.js';
import { resultUid } from '../src/watch/uids.js';
import { tinyCache, tinyRun } from './fixtures.js';
import { synthStudies, TestOrthanc, waitFor, writeStudy } from './watch-fixtures.js';

const exec = promisify(execFile);

let dir: string;
let run: string;
let orthanc: TestOrthanc;
/** The synth studies' files (4 studies of 12 slices). */
let synth: string[][];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ichdet-watch-'));
  const started = TestOrthanc.create(join(dir, 'orthanc'), { dicomWeb: true });
  const { data, cache } = await tinyCache(dir, {
    synth: { patients: 4, slicesPerSeries: '12:12', difficulty: 'easy', seed: 3 },
    size: 32,
  });
  await split({ cache, out: join(dir, 'split.csv'), val: 0.25, seed: 1 });
  run = join(dir, 'run');
  await tinyRun({ cache, split: join(dir, 'split.csv'), out: run });
  await exportRunToOnnx(run, join(run, 'best', 'model.onnx'));
  synth = synthStudies(join(data, 'stage_2_train'));
  orthanc = await started;
}, 120_000);

afterAll(async () => {
  await orthanc?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Writes a study's files under dir/studies/<key> and sends them; its UID and folder. */
async function sendOnly(
  key: string,
  spec: Omit<Parameters<typeof writeStudy>[1], 'key'>,
): Promise<{ uid: string; folder: string }> {
  const folder = join(dir, 'studies', key);
  const uid = writeStudy(folder, { ...spec, key });
  await orthanc.storescu(folder);
  return { uid, folder };
}

/** Sends studies, then waits until they are all stable; their UIDs, ids and folders. */
async function send(
  ...specs: [string, Omit<Parameters<typeof writeStudy>[1], 'key'>][]
): Promise<{ uid: string; id: string; folder: string }[]> {
  const sent: { uid: string; folder: string }[] = [];
  for (const [key, spec] of specs) sent.push(await sendOnly(key, spec));
  return Promise.all(sent.map(async (x) => ({ ...x, id: await orthanc.waitStable(x.uid) })));
}

/** The study's SR and SC instance ids (and the count of each modality's instances). */
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

/** dciodvfy's error lines for a file (warnings are allowed). */
async function dciodvfyErrors(file: string): Promise<string[]> {
  const r = await exec('dciodvfy', [file]).catch((e: { stdout: string; stderr: string }) => e);
  return `${r.stdout}\n${r.stderr}`.split('\n').filter((l) => /^Error/.test(l));
}

describe('ichdet watch on a real Orthanc', () => {
  const state = () => join(dir, 'state');

  it('reads a stable head CT and stores one SR and one key image in its study; the SR equals predict', async () => {
    const [s] = await send(['a', { files: synth[0]!, scout: true }]);
    if (s === undefined) throw new Error('no study');
    const log: Record<string, unknown>[] = [];
    const r = await watch({
      orthanc: orthanc.url,
      model: run,
      state: state(),
      once: true,
      workers: 1,
      reporter: jsonReporter((l) => log.push(JSON.parse(l) as Record<string, unknown>)),
    });
    expect(r.heatmap).toBe(true);
    expect(r.studies.map((x) => [x.row.studyUid, x.row.state, x.row.reason])).toEqual([
      [s.uid, 'done', null],
    ]);
    const res = await results(s.id);
    expect(res.ct).toBe(13);
    expect(res.sr.length).toBe(1);
    expect(res.ot.length).toBe(1);

    // The SR: a valid Comprehensive SR in the same study and patient, UNVERIFIED.
    const srBytes = await orthanc.bytes(`/instances/${res.sr[0]}/file`);
    const srFile = join(dir, 'sr.dcm');
    writeFileSync(srFile, srBytes);
    const dump = (await exec('dsrdump', [srFile])).stdout;
    expect(dump).toMatch(/Comprehensive SR Document/);
    expect(dump).toMatch(/Verification Flag\s+: UNVERIFIED/);
    expect(dump).toMatch(/not for diagnostic use/);
    expect(await dciodvfyErrors(srFile)).toEqual([]);
    const sr = naturalize(srBytes);
    expect(sr.StudyInstanceUID).toBe(s.uid);
    expect(sr.SOPInstanceUID).toBe(resultUid(s.uid, r.modelHash, 'sr-instance'));
    expect(sr.SeriesInstanceUID).toBe(resultUid(s.uid, r.modelHash, 'sr-series'));
    expect(sr.PatientName).toEqual(expect.anything());

    // Its probabilities are predict's on the axial series (ONNX Runtime, the same model).
    const files = readdirSync(s.folder)
      .filter((f) => f !== 'scout.dcm')
      .map((f) => join(s.folder, f));
    const p = await predict({
      model: run,
      inputs: files,
      out: join(dir, 'pred-a'),
      runtime: 'onnx',
      workers: 1,
      progress: false,
    });
    expect(p.studies.length).toBe(1);
    const st = p.studies[0]!;
    const probs = readSrProbabilities(srBytes);
    expect(Object.keys(probs)).toEqual([...LABEL_NAMES]);
    for (const [l, name] of LABEL_NAMES.entries()) {
      expect(probs[name]).toBeCloseTo(name === 'any' ? st.any : st.max[l]!, 7);
    }
    // The key slices are predict's top slices.
    expect(dump.match(/Key slice, any/g)?.length).toBe(st.top.length);
    const keys = JSON.stringify(sr.ContentSequence);
    for (const t of st.top) expect(keys).toContain(t.imageId);

    // The key image: a valid Secondary Capture of the top slice, banner burned in.
    const scBytes = await orthanc.bytes(`/instances/${res.ot[0]}/file`);
    const scFile = join(dir, 'sc.dcm');
    writeFileSync(scFile, scBytes);
    expect(await dciodvfyErrors(scFile)).toEqual([]);
    const sc = naturalize(scBytes);
    expect(sc.StudyInstanceUID).toBe(s.uid);
    expect(sc.SOPClassUID).toBe('1.2.840.10008.5.1.4.1.1.7');
    expect(sc.BurnedInAnnotation).toBe('YES');
    expect(sc.Columns).toBe(512);
    expect(sc.DerivationDescription).toMatch(/Grad-CAM/);
    const src = (sc.SourceImageSequence as { ReferencedSOPInstanceUID: string }[])[0]!;
    expect(src.ReferencedSOPInstanceUID).toBe(st.top[0]!.imageId);
    const px = new Uint8Array((sc.PixelData as ArrayBuffer[])[0]!);
    expect([px[0], px[1], px[2]]).toEqual([110, 0, 0]);
    // Yellow text in the banner's first line.
    let yellow = 0;
    for (let i = 0; i < 512 * 20; i++) if (px[3 * i] === 255 && px[3 * i + 1] === 255) yellow++;
    expect(yellow).toBeGreaterThan(100);

    // One structured line for the study.
    const ev = log.filter((l) => l.kind === 'study');
    expect(ev.length).toBe(1);
    expect(ev[0]).toMatchObject({ study: s.uid, state: 'done', flag: st.flag });
    expect(typeof ev[0]!.seconds).toBe('number');
    expect(typeof ev[0]!.stored).toBe('string');

    // Once more: nothing new (results have the same UIDs; the study is done).
    const again = await watch({
      orthanc: orthanc.url,
      model: run,
      state: state(),
      once: true,
      workers: 1,
      heatmap: false,
      progress: false,
    });
    expect(again.studies.filter((x) => x.stored)).toEqual([]);
    const res2 = await results(s.id);
    expect([res2.sr.length, res2.ot.length]).toEqual([1, 1]);
  }, 60_000);

  it('records why a study cannot be read and carries on with the others', async () => {
    const [scout, mr, three, cut, good] = await send(
      [
        'b',
        {
          files: synth[1]!,
          slices: 1,
          set: { ImageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'], SeriesDescription: 'Topogram' },
        },
      ],
      ['c', { files: synth[1]!, set: { Modality: 'MR' } }],
      ['d', { files: synth[1]!, slices: 3 }],
      ['e', { files: synth[2]!, truncate: true }],
      ['f', { files: synth[1]! }],
    );
    if (!scout || !mr || !three || !cut || !good) throw new Error('studies missing');
    const r = await watch({
      orthanc: orthanc.url,
      model: run,
      state: state(),
      once: true,
      workers: 1,
      heatmap: false,
      progress: false,
    });
    const by = new Map(r.studies.map((x) => [x.row.studyUid, x.row]));
    expect(by.get(scout.uid)).toMatchObject({
      state: 'skipped',
      reason: expect.stringMatching(/ImageType ORIGINAL\\PRIMARY\\LOCALIZER contains LOCALIZER/),
    });
    expect(by.get(mr.uid)).toMatchObject({
      state: 'skipped',
      reason: expect.stringMatching(/Modality MR is not CT/),
    });
    expect(by.get(three.uid)).toMatchObject({
      state: 'skipped',
      reason: expect.stringMatching(/: 3 slices, outside \[8, 2000\]/),
    });
    expect(by.get(cut.uid)).toMatchObject({
      state: 'failed',
      reason: expect.stringMatching(/^no slice of series .* could be read: /),
    });
    expect(by.get(good.uid)).toMatchObject({ state: 'done', reason: null });
    for (const bad of [scout, mr, three, cut]) {
      const res = await results(bad.id);
      expect([res.sr.length, res.ot.length]).toEqual([0, 0]);
    }
    const res = await results(good.id);
    expect([res.sr.length, res.ot.length]).toEqual([1, 1]);
    // The state file holds them all.
    const st = new WatchState(state());
    expect(st.studies().length).toBe(6);
    st.close();
  }, 60_000);

  it('stores the results through DICOMweb STOW-RS with --stow', async () => {
    const [s] = await send(['j', { files: synth[3]! }]);
    if (s === undefined) throw new Error('no study');
    const r = await watch({
      orthanc: orthanc.url,
      model: run,
      state: state(),
      stow: `${orthanc.url}/dicom-web/studies`,
      once: true,
      workers: 1,
      heatmap: false,
      progress: false,
    });
    const row = r.studies.find((x) => x.row.studyUid === s.uid)?.row;
    expect(row).toMatchObject({
      state: 'done',
      srUid: resultUid(s.uid, r.modelHash, 'sr-instance'),
    });
    const res = await results(s.id);
    expect([res.sr.length, res.ot.length]).toEqual([1, 1]);
    const qido = await orthanc.json<Record<string, { Value?: string[] }>[]>(
      `/dicom-web/studies/${s.uid}/series?Modality=SR`,
    );
    expect(qido.map((x) => x['0020000E']?.Value?.[0])).toEqual([
      resultUid(s.uid, r.modelHash, 'sr-series'),
    ]);
  }, 60_000);

  it('waits while Orthanc is down, carries on when it is back, and stops on its signal', async () => {
    const log: Record<string, unknown>[] = [];
    const stop = new AbortController();
    const service = watch({
      orthanc: orthanc.url,
      model: join(run, 'best', 'model.onnx'),
      state: join(dir, 'state-down'),
      workers: 1,
      heatmap: false,
      pollSeconds: 0.2,
      signal: stop.signal,
      reporter: jsonReporter((l) => log.push(JSON.parse(l) as Record<string, unknown>)),
    });
    await waitFor('watch-start', () => log.find((l) => l.kind === 'watch-start'), 30_000);
    await orthanc.stop();
    await waitFor('pacs-down', () => log.find((l) => l.kind === 'pacs-down'), 20_000);
    await orthanc.start();
    const [s] = await send(['i', { files: synth[0]! }]);
    if (s === undefined) throw new Error('no study');
    await waitFor(
      'the SR of the study sent after the restart',
      async () => {
        const res = await results(s.id);
        return res.sr.length === 1 && res.ot.length === 1 ? true : undefined;
      },
      30_000,
    );
    expect(log.some((l) => l.kind === 'pacs-up')).toBe(true);
    stop.abort('SIGTERM');
    const r = await service;
    expect(r.state.find((x) => x.studyUid === s.uid)).toMatchObject({ state: 'done' });
  }, 90_000);
});

describe('ichdet watch options', () => {
  it('refuses a bad URL or poll interval before loading anything', async () => {
    await expect(watch({ orthanc: 'ftp://pacs', model: 'none' })).rejects.toThrow(
      '--orthanc must be an http(s) URL, received "ftp://pacs"',
    );
    await expect(
      watch({ orthanc: 'http://127.0.0.1:1', model: 'none', stow: 'pacs/studies' }),
    ).rejects.toThrow('--stow must be an http(s) URL, received "pacs/studies"');
    await expect(
      watch({ orthanc: 'http://127.0.0.1:1', model: 'none', pollSeconds: 0 }),
    ).rejects.toThrow(ConfigError);
  });
});
