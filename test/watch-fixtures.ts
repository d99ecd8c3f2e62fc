/**
 * What the `ichdet watch` tests and bench share: a real Orthanc (the Debian package) on free
 * loopback ports in a temporary folder, C-STORE with dcmtk's storescu, and synthetic studies
 * made PACS-like (valid UIDs, ImageType, descriptions) from `ichdet synth` output.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import dcmjs from 'dcmjs';
import { encodeDataset } from '../src/dicom/write.js';
import { hashUid } from '../src/watch/uids.js';

export const ORTHANC_BIN = '/usr/sbin/Orthanc';
export const DICOMWEB_PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `fn` every `everyMs` until it returns a value other than undefined (or `timeoutMs`). */
export async function waitFor<T>(
  what: string,
  fn: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await delay(everyMs);
  }
}

/** A running Orthanc; `stop()` ends it by pid, `start()` starts it again on the same ports. */
export class TestOrthanc {
  proc: ChildProcess | null = null;
  readonly url: string;
  private log = '';

  private constructor(
    readonly dir: string,
    readonly httpPort: number,
    readonly dicomPort: number,
    readonly configFile: string,
  ) {
    this.url = `http://127.0.0.1:${httpPort}`;
  }

  /**
   * Orthanc 1.10 has no option for the listening address: it listens on every interface, so the
   * config refuses remote HTTP (`RemoteAccessAllowed: false`) and C-STORE from any host but the
   * declared loopback storescu (`DicomAlwaysAllowStore: false`, `DicomCheckModalityHost`).
   */
  static async create(
    dir: string,
    o: { stableAge?: number; dicomWeb?: boolean } = {},
  ): Promise<TestOrthanc> {
    mkdirSync(dir, { recursive: true });
    const httpPort = await freePort();
    const dicomPort = await freePort();
    const configFile = join(dir, 'orthanc.json');
    writeFileSync(
      configFile,
      JSON.stringify(
        {
          Name: 'ichdet-test',
          HttpPort: httpPort,
          DicomPort: dicomPort,
          DicomAet: 'ICHDETTEST',
          StorageDirectory: join(dir, 'storage'),
          IndexDirectory: join(dir, 'index'),
          RemoteAccessAllowed: false,
          AuthenticationEnabled: false,
          StableAge: o.stableAge ?? 1,
          DicomAlwaysAllowStore: false,
          DicomCheckModalityHost: true,
          DicomModalities: { storescu: ['STORESCU', '127.0.0.1', 104] },
          Plugins: o.dicomWeb === true ? [DICOMWEB_PLUGIN] : [],
          DicomWeb: { Enable: true, Root: '/dicom-web/' },
          HttpDescribeErrors: true,
          ConcurrentJobs: 1,
          SaveJobs: false,
        },
        null,
        2,
      ),
    );
    const o2 = new TestOrthanc(dir, httpPort, dicomPort, configFile);
    await o2.start();
    return o2;
  }

