/**
 * The PACS service: follows Orthanc's change feed and, for each study that becomes stable,
 * selects the series to read (rules.ts), downloads it, predicts it with the inference pipeline
 * (infer/predict.ts: scan → decode → runtime → aggregator), and stores back into the same study
 * a Comprehensive SR (sr.ts) and a Secondary Capture key image (secondary-capture.ts), with UIDs
 * derived from the study and the model (uids.ts). The study's outcome and the change's sequence
 * number are committed together in the state file (state.ts) only after the results are stored,
 * so a kill at any instant loses no study and duplicates no result.
 *
 * A PACS that cannot be reached raises `PacsUnavailable` out of `pass()`: nothing is committed
 * and `follow()` waits (1 s, doubling to 30 s) and carries on from the same change.
 */
import { type CropBox, headBox } from '../dicom/crop.js';
import { readWindowed } from '../dicom/fastpath.js';
import { parseDicomBytes } from '../dicom/parse.js';
import { windowedImage } from '../dicom/preprocess.js';
import { CT_IMAGE_SOP_CLASSES, decodeSlice, sopClassOf, withCodecs } from '../dicom/read.js';
import { checkAborted, Interrupted } from '../errors.js';
import type { InferenceConfig } from '../infer/config.js';
import { type CamMaps, camToBox } from '../infer/gradcam.js';
import {
  type Aggregator,
  type InferenceRuntime,
  type PredictedSeries,
  predictInputs,
} from '../infer/predict.js';
import { ANY_INDEX, LABEL_COUNT, LABEL_NAMES } from '../labels.js';
import { type Reporter, silentReporter } from '../util/reporter.js';
import {
  type OrthancChange,
  type OrthancClient,
  PacsError,
  PacsUnavailable,
  type ResultTarget,
} from './orthanc.js';
import { noMatchReason, type SeriesInfo, type SeriesRules, selectSeries } from './rules.js';
import { bannerChars, buildSecondaryCapture, renderKeyImage } from './secondary-capture.js';
import { buildSr, type SliceReference, type StudyContext, type TriageFindings } from './sr.js';
import type { StudyRow, WatchState } from './state.js';
import { resultUid } from './uids.js';

const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';

/** Names of common non-image (or non-CT-image) SOP classes, for the recorded reason. */
const SOP_CLASS_NAMES: ReadonlyMap<string, string> = new Map([
  ['1.2.840.10008.5.1.4.1.1.7', 'Secondary Capture'],
  ['1.2.840.10008.5.1.4.1.1.88.11', 'Basic Text SR'],
  ['1.2.840.10008.5.1.4.1.1.88.22', 'Enhanced SR'],
  ['1.2.840.10008.5.1.4.1.1.88.33', 'Comprehensive SR'],
  ['1.2.840.10008.5.1.4.1.1.88.67', 'X-Ray Radiation Dose SR'],
  ['1.2.840.10008.5.1.4.1.1.11.1', 'Grayscale Softcopy Presentation State'],
  ['1.2.840.10008.5.1.4.1.1.104.1', 'Encapsulated PDF'],
  ['1.2.840.10008.5.1.4.1.1.481.2', 'RT Dose'],
]);

/**
 * Points of a study's processing where `onPhase` is called (a test hook: `ICHDET_WATCH_CRASH_AT`
 * in commands/watch.ts kills the process there): `download` after the first instance of the
 * series is downloaded, `predict` after the prediction, `after-sr` after the SR is stored and
 * before the key image, `before-commit` after both are stored and before the state commit.
 */
export const WATCH_PHASES = ['download', 'predict', 'after-sr', 'before-commit'] as const;
export type WatchPhase = (typeof WATCH_PHASES)[number];

/** A heatmap source for the key image: Grad-CAM (tfjs) or the `cam` output of the ONNX model. */
export interface KeyImageCam {
  /** Input size and channels of one preprocessed image. */
  readonly size: number;
  readonly channels: number;
  /** Raw maps (n × labels × h × w, ReLU applied) of n preprocessed inputs. */
  maps(x: Float32Array, n: number, labels: readonly number[]): CamMaps | Promise<CamMaps>;
}

/** An instance that is not a CT image: skipped before prediction, with its reason. */
export interface SkippedInstance {
  id: string;
  reason: string;
}

