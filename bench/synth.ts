/**
 * Benchmark of `ichdet synth`: slices per second written to disk at 512 × 512 with 2 worker
 * threads, end to end (planning, rendering, noise, DICOM encoding, masks, CSV files).
 * Target ≥ 100 slices/s, so a 10,000-slice dataset takes under 2 minutes.
 * Run alone with `npx tsx bench/synth.ts`; `npm run bench` includes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { synth } from '../src/commands/synth.js';

export interface BenchResult {
  name: string;
  value: number;
  unit: string;
  target: string;
}

export async function benchSynth(): Promise<BenchResult[]> {
  const out = mkdtempSync(join(tmpdir(), 'ichdet-bench-synth-'));
  try {
    const r = await synth({
      out: join(out, 'data'),
      patients: 40,
      seed: 7,
      size: 512,
      slicesPerSeries: '30:36',
      workers: 2,
      progress: false,
    });
    return [
      {
        name: `synth: slices/s written at 512×512, 2 workers (${r.images} slices)`,
        value: Math.round(r.slicesPerSecond * 10) / 10,
        unit: 'slices/s',
        target: '≥ 100',
      },
    ];
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchSynth())
    console.log(`${r.name}: ${r.value} ${r.unit} (target ${r.target})`);
}
