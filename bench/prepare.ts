/**
 * Benchmarks of `ichdet prepare` and of the cache it writes:
 * - prepare: slices/s from uncompressed 512×512 12-bit DICOM to a 256×256×3 cache and to a
 *   full-resolution 512×512×3 cache on 2 worker threads, end to end (listing, decoding,
 *   writing, fdatasync, index, final step), and the CPU time per slice (user + system of every
 *   thread, from /usr/bin/time: steady under load, unlike the wall clock); target ≥ 2,000/s at
 *   both sizes (the 752k-slice RSNA set in under 7 minutes; 6× the reference's 343/s per core).
 * - cache reads: slices/s for random-access batches of 32 (page cache warm, as during
 *   training after the first epoch); target ≥ 20,000/s.
 * The DICOM files are written first and not timed. Run alone with `npx tsx bench/prepare.ts`
 * (`--quick` for fewer files).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import {
  closeSync,
  existsSync,
  fdatasyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openCache } from '../src/data/cache.js';
import { encodeSlice } from '../src/dicom/write.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  target: string;
}

/** A head-like 512² slice (air, scalp, skull, noisy brain), stored = HU + 1024, 12 bits. */
function phantom(seed: number): Uint16Array {
  const n = 512;
  const px = new Uint16Array(n * n);
  let s = (seed * 2654435761 + 1) >>> 0;
  const c = n / 2;
  for (let y = 0; y < n; y++) {
    for (let x = 0; x < n; x++) {
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      const r = Math.hypot((x - c) / (0.38 * n), (y - c) / (0.45 * n));
      let hu = -1000;
      if (r < 0.86) hu = 30 + (s / 0x7fffffff - 0.5) * 12;
      else if (r < 0.94) hu = 1200;
      else if (r < 1) hu = 45;
      px[y * n + x] = Math.round(hu) + 1024;
    }
  }
  return px;
}

export function writeDataset(dir: string, files: number, perSeries: number): void {
  const base = phantom(1);
  const stored = new Uint16Array(base.length);
  for (let i = 0; i < files; i++) {
    const series = Math.floor(i / perSeries);
    // A cheap per-slice variation so records differ.
    for (let j = 0; j < base.length; j++) stored[j] = base[j]! + ((j + i) % 7);
    const bytes = encodeSlice({
      rows: 512,
      cols: 512,
      stored,
      bitsAllocated: 16,
      bitsStored: 12,
      pixelRepresentation: 0,
      rescaleSlope: 1,
      rescaleIntercept: -1024,
      patientId: `ID_${series.toString(16).padStart(8, '0')}`,
      studyInstanceUid: `ID_s${series.toString(16).padStart(9, '0')}`,
      seriesInstanceUid: `ID_r${series.toString(16).padStart(9, '0')}`,
      sopInstanceUid: `ID_${i.toString(16).padStart(9, '0')}`,
      imagePositionPatient: [-125, -125, 5 * (i % perSeries)],
      imageOrientationPatient: [1, 0, 0, 0, 1, 0],
      pixelSpacing: [0.488, 0.488],
    });
    const sub = join(dir, `series-${series}`);
    mkdirSync(sub, { recursive: true });
    writeFileSync(join(sub, `ID_${i.toString(16).padStart(9, '0')}.dcm`), bytes);
  }
}

/** What one timed `ichdet prepare` gives. */
interface PrepareRun {
  cached: number;
  /** Wall clock of the whole command, Node's start-up included. */
  seconds: number;
  /** The rate the command reports (its start to the cache being complete). */
  reportedRate: number;
  /** User + system CPU seconds of the process and its worker threads (NaN if unmeasured). */
  cpuSeconds: number;
  from: string;
}

/**
 * Runs `ichdet prepare` as users run it: the built CLI (`node dist/cli/run.js`) in its own
 * process, without this bench's TypeScript loader (whose module hooks also slow the worker
 * threads down), under `/usr/bin/time` when it exists so that the CPU time is known (CPU time
 * stays meaningful on a loaded machine where wall clock does not). Falls back to the library
 * function from sources when there is no build.
 */
async function runPrepare(images: string, out: string, size: number): Promise<PrepareRun> {
  const cli = fileURLToPath(new URL('../dist/cli/run.js', import.meta.url));
  if (existsSync(cli)) {
    const args = [
      cli,
      'prepare',
      '--images',
      images,
      '--out',
      out,
      '--size',
      String(size),
      '--workers',
      '2',
      '--no-progress',
    ];
    const timed = existsSync(TIME);
    const t0 = performance.now();
    const r = spawnSync(
      timed ? TIME : process.execPath,
      timed ? ['-f', 'cpu %U %S', process.execPath, ...args] : args,
      { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } },
    );
    const seconds = (performance.now() - t0) / 1000;
    if (r.status !== 0) throw new Error(`ichdet prepare failed: ${r.stderr}`);
    const cached = Number(/(\d+) slices cached/.exec(r.stdout)?.[1] ?? Number.NaN);
    // The command's own rate: from its start to the cache being complete, without Node's
    // process start-up (about 0.3 s here, which a 3,000-slice run would otherwise pay for).
    const reportedRate = Number(/, (\d+) slices\/s\)/.exec(r.stdout)?.[1] ?? Number.NaN);
    const cpu = /cpu ([\d.]+) ([\d.]+)/.exec(r.stderr);
    const cpuSeconds = cpu ? Number(cpu[1]) + Number(cpu[2]) : Number.NaN;
    return { cached, seconds, reportedRate, cpuSeconds, from: 'the built CLI' };
  }
  const { prepare } = await import('../src/commands/prepare.js');
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await prepare({ images, out, size, workers: 2, progress: false });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    cached: r.cached,
    seconds,
    reportedRate: r.slicesPerSecond,
    cpuSeconds: (cpu.user + cpu.system) / 1e6,
    from: 'TypeScript sources',
  };
}

