/**
 * The HTTP server of `ichdet view` (Fastify): the browser client, a read-only DICOMweb subset
 * over the served folder (QIDO-RS studies/series/instances as application/dicom+json, WADO-RS
 * instances as multipart/related and their metadata), and a JSON/binary API for the viewer —
 * decoded stored pixels, predictions, heatmaps, masks and the ONNX model for in-browser
 * inference. Binds 127.0.0.1 unless told otherwise; any other address needs a token, checked on
 * every request (`Authorization: Bearer`, `?token=` once, then an HttpOnly cookie). Every path
 * stays inside the served folder (realpath: `..` and symlinks that leave it answer 404). Every
 * response carries COOP same-origin / COEP require-corp, so the page is cross-origin isolated
 * and onnxruntime-web can use wasm threads. With `cors`, the DICOMweb routes answer that one
 * origin (Access-Control-Allow-Origin, preflight OPTIONS) so a viewer such as OHIF served from
 * elsewhere can read them; the token, when set, is still required on every GET. With
 * `seriesModel` (a `train-series` run with its ONNX export), the predictions' stage-1
 * probabilities go through the series models as in `predict --series-model`, and the page can
 * run the same ONNX files after its CNN.
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, realpathSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { readSlice } from '../dicom/read.js';
import { ConfigError, InputError } from '../errors.js';
import { ONNX_METADATA_KEY } from '../infer/onnx-export.js';
import { inspectModel } from '../infer/onnx-proto.js';
import { decodeNpy } from '../io/npy.js';
import { ANY_INDEX, LABEL_NAMES } from '../labels.js';
import {
  loadSeriesOnnxAggregator,
  seriesModelDirs,
  seriesThreshold,
} from '../series/aggregator.js';
import { SERIES_ONNX_FILE } from '../series/onnx.js';
import { instanceJson, metadataJson, multipartDicom, seriesJson, studyJson } from './dicomweb.js';
import {
  type FolderIndex,
  indexFolder,
  resolveInside,
  type ViewInstance,
  type ViewSeries,
  type ViewStudy,
} from './folder.js';
import {
  indexHeatmaps,
  indexMasks,
  type Predictions,
  readPredictions,
  type StageTwo,
  stageTwo,
} from './results.js';

export interface ViewServerOptions {
  /** The served folder of DICOM files. */
  folder: string;
  /** `slices.csv` of `ichdet predict`, or its output folder. */
  predictions?: string;
  /** Folder of `<image>_<label>.npy` heatmaps (`predict --cam`); default PRED/cam when present. */
  cam?: string;
  /** Folder of `<image>.png` label masks (`ichdet synth`'s masks/). */
  masks?: string;
  /** An .onnx model the page may run itself ("Analyse in browser"). */
  onnx?: string;
  /**
   * Per-label thresholds (LABEL_NAMES order) of that model's run, for the strip when there are
   * no predictions (the predictions' own thresholds win).
   */
  modelThresholds?: number[];
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 8080; 0 picks a free port. */
  port?: number;
  /** Required for any host that is not loopback. */
  token?: string;
  /**
   * A `train-series` run whose folds have their ONNX export (`SRUN/fold<k>/model.onnx`): stage 2
   * of the predictions, and of the page's own analysis.
   */
  seriesModel?: string;
  /** An origin (`https://ohif.example:3000`) allowed to read the DICOMweb routes (CORS). */
  cors?: string;
  /** The bundled client (index.html, app.js, worker.js); default the package's dist/view-web. */
  assets?: string;
}

export interface ViewServer {
  url: string;
  app: FastifyInstance;
  index: FolderIndex;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);
const TOKEN_COOKIE = 'ichdet_view_token';

/** True for an address only this machine can reach. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/**
 * Checks host and token before anything binds: a non-loopback host without a token is refused.
 *
 * @throws ConfigError naming the host.
 */
export function checkBinding(host: string, token: string | undefined): void {
  if (token !== undefined && token.length < 8) {
    throw new ConfigError(`--token must be at least 8 characters, received ${token.length}`);
  }
  if (!isLoopback(host) && token === undefined) {
    throw new ConfigError(
      `--host ${host} is reachable from other machines; it needs --token <secret> (checked on every request), or bind 127.0.0.1`,
    );
  }
}

