/**
 * `npm run bench`: throughput of the DICOM layer (and, when present, of the other stages),
 * printed as a Markdown table. Targets come from the issues; nothing here is asserted.
 *
 *   npm run bench            full run
 *   npm run bench -- --quick fewer slices (a smoke run)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initCodecs } from '../src/dicom/codecs.js';
import { readWindowed, readWindowedUint8 } from '../src/dicom/fastpath.js';
import {
  DEFLATED_EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  HTJ2K,
  HTJ2K_LOSSLESS,
  IMPLICIT_VR_LE,
  JPEG_LOSSLESS_SV1,
  JPEG_LS_LOSSLESS,
  JPEG_LS_NEAR_LOSSLESS,
  JPEG2000,
  JPEG2000_LOSSLESS,
  RLE_LOSSLESS,
  transferSyntaxName,
} from '../src/dicom/syntax.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { encodeSlice } from '../src/dicom/write.js';
import { ReusableFileReader } from '../src/util/files.js';
import { benchRejects } from './dicom-errors.js';

export interface BenchRow {
  name: string;
  value: number;
  unit: string;
  target: string;
}

const quick = process.argv.includes('--quick');

/** A 512×512 CT-like slice: air, scalp, skull, brain with noise; stored = HU + 1024 as int16. */
function phantomSlice(seed: number, size = 512): Int16Array {
  const px = new Int16Array(size * size);
  let s = seed * 2654435761 + 1;
  const rnd = () => {
    s = (s * 1103515245 + 12345) & 0x7fffffff;
    return s / 0x7fffffff;
  };
  const c = size / 2;
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const r = Math.hypot((x - c) / (0.38 * size), (y - c) / (0.45 * size));
      let hu = -1000;
      if (r < 0.86) hu = 30 + (rnd() - 0.5) * 12;
      else if (r < 0.94) hu = 1200;
      else if (r < 1) hu = 45;
      px[y * size + x] = Math.round(hu);
    }
  }
  return px;
}

function writeSeries(dir: string, n: number, syntax: string): string[] {
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const bytes = encodeSlice(
      {
        rows: 512,
        cols: 512,
        stored: phantomSlice(i),
        bitsAllocated: 16,
        bitsStored: 16,
        pixelRepresentation: 1,
        rescaleIntercept: 0,
        rescaleSlope: 1,
        windowCenter: [40, 40],
        windowWidth: [80, 80],
        patientId: `ID_${(i % 7).toString(16).padStart(9, '0')}`,
        studyInstanceUid: 'ID_study',
        seriesInstanceUid: 'ID_series',
        sopInstanceUid: `ID_${i.toString(16).padStart(9, '0')}`,
        imagePositionPatient: [-125, -125, 5 * i],
        pixelSpacing: [0.488, 0.488],
      },
      { transferSyntax: syntax },
    );
    const f = join(dir, `${syntax}-${i}.dcm`);
    writeFileSync(f, bytes);
    files.push(f);
  }
  return files;
}

/**
 * Slices per second for `fn` over the files, on this thread (one core); best of `rounds`.
 * Files are read into one reused buffer, as `ichdet prepare`'s workers do.
 */
function rate(files: string[], fn: (bytes: Uint8Array, file: string) => void, rounds = 3): number {
  const reader = new ReusableFileReader();
  for (const f of files.slice(0, 5)) fn(reader.read(f), f); // warm-up (JIT, tables, kernel plan)
  let best = 0;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    for (const f of files) fn(reader.read(f), f);
    const s = (performance.now() - t0) / 1000;
    best = Math.max(best, files.length / s);
  }
  return best;
}

// A streaming pipeline hands each slice on and reuses its output buffer, as a cache writer does.
const out512 = new Float32Array(512 * 512 * 3);
const out256 = new Uint8Array(256 * 256 * 3);
const toFloat512 = (bytes: Uint8Array, file: string) => {
  readWindowed(bytes, file, { windows: DEFAULT_WINDOWS }, out512);
};
const toUint8At256 = (bytes: Uint8Array, file: string) => {
  readWindowedUint8(bytes, file, { windows: DEFAULT_WINDOWS, size: 256 }, out256);
};

