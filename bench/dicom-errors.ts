/**
 * How fast the DICOM layer turns away what is not a CT slice (the timings that
 * test/dicom-errors.test.ts checks only for the outcome): 500 random garbage buffers of 1 to
 * 3,000 bytes through `decodeSlice`, and six bad files on disk (empty, 100 kB of garbage, text,
 * cut pixel data, cut file meta group, an MPEG2 transfer syntax) through `readSlice`. Each row
 * is the best of three rounds on this thread, after one warm-up round.
 *
 *   npx tsx bench/dicom-errors.ts   (`npm run bench` includes it)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initCodecs } from '../src/dicom/codecs.js';
import { decodeSlice, readSlice } from '../src/dicom/read.js';
import { HTJ2K_LOSSLESS } from '../src/dicom/syntax.js';
import { encodeSlice, type WriteSliceSpec } from '../src/dicom/write.js';
import { DicomError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';
import type { BenchRow } from './bench.js';

/** A small CT slice, 64 × 48 signed 16-bit, like the tests' base slice. */
function ctSpec(): WriteSliceSpec {
  return {
    rows: 64,
    cols: 48,
    stored: Int16Array.from({ length: 64 * 48 }, (_, i) => 1024 + (i % 80)),
    bitsAllocated: 16,
    bitsStored: 16,
    pixelRepresentation: 1,
    rescaleSlope: 1,
    rescaleIntercept: -1024,
    imagePositionPatient: [-125, -125, 42.5],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [0.488281, 0.488281],
    patientId: 'ID_a1b2c3d4',
    studyInstanceUid: 'ID_5e6f7a8b9c',
    seriesInstanceUid: 'ID_0d1e2f3a4b',
    sopInstanceUid: 'ID_4d28912ba6',
  };
}

/** The file with the first occurrence of ASCII `from` replaced by `to` (of the same length). */
function patchAscii(file: Uint8Array, from: string, to: string): Uint8Array {
  const at = Buffer.from(file).indexOf(from, 0, 'latin1');
  if (at < 0 || from.length !== to.length) throw new Error(`cannot patch "${from}"`);
  const out = file.slice();
  out.set(new TextEncoder().encode(to), at);
  return out;
}

/** Throws unless `fn` fails with a DicomError. */
async function expectDicomError(what: string, fn: () => unknown): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof DicomError) return;
    throw err;
  }
  throw new Error(`${what} was read without error`);
}

/** Milliseconds of the best of `rounds` rounds of `fn`, after one warm-up round. */
async function bestMs(fn: () => Promise<void>, rounds = 3): Promise<number> {
  await fn();
  let best = Number.POSITIVE_INFINITY;
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now();
    await fn();
    best = Math.min(best, performance.now() - t0);
  }
  return best;
}

export async function benchRejects(): Promise<BenchRow[]> {
  await initCodecs();
  const rng = new Rng(7);
  const garbage = Array.from({ length: 500 }, () =>
    Uint8Array.from({ length: rng.int(1, 3000) }, () => rng.int(0, 255)),
  );
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-rejects-'));
  try {
    const file = encodeSlice(ctSpec());
    const fileRng = new Rng(11);
    const bad: Array<[string, Uint8Array | string]> = [
      ['t-empty.dcm', new Uint8Array(0)],
      ['t-garbage.dcm', Uint8Array.from({ length: 100_000 }, () => fileRng.int(0, 255))],
      ['t-text.txt', 'not DICOM\n'.repeat(10_000)],
      ['t-cut-pixels.dcm', file.slice(0, file.length - 1000)],
      ['t-cut-meta.dcm', file.slice(0, 150)],
      [
        't-mpeg2.dcm',
        patchAscii(
          encodeSlice(ctSpec(), { transferSyntax: HTJ2K_LOSSLESS }),
          '1.2.840.10008.1.2.4.201',
          '1.2.840.10008.1.2.4.100',
        ),
      ],
    ];
    const paths = bad.map(([name, bytes]) => {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    });
    const buffersMs = await bestMs(async () => {
      for (const [k, bytes] of garbage.entries()) {
        await expectDicomError(`garbage-${k}`, () => decodeSlice(bytes, `garbage-${k}`));
      }
    });
    const filesMs = await bestMs(async () => {
      for (const path of paths) await expectDicomError(path, () => readSlice(path));
    });
    return [
      {
        name: 'reject: 500 garbage buffers of 1–3,000 bytes → DicomError (decodeSlice), 1 core',
        value: buffersMs,
        unit: 'ms',
        target: '< 1,000',
      },
      {
        name: 'reject: 6 bad files (empty, garbage, text, cut, MPEG2) → DicomError (readSlice), 1 core',
        value: filesMs,
        unit: 'ms',
        target: '< 500',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchRejects())
    console.log(`${r.name}: ${r.value.toFixed(1)} ${r.unit} (target ${r.target})`);
}