/** The package's bundled client: dist/view-web next to the compiled (or source) server. */
export function defaultAssets(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [join(here, '..', 'view-web'), join(here, '..', '..', 'dist', 'view-web')];
  return candidates.find((d) => existsSync(join(d, 'index.html'))) ?? candidates[0]!;
}

/** onnxruntime-web's dist/ folder (its wasm and loader files, served to the worker). */
function ortDist(): string {
  const req = createRequire(import.meta.url);
  return dirname(req.resolve('onnxruntime-web'));
}

const ASSET_TYPES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'worker.js': 'text/javascript; charset=utf-8',
  'app.js.map': 'application/json',
  'worker.js.map': 'application/json',
};

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieToken(req: FastifyRequest): string | undefined {
  const header = req.headers.cookie ?? '';
  for (const part of header.split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === TOKEN_COOKIE) return decodeURIComponent(v.join('='));
  }
  return undefined;
}

/** The most slices whose decoded pixels the server keeps (≈ 64 MiB at 512² × 16 bits). */
const DECODED_CACHE_SLICES = 128;

/** A slice's stored pixels as `/api/instances/:sop/stored` sends them. */
interface DecodedSlice {
  body: Buffer;
  dtype: string;
  rows: number;
  cols: number;
  /** JSON of what HU needs: rescale, bits stored, pixel representation. */
  hu: string;
}

async function decodeStored(root: string, i: ViewInstance): Promise<DecodedSlice | null> {
  const file = await resolveInside(root, i.file);
  if (file === null) return null;
  const slice = await readSlice(file);
  const s = slice.stored;
  return {
    body: Buffer.from(s.buffer, s.byteOffset, s.byteLength),
    dtype: s.constructor.name.replace('Array', '').toLowerCase(),
    rows: slice.rows,
    cols: slice.cols,
    hu: JSON.stringify({
      rescaleSlope: slice.rescaleSlope,
      rescaleIntercept: slice.rescaleIntercept,
      bitsStored: slice.bitsStored,
      pixelRepresentation: slice.pixelRepresentation,
    }),
  };
}

interface Lookup {
  study: ViewStudy;
  series: ViewSeries;
  instance: ViewInstance;
}