/**
 * A downloaded instance of the chosen series: its SOP class and instance UIDs, and why it is not
 * a CT image slice (`reason`, null when it is one): its SOP class is not CT Image Storage (a
 * Secondary Capture, an SR, a dose report, a presentation state), or it has no Pixel Data.
 * Unparseable bytes give `reason: null` (the pipeline rejects them with the parser's reason).
 */
export function inspectInstance(bytes: Uint8Array): {
  reason: string | null;
  sopClassUid: string;
  sopInstanceUid: string;
} {
  let ds: ReturnType<typeof parseDicomBytes>['dataSet'];
  try {
    ds = parseDicomBytes(bytes).dataSet;
  } catch {
    return { reason: null, sopClassUid: '', sopInstanceUid: '' };
  }
  const sop = sopClassOf(ds);
  const sopInstanceUid = (ds.string('x00080018') ?? '').replace(/\0/g, '').trim();
  let reason: string | null = null;
  if (sop !== '' && !CT_IMAGE_SOP_CLASSES.has(sop)) {
    const name = SOP_CLASS_NAMES.get(sop);
    reason = `SOPClassUID ${sop}${name ? ` (${name})` : ''} is not a CT image`;
  } else if (ds.elements.x7fe00010 === undefined) {
    reason = 'no Pixel Data';
  }
  return { reason, sopClassUid: sop, sopInstanceUid };
}

/** Skipped instances by reason: `<reason> (n: <first id>[, …])`, joined by `; `. */
export function groupReasons(skipped: readonly SkippedInstance[]): string {
  const by = new Map<string, string[]>();
  for (const x of skipped) {
    const ids = by.get(x.reason) ?? [];
    ids.push(x.id);
    by.set(x.reason, ids);
  }
  return [...by]
    .map(([reason, ids]) => `${reason} (${ids.length}: ${ids[0]}${ids.length > 1 ? ', …' : ''})`)
    .join('; ');
}

export interface WatcherOptions {
  pacs: OrthancClient;
  /** Where results are stored (default: the PACS itself). */
  target?: ResultTarget;
  state: WatchState;
  config: InferenceConfig;
  runtime: InferenceRuntime;
  aggregator?: Aggregator;
  rules: SeriesRules;
  /** Hash of the model(s): part of every result UID. */
  modelHash: string;
  /** Heatmap source (Grad-CAM or the ONNX `cam` output), or null (`camNote` says why none). */
  cam: KeyImageCam | null;
  /** What the key image's heatmap is (default `Grad-CAM of any`). */
  camName?: string;
  /** Called at each phase of a study (a test hook; see WATCH_PHASES). */
  onPhase?: (phase: WatchPhase, studyId: string) => void;
  camNote: string;
  /** Also act on StableSeries (the series' study is read). */
  stableSeries?: boolean;
  reporter?: Reporter;
  signal?: AbortSignal;
  /** `ichdet <version>`. */
  algorithm: string;
  /** Changes read per request (default 100). */
  batch?: number;
  /** Instances downloaded at once (default 4). */
  downloads?: number;
  now?: () => Date;
}

/** The outcome of one study. */
export interface StudyOutcome {
  row: StudyRow;
  /** Whether results were stored now (false: skipped, failed, or done before). */
  stored: boolean;
  /** Done before with the same model: nothing was done. */
  already: boolean;
}

export interface PassSummary {
  /** Changes read. */
  changes: number;
  /** Studies handled (done, skipped or failed). */
  studies: StudyOutcome[];
  /** The last sequence number committed. */
  lastSeq: number;
}

function tag(tags: Record<string, unknown>, key: string): string {
  const v = tags[key];
  return typeof v === 'string' ? v.trim() : '';
}

function numbers(s: string): number[] | null {
  if (s === '') return null;
  const v = s.split('\\').map(Number);
  return v.every(Number.isFinite) ? v : null;
}

async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (t: T) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** Waits `ms`, or less when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

export class Watcher {
  private readonly o: WatcherOptions;
  private readonly reporter: Reporter;
  private readonly target: ResultTarget;
  private readonly now: () => Date;

  constructor(o: WatcherOptions) {
    this.o = o;
    this.reporter = o.reporter ?? silentReporter;
    this.target = o.target ?? o.pacs;
    this.now = o.now ?? (() => new Date());
  }

  private get camName(): string {
    return this.o.camName ?? 'Grad-CAM of any';
  }