  async start(): Promise<void> {
    this.log = '';
    const p = spawn(ORTHANC_BIN, [this.configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout?.on('data', (d) => {
      this.log = (this.log + String(d)).slice(-4000);
    });
    p.stderr?.on('data', (d) => {
      this.log = (this.log + String(d)).slice(-4000);
    });
    this.proc = p;
    await waitFor(
      `Orthanc on ${this.url} (log: ${this.log})`,
      async () => {
        if (p.exitCode !== null) throw new Error(`Orthanc exited ${p.exitCode}: ${this.log}`);
        const r = await fetch(`${this.url}/system`);
        return r.ok ? true : undefined;
      },
      20_000,
      100,
    );
  }

  /** SIGTERM by pid and wait for the exit (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = null;
    if (p === null || p.exitCode !== null || p.pid === undefined) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    process.kill(p.pid, 'SIGTERM');
    const t = setTimeout(() => {
      if (p.exitCode === null && p.pid !== undefined) process.kill(p.pid, 'SIGKILL');
    }, 10_000);
    await exited;
    clearTimeout(t);
  }

  async json<T>(path: string): Promise<T> {
    const r = await fetch(`${this.url}${path}`);
    if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
    return (await r.json()) as T;
  }

  async bytes(path: string): Promise<Uint8Array> {
    const r = await fetch(`${this.url}${path}`);
    if (!r.ok) throw new Error(`GET ${path}: ${r.status}`);
    return new Uint8Array(await r.arrayBuffer());
  }

  /** Orthanc's id of a study by its StudyInstanceUID (POST /tools/lookup). */
  async studyId(studyUid: string): Promise<string | undefined> {
    const r = await fetch(`${this.url}/tools/lookup`, { method: 'POST', body: studyUid });
    const found = (await r.json()) as { ID: string; Type: string }[];
    return found.find((f) => f.Type === 'Study')?.ID;
  }

  /** The study's series: Modality, SeriesInstanceUID and instance count. */
  async seriesOf(
    studyId: string,
  ): Promise<{ id: string; modality: string; uid: string; instances: string[] }[]> {
    const s = await this.json<
      { ID: string; MainDicomTags: Record<string, string>; Instances: string[] }[]
    >(`/studies/${studyId}/series`);
    return s.map((x) => ({
      id: x.ID,
      modality: x.MainDicomTags.Modality ?? '',
      uid: x.MainDicomTags.SeriesInstanceUID ?? '',
      instances: x.Instances,
    }));
  }

  /** Sends every file of `dir` with storescu (C-STORE, calling AET STORESCU). */
  async storescu(dir: string): Promise<void> {
    await promisify(execFile)('storescu', [
      '-aet',
      'STORESCU',
      '-aec',
      'ICHDETTEST',
      '+sd',
      '+r',
      '-nh',
      '127.0.0.1',
      String(this.dicomPort),
      dir,
    ]);
  }

  /** Waits until Orthanc says the study is stable. */
  async waitStable(studyUid: string, timeoutMs = 20_000): Promise<string> {
    return waitFor(
      `study ${studyUid} stable`,
      async () => {
        const id = await this.studyId(studyUid);
        if (id === undefined) return undefined;
        const s = await this.json<{ IsStable: boolean }>(`/studies/${id}`);
        return s.IsStable ? id : undefined;
      },
      timeoutMs,
      200,
    );
  }
}

/** A valid UID standing for a synth id (`ID_…`). */
export function uidOf(id: string): string {
  return hashUid('synth-uid', id);
}

type Dataset = Record<string, unknown>;

function readDataset(file: string): Dataset {
  const b = readFileSync(file);
  const dict = dcmjs.data.DicomMessage.readFile(
    b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer,
  );
  return dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict);
}

export interface StudySpec {
  /** The synth study's files (one series). */
  files: string[];
  /** A suffix making the study's UIDs new (the same slices as another study). */
  key: string;
  /** Attribute changes on every slice (e.g. `{Modality: 'MR'}`). */
  set?: Dataset;
  /** Keep only the first n slices. */
  slices?: number;
  /** Cut every slice's pixel data to half its length. */
  truncate?: boolean;
  /** Add a one-slice localizer series. */
  scout?: boolean;
}

/**
 * Writes a PACS-like copy of synth slices into `out` (one study): valid UIDs derived from the
 * synth ids and `key`, ImageType ORIGINAL\PRIMARY\AXIAL, a series description, patient name and
 * study date. Returns the study's UID.
 */
export function writeStudy(out: string, s: StudySpec): string {
  mkdirSync(out, { recursive: true });
  const files = s.files.slice(0, s.slices ?? s.files.length);
  let studyUid = '';
  const put = (ds: Dataset, name: string) => {
    writeFileSync(join(out, name), encodeDataset(ds));
  };
  for (const [i, f] of files.entries()) {
    const ds = readDataset(f);
    studyUid = uidOf(`${ds.StudyInstanceUID as string}${s.key}`);
    const slice: Dataset = {
      ...ds,
      SOPInstanceUID: uidOf(`${ds.SOPInstanceUID as string}${s.key}`),
      StudyInstanceUID: studyUid,
      SeriesInstanceUID: uidOf(`${ds.SeriesInstanceUID as string}${s.key}`),
      PatientName: `Synth^${ds.PatientID as string}`,
      StudyDate: '20240102',
      StudyTime: '101500',
      AccessionNumber: `A${s.key}`,
      StudyID: '1',
      SeriesNumber: 2,
      ImageType: ['ORIGINAL', 'PRIMARY', 'AXIAL'],
      SeriesDescription: 'HEAD WO 5mm',
      ...s.set,
    };
    if (s.truncate === true) {
      const px = slice.PixelData as ArrayBuffer[];
      slice.PixelData = [px[0]!.slice(0, Math.floor(px[0]!.byteLength / 4) * 2)];
    }
    put(slice, `${i}.dcm`);
    if (i === 0 && s.scout === true) {
      put(
        {
          ...slice,
          SOPInstanceUID: uidOf(`${ds.SOPInstanceUID as string}${s.key}-scout`),
          SeriesInstanceUID: uidOf(`${ds.SeriesInstanceUID as string}${s.key}-scout`),
          SeriesNumber: 1,
          ImageType: ['ORIGINAL', 'PRIMARY', 'LOCALIZER'],
          SeriesDescription: 'Topogram 0.6',
          ImageOrientationPatient: [1, 0, 0, 0, 0, -1],
        },
        'scout.dcm',
      );
    }
  }
  return studyUid;
}

/** The synth studies' files, by synth study id (the CSV's image ids are the file names). */
export function synthStudies(imagesDir: string): string[][] {
  const by = new Map<string, string[]>();
  for (const name of readdirSync(imagesDir).sort()) {
    const f = join(imagesDir, name);
    const ds = readDataset(f);
    const k = ds.StudyInstanceUID as string;
    const list = by.get(k) ?? [];
    list.push(f);
    by.set(k, list);
  }
  return [...by.values()];
}