const TIME = '/usr/bin/time';

/**
 * The disk's own ceiling for a cache of `records` records of `bytes` each: the records written
 * to one new file in order from one thread, then fdatasync (the calls prepare makes, without
 * decoding anything). Returns records per second.
 */
export function durableWriteRate(dir: string, records: number, bytes: number): number {
  const path = join(dir, 'disk-ceiling.bin');
  const record = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) record[i] = (i * 131) & 0xff;
  const fd = openSync(path, 'w');
  try {
    const t0 = performance.now();
    for (let i = 0; i < records; i++) writeSync(fd, record, 0, bytes, i * bytes);
    fdatasyncSync(fd);
    return records / ((performance.now() - t0) / 1000);
  } finally {
    closeSync(fd);
    rmSync(path, { force: true });
  }
}

export async function benchPrepare(
  quick = process.argv.includes('--quick'),
): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'ichdet-bench-prepare-'));
  try {
    const files = quick ? 400 : 3000;
    const images = join(root, 'images');
    writeDataset(images, files, 40);
    // The input of a real run is on disk already: flush the just-written files so that their
    // write-back does not slow the cache's own fdatasync calls during the timed run.
    execFileSync('sync');
    // Measure what users run: the compiled CLI code (worker threads start from dist/ without
    // a TypeScript loader). `npm run bench` builds first; from sources when there is no build.
    const rows: BenchResult[] = [];
    for (const size of [256, 512]) {
      const r = await runPrepare(images, join(root, `cache-${size}`), size);
      const what = size === 512 ? '512²×3 cache (no resize)' : `${size}²×3 cache`;
      rows.push(
        {
          name: `prepare: 512² 12-bit DICOM → ${what}, 2 workers (${r.cached} slices, ${r.from}, rate it reports)`,
          value: Math.round(r.reportedRate),
          unit: 'slices/s',
          target: '≥ 2,000',
        },
        {
          name: `prepare ${size}: wall clock of the whole process incl. Node start-up`,
          value: Math.round(r.cached / r.seconds),
          unit: 'slices/s',
          target: '—',
        },
        {
          name: `prepare ${size}: CPU (user + sys, all threads, /usr/bin/time) per slice`,
          value: (1000 * r.cpuSeconds) / r.cached,
          unit: 'ms/slice',
          target: '≤ 1 (2,000/s on 2 cores)',
        },
      );
    }
    // What the disk allows at 512² whatever prepare does: 786,432-byte records, durably.
    rmSync(join(root, 'cache-512'), { recursive: true, force: true });
    execFileSync('sync');
    const ceiling = durableWriteRate(root, files, 512 * 512 * 3);
    rows.push({
      name: `disk: ${files} records of 512²×3 bytes written and fdatasync'd, one thread, no decoding (prepare 512²'s ceiling here; ${((ceiling * 512 * 512 * 3) / 1e9).toFixed(2)} GB/s)`,
      value: Math.round(ceiling),
      unit: 'slices/s',
      target: '—',
    });
    const out = join(root, 'cache-256');
    const cache = openCache(out, { size: 256 });
    let readRate = 0;
    try {
      const n = cache.count();
      const batch = 32;
      const outBuf = new Uint8Array(batch * cache.config.recordBytes);
      let s = 12345;
      const pick = () => {
        s = (s * 1103515245 + 12345) & 0x7fffffff;
        return s % n;
      };
      const ids = () => Array.from({ length: batch }, pick);
      for (let i = 0; i < 20; i++) cache.readBatch(ids(), outBuf); // warm the page cache
      const rounds = quick ? 200 : 1000;
      const t0 = performance.now();
      for (let i = 0; i < rounds; i++) cache.readBatch(ids(), outBuf);
      readRate = (rounds * batch) / ((performance.now() - t0) / 1000);
    } finally {
      cache.close();
    }
    rows.push({
      name: 'cache: random-access batches of 32 records (256²×3), 1 thread, page cache warm',
      value: Math.round(readRate),
      unit: 'slices/s',
      target: '≥ 20,000',
    });
    return rows;
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchPrepare())
    console.log(`${r.name}: ${Number(r.value.toPrecision(4))} ${r.unit} (target ${r.target})`);
}