  /** Whether a change is one this watcher acts on. */
  private acts(c: OrthancChange): boolean {
    return (
      (c.ChangeType === 'StableStudy' && c.ResourceType === 'Study') ||
      (this.o.stableSeries === true &&
        c.ChangeType === 'StableSeries' &&
        c.ResourceType === 'Series')
    );
  }

  /**
   * Reads the change feed from the last committed sequence number to its end, handling each
   * stable study. @throws PacsUnavailable (nothing after the last handled change is committed).
   */
  async pass(): Promise<PassSummary> {
    const { pacs, state } = this.o;
    let since = state.lastSeq() ?? 0;
    let committed = since;
    const studies: StudyOutcome[] = [];
    let changes = 0;
    for (;;) {
      checkAborted(this.o.signal, 'watch stopped');
      const page = await pacs.changes(since, this.o.batch ?? 100);
      if (page.Last < since) {
        // The PACS' feed starts again below the committed number (a new database): read it from
        // the start; studies already done are recognised by their id and not read again.
        this.reporter.log(
          `the change feed restarted (last ${page.Last} < ${since}): reading it from 0`,
          {
            kind: 'feed-reset',
            last: page.Last,
            since,
          },
        );
        since = 0;
        committed = -1;
        continue;
      }
      for (const c of page.Changes) {
        checkAborted(this.o.signal, 'watch stopped');
        changes++;
        if (this.acts(c)) {
          const studyId = c.ResourceType === 'Study' ? c.ID : await this.parentStudy(c.ID);
          const out = studyId === null ? null : await this.processStudy(studyId, c);
          if (out !== null && !out.already) {
            if (out.stored) this.o.onPhase?.('before-commit', out.row.id);
            // The study's outcome and the sequence number, in one transaction.
            state.finish(out.row, c.Seq);
            committed = c.Seq;
            studies.push(out);
          }
        }
        since = c.Seq;
      }
      if (page.Changes.length === 0 && page.Last > since) since = page.Last;
      // Changes that need no work are committed once per page (one fsync, not one per change).
      if (since !== committed) {
        state.setLastSeq(since);
        committed = since;
      }
      if (page.Done || page.Changes.length === 0) break;
    }
    return { changes, studies, lastSeq: since };
  }