/** Starts the viewer's server; resolves once it listens. */
export async function startViewServer(o: ViewServerOptions): Promise<ViewServer> {
  const host = o.host ?? '127.0.0.1';
  checkBinding(host, o.token);
  let root: string;
  try {
    root = realpathSync(o.folder);
  } catch {
    throw new ConfigError(`folder ${o.folder} does not exist`);
  }
  const index = await indexFolder(root);
  const predictions: Predictions | null =
    o.predictions === undefined ? null : readPredictions(o.predictions);
  const camDir =
    o.cam ??
    (predictions !== null && existsSync(join(dirname(predictions.file), 'cam'))
      ? join(dirname(predictions.file), 'cam')
      : undefined);
  const heatmaps = camDir === undefined ? new Map() : indexHeatmaps(camDir);
  const masks = o.masks === undefined ? new Map<string, string>() : indexMasks(o.masks);
  if (o.onnx !== undefined && !existsSync(o.onnx)) {
    throw new ConfigError(`--model ${o.onnx} does not exist`);
  }
  const assets = o.assets ?? defaultAssets();
  if (!existsSync(join(assets, 'index.html'))) {
    throw new ConfigError(
      `the viewer's client is not built (${join(assets, 'index.html')} missing); run npm run build`,
    );
  }
  const ort = ortDist();
  if (o.cors !== undefined && !/^https?:\/\/[^/\s]+$/.test(o.cors)) {
    throw new ConfigError(
      `--cors must be an origin such as http://localhost:3000 (scheme, host, port; no path), received "${o.cors}"`,
    );
  }

  // Stage 2: the series run's fold models in ONNX Runtime, as predict --runtime onnx runs them.
  let seriesFiles: string[] = [];
  let stage2: StageTwo | null = null;
  let stage2Any: number | null = null;
  if (o.seriesModel !== undefined) {
    seriesFiles = seriesModelDirs(resolve(o.seriesModel)).map((d) => join(d, SERIES_ONNX_FILE));
    const missing = seriesFiles.find((f) => !existsSync(f));
    if (missing !== undefined) {
      throw new InputError(
        `${missing} is missing: the viewer runs the series models from ONNX files; write them with ichdet export-onnx ${o.seriesModel}`,
      );
    }
    stage2Any = seriesThreshold(o.seriesModel).value;
    if (predictions !== null) {
      if (predictions.seriesModel !== null) {
        throw new ConfigError(
          `${predictions.file} holds stage-2 probabilities already (predict --series-model ${predictions.seriesModel}); give --series-model with the stage-1 predictions, or leave it out`,
        );
      }
      // The stage-1 model predict ran (predict.json): a --fold-norm series run maps its
      // probabilities as predict --series-model does.
      const agg = await loadSeriesOnnxAggregator(o.seriesModel, {
        threads: 1,
        ...(predictions.model !== null && { stage1: predictions.model }),
      });
      try {
        stage2 = await stageTwo(predictions, agg);
      } finally {
        agg.dispose();
      }
    }
  }
  const stage1Thresholds =
    predictions?.thresholds ?? o.modelThresholds ?? LABEL_NAMES.map(() => 0.5);
  const stage2Thresholds =
    stage2Any === null
      ? null
      : stage1Thresholds.map((t, l) => (l === ANY_INDEX ? (stage2Any as number) : t));
  /** The probabilities shown by default and the threshold of the flag: stage 2's when there is one. */
  const shownP = (imageId: string): number[] | undefined =>
    stage2?.byImage.get(imageId) ?? predictions?.byImage.get(imageId)?.p;
  const flagThreshold = stage2Any ?? predictions?.threshold ?? null;

  const studies = new Map(index.studies.map((s) => [s.studyInstanceUid, s]));
  const bySop = new Map<string, Lookup>();
  for (const study of index.studies) {
    for (const series of study.series) {
      for (const instance of series.instances)
        bySop.set(instance.sopInstanceUid, { study, series, instance });
    }
  }

  // forceCloseConnections: close() does not wait for a browser's idle keep-alive or preconnected sockets.
  const app = Fastify({ logger: false, forceCloseConnections: true });
  app.addHook('onRequest', async (req, reply) => {
    reply.header('Cross-Origin-Opener-Policy', 'same-origin');
    reply.header('Cross-Origin-Embedder-Policy', 'require-corp');
    reply.header('Cross-Origin-Resource-Policy', 'same-origin');
    reply.header('X-Content-Type-Options', 'nosniff');
    if (o.cors !== undefined && req.url.startsWith('/dicomweb/')) {
      reply.header('Vary', 'Origin');
      if (req.headers.origin === o.cors) {
        reply.header('Access-Control-Allow-Origin', o.cors);
        reply.header('Cross-Origin-Resource-Policy', 'cross-origin');
        reply.header('Access-Control-Expose-Headers', 'Content-Type, Content-Length');
        if (req.method === 'OPTIONS') {
          // A preflight carries no credentials: it is answered before the token check.
          return reply
            .code(204)
            .header('Access-Control-Allow-Methods', 'GET, OPTIONS')
            .header('Access-Control-Allow-Headers', 'Authorization, Accept, Content-Type')
            .header('Access-Control-Max-Age', '600')
            .send();
        }
      }
    }
    if (o.token === undefined) return;
    const url = new URL(req.url, 'http://x');
    const given =
      /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ??
      url.searchParams.get('token') ??
      cookieToken(req);
    if (given === undefined || !sameSecret(given, o.token)) {
      return reply.code(401).send({ error: 'a valid token is required' });
    }
    if (url.searchParams.has('token')) {
      reply.header(
        'Set-Cookie',
        `${TOKEN_COOKIE}=${encodeURIComponent(o.token)}; HttpOnly; SameSite=Strict; Path=/`,
      );
    }
  });

  // Decoded stored pixels, kept for the most recent instances: opening a series decodes its
  // slices ahead, in order, while the page draws the first one, so the first scroll through it
  // finds them ready (a request for a slice not reached yet decodes it at once).
  const decodedCache = new Map<string, Promise<DecodedSlice | null>>();
  const decoded = (i: ViewInstance): Promise<DecodedSlice | null> => {
    let p = decodedCache.get(i.sopInstanceUid);
    if (p === undefined) {
      p = decodeStored(root, i).catch(() => null);
      decodedCache.set(i.sopInstanceUid, p);
      while (decodedCache.size > DECODED_CACHE_SLICES) {
        decodedCache.delete(decodedCache.keys().next().value!);
      }
    }
    return p;
  };
  const decodeAhead = async (instances: readonly ViewInstance[]) => {
    for (const i of instances.slice(0, DECODED_CACHE_SLICES)) await decoded(i);
  };

  const notFound = (reply: FastifyReply, what: string) =>
    reply.code(404).send({ error: `${what} not found` });

  // The client.
  const sendAsset = async (name: string, reply: FastifyReply) => {
    const type = ASSET_TYPES[name];
    if (type === undefined) return notFound(reply, name);
    try {
      const body = await readFile(join(assets, name));
      return reply.type(type).header('Cache-Control', 'no-cache').send(body);
    } catch {
      return notFound(reply, name);
    }
  };
  app.get('/', (_req, reply) => sendAsset('index.html', reply));
  app.get<{ Params: { name: string } }>('/static/:name', (req, reply) =>
    sendAsset(req.params.name, reply),
  );
  app.get<{ Params: { name: string } }>('/ort/:name', async (req, reply) => {
    const name = req.params.name;
    if (!/^ort[\w.-]*\.(mjs|wasm)$/.test(name)) return notFound(reply, name);
    try {
      const body = await readFile(join(ort, name));
      return reply
        .type(name.endsWith('.wasm') ? 'application/wasm' : 'text/javascript')
        .header('Cache-Control', 'max-age=3600')
        .send(body);
    } catch {
      return notFound(reply, name);
    }
  });
  app.get('/healthz', async () => ({ ok: true }));
  // CORS preflights of the DICOMweb routes (answered in onRequest when the origin is allowed).
  app.options('/dicomweb/*', (_req, reply) => reply.code(204).send());

  // The viewer's API.
  app.get('/api/info', async () => ({
    banner: 'Research use only — not for diagnosis',
    threshold: flagThreshold,
    thresholds: { stage1: stage1Thresholds, stage2: stage2Thresholds },
    seriesModels: seriesFiles.length,
    predictions: predictions !== null,
    heatmaps: heatmaps.size > 0,
    masks: masks.size > 0,
    model: o.onnx !== undefined,
    labels: LABEL_NAMES,
    unreadable: index.unreadable,
  }));
  app.get('/api/studies', async () =>
    index.studies.map((st) => {
      const scores = st.series.flatMap((se) =>
        se.instances.map((i) => predictions?.byImage.get(i.imageId)),
      );
      const known = scores.filter((s) => s !== undefined);
      const study = {
        studyUid: st.studyInstanceUid,
        patientId: st.patientId,
        patientName: st.patientName,
        studyDate: st.studyDate,
        series: st.series.map((se) => ({
          seriesUid: se.seriesInstanceUid,
          description: se.description,
          slices: se.instances.length,
        })),
        slices: st.series.reduce((n, se) => n + se.instances.length, 0),
      };
      if (stage2 !== null) {
        // Stage 2: a study is as likely positive as its most likely series (predict's rule).
        const anys = st.series
          .map((se) => stage2!.seriesAny.get(se.seriesInstanceUid))
          .filter((a) => a !== undefined);
        const any = anys.length ? Math.max(...anys) : null;
        return { ...study, any, flag: any === null ? null : any >= stage2Any!, stage: 2 };
      }
      return {
        ...study,
        any: known.length ? Math.max(...known.map((s) => s.p[ANY_INDEX]!)) : null,
        flag: known.length ? known.some((s) => s.flag) : null,
        stage: predictions?.seriesModel ? 2 : 1,
      };
    }),
  );
  app.get<{ Params: { series: string } }>('/api/series/:series', async (req, reply) => {
    const hit = index.studies
      .flatMap((st) => st.series.map((se) => ({ st, se })))
      .find((x) => x.se.seriesInstanceUid === req.params.series);
    if (!hit) return notFound(reply, `series ${req.params.series}`);
    void decodeAhead(hit.se.instances);
    return {
      studyUid: hit.st.studyInstanceUid,
      seriesUid: hit.se.seriesInstanceUid,
      patientId: hit.st.patientId,
      threshold: flagThreshold,
      thresholds: stage2 !== null ? stage2Thresholds : stage1Thresholds,
      stage1Thresholds,
      seriesAny: stage2?.seriesAny.get(hit.se.seriesInstanceUid) ?? null,
      instances: hit.se.instances.map((i) => {
        const s = predictions?.byImage.get(i.imageId);
        const p = shownP(i.imageId) ?? null;
        return {
          sopInstanceUid: i.sopInstanceUid,
          imageId: i.imageId,
          position: i.position,
          instanceNumber: i.instanceNumber,
          rows: i.rows,
          cols: i.cols,
          pixelSpacing: i.pixelSpacing,
          p,
          /** The CNN's own probabilities when `p` is stage 2's (null otherwise). */
          stage1: stage2 !== null ? (s?.p ?? null) : null,
          flag:
            stage2 !== null ? (p === null ? null : p[ANY_INDEX]! >= stage2Any!) : (s?.flag ?? null),
          heatmaps: [...(heatmaps.get(i.imageId)?.keys() ?? [])],
          mask: masks.has(i.imageId),
        };
      }),
    };
  });
  app.get<{ Params: { sop: string } }>('/api/instances/:sop/stored', async (req, reply) => {
    const hit = bySop.get(req.params.sop);
    if (!hit) return notFound(reply, `instance ${req.params.sop}`);
    const d = await decoded(hit.instance);
    if (d === null) return notFound(reply, hit.instance.file);
    return reply
      .type('application/octet-stream')
      .header('X-Dtype', d.dtype)
      .header('X-Rows', String(d.rows))
      .header('X-Cols', String(d.cols))
      .header('X-Hu', d.hu)
      .send(d.body);
  });
  app.get<{ Params: { sop: string; label: string } }>(
    '/api/instances/:sop/heatmap/:label',
    async (req, reply) => {
      const hit = bySop.get(req.params.sop);
      const file = hit && heatmaps.get(hit.instance.imageId)?.get(req.params.label);
      if (!file) return notFound(reply, `heatmap ${req.params.label} of ${req.params.sop}`);
      const npy = decodeNpy(await readFile(file), file);
      const f = Float32Array.from(npy.data as ArrayLike<number>);
      return reply
        .type('application/octet-stream')
        .header('X-Rows', String(npy.shape[0]))
        .header('X-Cols', String(npy.shape[1] ?? 1))
        .send(Buffer.from(f.buffer));
    },
  );
  app.get<{ Params: { sop: string } }>('/api/instances/:sop/mask', async (req, reply) => {
    const hit = bySop.get(req.params.sop);
    const file = hit && masks.get(hit.instance.imageId);
    if (!file) return notFound(reply, `mask of ${req.params.sop}`);
    return reply.type('image/png').send(await readFile(file));
  });
  app.get('/api/model.onnx', async (_req, reply) => {
    if (o.onnx === undefined) return notFound(reply, 'model');
    return reply.type('application/octet-stream').send(await readFile(o.onnx));
  });
  app.get<{ Params: { fold: string } }>('/api/series-model/:fold', async (req, reply) => {
    const file = /^\d+$/.test(req.params.fold) ? seriesFiles[Number(req.params.fold)] : undefined;
    if (file === undefined) return notFound(reply, `series model ${req.params.fold}`);
    return reply.type('application/octet-stream').send(await readFile(file));
  });
  app.get('/api/model-card', async (_req, reply) => {
    if (o.onnx === undefined) return notFound(reply, 'model');
    const json = inspectModel(await readFile(o.onnx)).metadata[ONNX_METADATA_KEY];
    if (json === undefined)
      return reply.code(422).send({ error: `${o.onnx} has no ichdet metadata` });
    return reply.type('application/json').send(json);
  });
  // Raw files of the folder by path (realpath-confined).
  app.get<{ Params: { '*': string } }>('/files/*', async (req, reply) => {
    const rel = req.params['*'];
    const file = await resolveInside(root, rel);
    if (file === null) return notFound(reply, 'file');
    try {
      return reply.type('application/dicom').send(await readFile(file));
    } catch {
      return notFound(reply, 'file');
    }
  });

  // DICOMweb: QIDO-RS and WADO-RS (PS3.18 10.6, 10.4).
  const dicomJson = (reply: FastifyReply, body: unknown) =>
    reply.header('Content-Type', 'application/dicom+json').send(Buffer.from(JSON.stringify(body)));
  app.get<{ Querystring: Record<string, string> }>('/dicomweb/studies', async (req, reply) => {
    const q = req.query;
    const rows = index.studies.filter(
      (st) =>
        (q.PatientID === undefined || st.patientId === q.PatientID) &&
        (q.StudyInstanceUID === undefined || st.studyInstanceUid === q.StudyInstanceUID),
    );
    return dicomJson(reply, rows.map(studyJson));
  });
  app.get<{ Params: { study: string } }>('/dicomweb/studies/:study/series', async (req, reply) => {
    const st = studies.get(req.params.study);
    if (!st) return notFound(reply, 'study');
    return dicomJson(
      reply,
      st.series.map((se) => seriesJson(st, se)),
    );
  });
  const findSeries = (study: string, series: string) => {
    const st = studies.get(study);
    const se = st?.series.find((s) => s.seriesInstanceUid === series);
    return st && se ? { st, se } : null;
  };
  app.get<{ Params: { study: string; series: string } }>(
    '/dicomweb/studies/:study/series/:series/instances',
    async (req, reply) => {
      const hit = findSeries(req.params.study, req.params.series);
      if (!hit) return notFound(reply, 'series');
      return dicomJson(
        reply,
        hit.se.instances.map((i) => instanceJson(hit.st, hit.se, i)),
      );
    },
  );
  const instanceBytes = async (i: ViewInstance): Promise<Uint8Array | null> => {
    const file = await resolveInside(root, i.file);
    return file === null ? null : readFile(file);
  };
  const base = (req: FastifyRequest) => req.url.split('?')[0]!.replace(/\/metadata$/, '');
  app.get<{ Params: { study: string; series: string; sop: string } }>(
    '/dicomweb/studies/:study/series/:series/instances/:sop',
    async (req, reply) => {
      const hit = findSeries(req.params.study, req.params.series);
      const inst = hit?.se.instances.find((i) => i.sopInstanceUid === req.params.sop);
      const bytes = inst && (await instanceBytes(inst));
      if (!bytes) return notFound(reply, 'instance');
      const m = multipartDicom([bytes]);
      return reply.type(m.contentType).send(m.body);
    },
  );
  app.get<{ Params: { study: string; series: string; sop: string } }>(
    '/dicomweb/studies/:study/series/:series/instances/:sop/metadata',
    async (req, reply) => {
      const hit = findSeries(req.params.study, req.params.series);
      const inst = hit?.se.instances.find((i) => i.sopInstanceUid === req.params.sop);
      const bytes = inst && (await instanceBytes(inst));
      if (!bytes) return notFound(reply, 'instance');
      return dicomJson(reply, [metadataJson(bytes, base(req))]);
    },
  );
  app.get<{ Params: { study: string; series: string } }>(
    '/dicomweb/studies/:study/series/:series/metadata',
    async (req, reply) => {
      const hit = findSeries(req.params.study, req.params.series);
      if (!hit) return notFound(reply, 'series');
      const out = [];
      for (const inst of hit.se.instances) {
        const bytes = await instanceBytes(inst);
        if (bytes) out.push(metadataJson(bytes, `${base(req)}/instances/${inst.sopInstanceUid}`));
      }
      return dicomJson(reply, out);
    },
  );

  await app.listen({ host, port: o.port ?? 8080 });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : (o.port ?? 8080);
  const shown = host.includes(':') ? `[${host}]` : host;
  const url = `http://${shown}:${port}/${o.token === undefined ? '' : `?token=${encodeURIComponent(o.token)}`}`;
  return { url, app, index, close: () => app.close() };
}
