/**
 * Stage 2 (issue 12): `train-series` on 200 generated series on this machine's cores (target
 * < 2 min), and what the series model adds to one 40-slice series in `predict` (target < 0.2 s).
 * The features are generated (test/series-data.ts), so the numbers measure speed, not accuracy.
 *
 *   npx tsx bench/series.ts [--quick] [--workers N] [--fold-norm]
 *
 * train-series trains its folds in parallel worker threads (default: the cores, capped at the
 * folds); `--workers 1` measures the sequential main-thread run for comparison.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/init.js';
import type { SlicePrediction } from '../src/infer/predict.js';
import { LABEL_COUNT } from '../src/labels.js';
import { loadSeriesAggregator } from '../src/series/aggregator.js';
import { loadFeatureSeries } from '../src/series/read-features.js';
import { trainSeries } from '../src/series/train.js';
import { writeSynthFeatures } from '../test/series-data.js';
import type { BenchRow } from './bench.js';

export async function benchSeriesModel(): Promise<BenchRow[]> {
  const quick = process.argv.includes('--quick');
  const series = quick ? 40 : 200;
  const wi = process.argv.indexOf('--workers');
  const workers = wi >= 0 ? Number(process.argv[wi + 1]) : undefined;
  // --fold-norm: train with it, and predict as with --model CV/runs/fold0 (its mapping included).
  const foldNorm = process.argv.includes('--fold-norm');
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-series-'));
  try {
    await initBackend('wasm');
    const features = join(dir, 'features');
    await writeSynthFeatures(features, { patients: series, folds: 5, seed: 1 });
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await trainSeries({
      features,
      out: join(dir, 'srun'),
      bootstrap: 1,
      backend: 'wasm',
      ...(workers !== undefined && { workers }),
      foldNorm,
      progress: false,
      log: () => {},
    });
    const trainSeconds = (performance.now() - t0) / 1000;
    // User + system time of the whole process, every worker thread included.
    const used = process.cpuUsage(cpu0);
    const cpuSeconds = (used.user + used.system) / 1e6;

    // One 40-slice series through the five fold models, as predict --series-model runs it.
    const agg = loadSeriesAggregator(
      join(dir, 'srun'),
      foldNorm ? { stage1: join(dir, 'runs', 'fold0') } : {},
    );
    const set = loadFeatureSeries(features);
    const s = set.series[0]!;
    const slices: SlicePrediction[] = Array.from({ length: 40 }, (_, i) => {
      const row = s.rows[i % s.rows.length]!;
      return {
        file: `${i}.dcm`,
        imageId: `${i}`,
        patientId: s.patientId,
        studyUid: s.studyUid,
        seriesUid: s.seriesUid,
        index: i,
        position: i * 5,
        p: Array.from(set.probs.subarray(row * LABEL_COUNT, (row + 1) * LABEL_COUNT)),
      };
    });
    await agg.series(slices); // warm-up
    const times: number[] = [];
    for (let r = 0; r < (quick ? 3 : 10); r++) {
      const t = performance.now();
      await agg.series(slices);
      times.push((performance.now() - t) / 1000);
    }
    agg.dispose();
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)]!;
    return [
      {
        name: `train-series, ${series} generated series, 5 folds, defaults${foldNorm ? ' + --fold-norm' : ''} (wasm, ${workers ?? 'default'} workers)`,
        value: trainSeconds,
        unit: 's',
        target: '< 120 s (200 series)',
      },
      {
        name: 'train-series CPU time (user + system, all threads)',
        value: cpuSeconds,
        unit: 's',
        target: 'about the sequential run’s',
      },
      {
        name: 'stage 2 in predict: one 40-slice series, 5 fold models (median)',
        value: median,
        unit: 's',
        target: '< 0.2 s',
      },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchSeriesModel()) {
    process.stdout.write(`${r.name}: ${r.value.toFixed(3)} ${r.unit} (target ${r.target})\n`);
  }
}