  private async parentStudy(seriesId: string): Promise<string | null> {
    try {
      return (await this.o.pacs.series(seriesId)).ParentStudy;
    } catch (err) {
      if (err instanceof PacsError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Follows the change feed until the signal aborts: a pass, then a wait of `pollMs` when
   * nothing was pending; while the PACS is unavailable, waits 1 s doubling to `maxBackoffMs`.
   */
  async follow(o: { pollMs?: number; maxBackoffMs?: number } = {}): Promise<void> {
    const poll = o.pollMs ?? 1000;
    const max = o.maxBackoffMs ?? 30_000;
    let backoff = 1000;
    let down = false;
    while (this.o.signal?.aborted !== true) {
      try {
        const r = await this.pass();
        if (down)
          this.reporter.log('PACS reachable again', { kind: 'pacs-up', url: this.o.pacs.url });
        down = false;
        backoff = 1000;
        if (r.changes === 0) await sleep(poll, this.o.signal);
      } catch (err) {
        if (err instanceof Interrupted) return;
        if (!(err instanceof PacsUnavailable)) throw err;
        down = true;
        this.reporter.log(`PACS unavailable, retrying in ${backoff / 1000} s: ${err.message}`, {
          kind: 'pacs-down',
          url: this.o.pacs.url,
          retryMs: backoff,
        });
        await sleep(backoff, this.o.signal);
        backoff = Math.min(max, backoff * 2);
      }
    }
  }

  /** The source study's patient and study attributes. */
  private context(study: {
    MainDicomTags: Record<string, string>;
    PatientMainDicomTags?: Record<string, string>;
  }): StudyContext {
    const s = study.MainDicomTags;
    const p = study.PatientMainDicomTags ?? {};
    return {
      studyUid: s.StudyInstanceUID ?? '',
      patientId: p.PatientID ?? '',
      patientName: p.PatientName ?? '',
      patientBirthDate: p.PatientBirthDate ?? '',
      patientSex: p.PatientSex ?? '',
      studyDate: s.StudyDate ?? '',
      studyTime: s.StudyTime ?? '',
      studyId: s.StudyID ?? '',
      accessionNumber: s.AccessionNumber ?? '',
      referringPhysicianName: s.ReferringPhysicianName ?? '',
      studyDescription: s.StudyDescription ?? '',
    };
  }

  /**
   * Handles one study (see the module comment); returns its row, not yet committed.
   * @throws PacsUnavailable, Interrupted.
   */
  async processStudy(id: string, change?: OrthancChange): Promise<StudyOutcome> {
    const { pacs, modelHash } = this.o;
    const received = this.now().toISOString();
    const prev = this.o.state.study(id);
    const row: StudyRow = {
      id,
      studyUid: null,
      state: 'failed',
      reason: null,
      seriesUid: null,
      any: null,
      flag: null,
      srUid: null,
      scUid: null,
      modelHash,
      attempts: (prev?.attempts ?? 0) + 1,
      received,
      started: null,
      finished: null,
      seconds: null,
    };
    if (prev !== null && prev.state === 'done' && prev.modelHash === modelHash) {
      return { row: prev, stored: false, already: true };
    }
    const t0 = performance.now();
    const end = (o: StudyOutcome): StudyOutcome => {
      row.finished = this.now().toISOString();
      row.seconds = (performance.now() - t0) / 1000;
      this.reporter.log(
        `study ${row.studyUid ?? id}: ${row.state}${row.reason ? ` (${row.reason})` : ''}`,
        {
          kind: 'study',
          study: row.studyUid,
          orthancId: id,
          seq: change?.Seq ?? null,
          state: row.state,
          reason: row.reason,
          series: row.seriesUid,
          any: row.any,
          flag: row.flag,
          sr: row.srUid,
          sc: row.scUid,
          received: row.received,
          started: row.started,
          stored: row.state === 'done' ? row.finished : null,
          seconds: row.seconds,
        },
      );
      return o;
    };
    try {
      let study: Awaited<ReturnType<OrthancClient['study']>>;
      try {
        study = await pacs.study(id);
      } catch (err) {
        if (err instanceof PacsError && err.status === 404) {
          row.state = 'skipped';
          row.reason = 'the study is no longer in the PACS';
          return end({ row, stored: false, already: false });
        }
        throw err;
      }
      const ctx = this.context(study);
      row.studyUid = ctx.studyUid;
      const srUids = {
        seriesUid: resultUid(ctx.studyUid, modelHash, 'sr-series'),
        instanceUid: resultUid(ctx.studyUid, modelHash, 'sr-instance'),
      };
      const scUids = {
        seriesUid: resultUid(ctx.studyUid, modelHash, 'sc-series'),
        instanceUid: resultUid(ctx.studyUid, modelHash, 'sc-instance'),
      };
      const ours = new Set([srUids.seriesUid, scUids.seriesUid]);
      const all = (await pacs.studySeries(id)).filter(
        (s) => !ours.has(s.MainDicomTags.SeriesInstanceUID ?? ''),
      );
      const infos = await Promise.all(all.map((s) => this.seriesInfo(s)));
      const sel = selectSeries(
        infos.map((x) => x.info),
        this.o.rules,
      );
      if (sel.chosen === null) {
        row.state = 'skipped';
        row.reason = noMatchReason(sel);
        return end({ row, stored: false, already: false });
      }
      const chosen = infos.find((x) => x.info === sel.chosen)!;
      row.seriesUid = chosen.info.seriesUid;
      row.started = this.now().toISOString();
      let downloaded = 0;
      const all2 = await mapLimit(chosen.instances, this.o.downloads ?? 4, async (iid) => {
        const bytes = await pacs.instanceFile(iid);
        if (downloaded++ === 0) this.o.onPhase?.('download', id);
        return { id: iid, bytes };
      });
      checkAborted(this.o.signal, 'watch stopped');
      // Only CT image instances enter the pipeline; the others are skipped with their reason.
      const skipped: SkippedInstance[] = [];
      // Each slice's own SOP class, for the SR's references (CT Image Storage or Enhanced CT).
      const sopOf = new Map<string, string>();
      const files = all2.filter((f) => {
        const x = inspectInstance(f.bytes);
        if (x.reason !== null) skipped.push({ id: f.id, reason: x.reason });
        else if (x.sopInstanceUid !== '') sopOf.set(x.sopInstanceUid, x.sopClassUid);
        return x.reason === null;
      });
      if (files.length === 0) {
        row.state = 'skipped';
        row.reason = `series ${chosen.info.seriesUid} holds no CT image: ${groupReasons(skipped)}`;
        return end({ row, stored: false, already: false });
      }
      const captured: PredictedSeries[] = [];
      const r = await predictInputs(files, this.o.config, {
        runtimeInstance: this.o.runtime,
        reporter: silentReporter,
        progress: false,
        ...(this.o.signal !== undefined && { signal: this.o.signal }),
        ...(this.o.aggregator !== undefined && { aggregator: this.o.aggregator }),
        onSeries: (s) => {
          captured.push({ ...s, x: s.x.slice(), p: s.p.slice() });
        },
      });
      this.o.onPhase?.('predict', id);
      const skippedNote =
        skipped.length === 0
          ? null
          : `${skipped.length} non-image instances skipped: ${groupReasons(skipped)}`;
      const st = r.studies[0];
      if (st === undefined) {
        row.reason = `no slice of series ${chosen.info.seriesUid} could be read: ${[
          ...r.rejects.map((x) => x.reason),
          ...skipped.map((x) => x.reason),
        ]
          .slice(0, 3)
          .join(
            '; ',
          )}${r.rejects.length + skipped.length > 3 ? ` (and ${r.rejects.length + skipped.length - 3} more)` : ''}`;
        return end({ row, stored: false, already: false });
      }
      const mine = r.slices.filter((s) => s.studyUid === st.studyUid);
      const ref = (imageId: string, any: number): SliceReference => ({
        sopClassUid: sopOf.get(imageId) || chosen.sopClassUid || CT_IMAGE_STORAGE,
        sopInstanceUid: imageId,
        any,
      });
      const probabilities = st.max.slice();
      probabilities[ANY_INDEX] = st.any;
      const findings: TriageFindings = {
        labels: LABEL_NAMES,
        probabilities,
        any: st.any,
        threshold: r.threshold.value,
        flag: st.flag,
        seriesUid: chosen.info.seriesUid,
        evidence: mine.map((s) => ref(s.imageId, s.p[ANY_INDEX]!)),
        keySlices: st.top.map((t) => ref(t.imageId, t.any)),
        algorithm: this.o.algorithm,
        keyImageNote:
          this.o.cam !== null
            ? `Key image: the most suspicious slice in the brain window with the heatmap (${this.camName}).`
            : `Key image: the most suspicious slice in the brain window, without a heatmap (${this.o.camNote.toLowerCase()}).`,
        algorithmVersion: `${this.o.config.input.arch} sha256:${modelHash.slice(0, 16)} runtime ${r.runtime}${this.o.aggregator ? ` + ${this.o.aggregator.name}` : ''}`,
      };
      const now = this.now();
      const sr = buildSr(ctx, findings, srUids, now);
      const key = st.top[0]!;
      const sc = await this.keyImage(
        ctx,
        findings,
        key.imageId,
        captured,
        mine.length,
        scUids,
        now,
      );
      checkAborted(this.o.signal, 'watch stopped');
      await this.target.store(sr);
      this.o.onPhase?.('after-sr', id);
      await this.target.store(sc);
      row.state = 'done';
      const notes = [
        ...(r.rejects.length > 0
          ? [`${r.rejects.length} instances rejected: ${r.rejects[0]!.reason}`]
          : []),
        ...(skippedNote !== null ? [skippedNote] : []),
      ];
      row.reason = notes.length > 0 ? notes.join('; ') : null;
      row.any = st.any;
      row.flag = st.flag;
      row.srUid = srUids.instanceUid;
      row.scUid = scUids.instanceUid;
      return end({ row, stored: true, already: false });
    } catch (err) {
      if (err instanceof PacsUnavailable || err instanceof Interrupted) throw err;
      row.state = 'failed';
      row.reason = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
      return end({ row, stored: false, already: false });
    }
  }

  /** What the selector needs of a series: its main tags and its first instance's header. */
  private async seriesInfo(s: Awaited<ReturnType<OrthancClient['studySeries']>>[number]): Promise<{
    info: SeriesInfo;
    instances: string[];
    sopClassUid: string;
  }> {
    const m = s.MainDicomTags;
    const modality = (m.Modality ?? '').trim();
    let tags: Record<string, unknown> = {};
    if (this.o.rules.modalities.includes(modality)) {
      // The header of the first CT image instance: a series may also hold a Secondary Capture,
      // an SR, a dose report or a presentation state (a few are looked at, then the first).
      for (const iid of s.Instances.slice(0, 8)) {
        const t = await this.o.pacs.instanceTags(iid);
        if (Object.keys(tags).length === 0) tags = t;
        if (CT_IMAGE_SOP_CLASSES.has(tag(t, 'SOPClassUID'))) {
          tags = t;
          break;
        }
      }
    }
    const thickness = Number.parseFloat(tag(tags, 'SliceThickness'));
    return {
      info: {
        id: s.ID,
        seriesUid: m.SeriesInstanceUID ?? s.ID,
        modality,
        description: (m.SeriesDescription ?? '').trim(),
        imageType: tag(tags, 'ImageType') === '' ? [] : tag(tags, 'ImageType').split('\\'),
        orientation: numbers(
          tag(tags, 'ImageOrientationPatient') || (m.ImageOrientationPatient ?? ''),
        ),
        thickness: Number.isFinite(thickness) ? thickness : null,
        instances: s.Instances.length,
      },
      instances: s.Instances,
      sopClassUid: tag(tags, 'SOPClassUID'),
    };
  }

  /** The key image's bytes: the key slice in the brain window, its heatmap, the banner. */
  private async keyImage(
    ctx: StudyContext,
    f: TriageFindings,
    imageId: string,
    captured: readonly PredictedSeries[],
    slices: number,
    uids: { seriesUid: string; instanceUid: string },
    now: Date,
  ): Promise<Uint8Array> {
    let series: PredictedSeries | undefined;
    let i = -1;
    for (const s of captured) {
      i = s.slices.findIndex((x) => x.imageId === imageId);
      if (i >= 0) {
        series = s;
        break;
      }
    }
    if (series === undefined) throw new Error(`key slice ${imageId} was not predicted`);
    const ref = series.slices[i]!;
    const brain = { center: 40, width: 80 };
    const { rsnaFix, crop } = this.o.config.input;
    // With a `head`-cropped model the map lies on the box its input covered: one decode gives
    // both the gray image and the box.
    let gray: { data: Float32Array; height: number; width: number };
    let box: CropBox | null = null;
    const bytes = series.bytes[i]!;
    if (crop === 'head') {
      const slice = await withCodecs(() => decodeSlice(bytes, ref.file, { rsnaFix }));
      gray = windowedImage(slice, { windows: [brain] });
      box = headBox(slice.hu, slice.rows, slice.cols);
    } else {
      gray = (await withCodecs(() => readWindowed(bytes, ref.file, { windows: [brain], rsnaFix })))
        .image;
    }
    let map: Float32Array | null = null;
    const cam = this.o.cam;
    if (cam !== null) {
      const per = cam.size * cam.size * cam.channels;
      const m = await cam.maps(series.x.slice(i * per, (i + 1) * per), 1, [ANY_INDEX]);
      map = camToBox(m.maps, m.h, m.w, gray.height, gray.width, box);
    }
    const anyP = series.p[i * LABEL_COUNT + ANY_INDEX]!;
    const lines = [
      'ICHDET AI TRIAGE - UNVERIFIED',
      'NOT FOR DIAGNOSTIC USE',
      f.flag
        ? `ICH SUSPECTED: ANY ${f.any.toFixed(3)} >= ${f.threshold.toFixed(3)}`
        : `NOT FLAGGED: ANY ${f.any.toFixed(3)} < ${f.threshold.toFixed(3)}`,
      `KEY SLICE ${i + 1}/${slices}: ANY ${anyP.toFixed(3)}, W 40/80`,
      map !== null ? `HEATMAP: ${this.camName.toUpperCase()}` : `NO HEATMAP: ${this.o.camNote}`,
    ];
    const img = renderKeyImage(gray.data, gray.height, gray.width, map, lines);
    const fit = bannerChars(img.cols);
    return buildSecondaryCapture(
      ctx,
      { ...img },
      {
        sopClassUid: f.evidence[0]?.sopClassUid ?? CT_IMAGE_STORAGE,
        sopInstanceUid: imageId,
        any: anyP,
        seriesUid: f.seriesUid,
      },
      uids,
      now,
      `Slice ${imageId} of series ${f.seriesUid} in the brain window (40/80)${map !== null ? ` with the heatmap (${this.camName})` : ` without a heatmap (${this.o.camNote.toLowerCase()})`}; banner: ${lines.map((l) => l.slice(0, fit)).join(' / ')}`,
    );
  }
}