export async function benchDicom(): Promise<BenchRow[]> {
  await initCodecs();
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-'));
  try {
    const n = quick ? 60 : 300;
    const plain = writeSeries(dir, n, EXPLICIT_VR_LE);
    const rows: BenchRow[] = [
      {
        name: '(a) file → HU → 3-window float32 512², explicit VR LE, 1 core',
        value: rate(plain, toFloat512),
        unit: 'slices/s',
        target: '≥ 1,000',
      },
      {
        name: '(b) file → 3-window uint8 256², explicit VR LE, 1 core',
        value: rate(plain, toUint8At256),
        unit: 'slices/s',
        target: '≥ 1,500',
      },
    ];
    const compressed = [
      IMPLICIT_VR_LE,
      EXPLICIT_VR_BE,
      DEFLATED_EXPLICIT_VR_LE,
      RLE_LOSSLESS,
      JPEG_LOSSLESS_SV1,
      JPEG_LS_LOSSLESS,
      JPEG_LS_NEAR_LOSSLESS,
      JPEG2000_LOSSLESS,
      JPEG2000,
      HTJ2K_LOSSLESS,
      HTJ2K,
    ];
    for (const uid of compressed) {
      const files = writeSeries(dir, quick ? 10 : 40, uid);
      rows.push({
        name: `(b) with ${transferSyntaxName(uid)}`,
        value: rate(files, toUint8At256, 2),
        unit: 'slices/s',
        target: '—',
      });
    }
    return rows;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function formatTable(rows: BenchRow[]): string {
  const fmt = (v: number) => (v >= 100 ? v.toFixed(0) : v.toFixed(1));
  const lines = ['| benchmark | value | unit | target |', '|---|---:|---|---|'];
  for (const r of rows) lines.push(`| ${r.name} | ${fmt(r.value)} | ${r.unit} | ${r.target} |`);
  return lines.join('\n');
}

async function optional(path: string, fn: string): Promise<BenchRow[]> {
  try {
    const mod = (await import(path)) as Record<string, () => Promise<BenchRow[]>>;
    const f = mod[fn];
    return f ? await f() : [];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') return [];
    throw err;
  }
}

const rows = [
  ...(await benchDicom()),
  ...(await benchRejects()),
  ...(await optional('./synth.js', 'benchSynth')),
  ...(await optional('./prepare.js', 'benchPrepare')),
  ...(process.argv.includes('--no-queue') ? [] : await optional('./queue.js', 'benchQueue')),
  ...(await optional('./index.js', 'benchIndex')),
  ...(process.argv.includes('--no-train') ? [] : await optional('./kernels.js', 'benchKernels')),
  ...(process.argv.includes('--no-train') ? [] : await optional('./train.js', 'benchTrain')),
  ...(process.argv.includes('--no-infer') ? [] : await optional('./infer.js', 'benchInfer')),
  ...(process.argv.includes('--no-infer') ? [] : await optional('./predict.js', 'benchSeries')),
  ...(process.argv.includes('--no-train') ? [] : await optional('./series.js', 'benchSeriesModel')),
  ...(process.argv.includes('--no-infer') ? [] : await optional('./watch.js', 'benchWatch')),
  ...(process.argv.includes('--no-view') ? [] : await optional('./view.js', 'benchView')),
];
const table = formatTable(rows);
process.stdout.write(
  `\nichdet bench (${new Date().toISOString().slice(0, 10)}, node ${process.version})\n\n${table}\n`,
);
const outIdx = process.argv.indexOf('--json');
if (outIdx > 0 && process.argv[outIdx + 1]) {
  writeFileSync(process.argv[outIdx + 1]!, JSON.stringify(rows, null, 2));
}
