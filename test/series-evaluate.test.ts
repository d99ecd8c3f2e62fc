/**
 * `evaluate --run SRUN` and the series stage in the comparative report: a series run read back
 * gives the numbers train-series wrote, the side-by-side table, CSV and figure hold them, and a
 * CNN-only option on a series run is refused by name.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateSeries } from '../src/commands/evaluate-series.js';
import { InputError } from '../src/errors.js';
import { studyFigures } from '../src/eval/report-figures.js';
import { renderStudyHtml } from '../src/eval/report-html.js';
import { renderStudyMarkdown } from '../src/eval/report-markdown.js';
import { stageGainText, stagesCsv } from '../src/eval/stages.js';
import type { Study } from '../src/eval/study.js';
import { decodeNpy } from '../src/io/npy.js';
import { LABEL_NAMES } from '../src/labels.js';
import { isSeriesRun } from '../src/series/evaluate.js';
import { type TrainSeriesResult, trainSeries } from '../src/series/train.js';
import { writeSynthFeatures } from './series-data.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-series-eval-'));
const features = join(root, 'features');
const srun = join(root, 'srun');
let trained: TrainSeriesResult;

beforeAll(async () => {
  await writeSynthFeatures(features, { patients: 16, testSeries: 1, maxSlices: 20 });
  trained = await trainSeries({
    features,
    out: srun,
    epochs: 3,
    batch: 4,
    lr: 3e-3,
    c1: 8,
    c2: 8,
    gru: 4,
    bootstrap: 40,
    seed: 3,
    backend: 'cpu',
    progress: false,
    log: () => {},
  });
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('evaluate --run SRUN', () => {
  it('recognises a series run and not a CNN run', () => {
    expect(isSeriesRun(srun)).toBe(true);
    const cnn = join(root, 'cnn');
    cpSync(srun, cnn, { recursive: true });
    writeFileSync(join(cnn, 'config.json'), JSON.stringify({ arch: 'mobilenet_v2', cache: 'c' }));
    expect(isSeriesRun(cnn)).toBe(false);
    expect(isSeriesRun(join(root, 'nowhere'))).toBe(false);
  });

  it('scores the run again exactly as train-series did, and writes the side-by-side report', async () => {
    const r = await evaluateSeries({ run: srun, bootstrap: 40, seed: 3 });
    // Same rows, same probabilities, same resamples: the same numbers.
    expect(r.stage.metrics).toEqual(trained.metrics);
    const saved = JSON.parse(readFileSync(join(r.out, 'metrics.json'), 'utf8'));
    expect(saved.stage2.weighted_log_loss).toBe(trained.metrics.stage2.weighted_log_loss);
    expect(saved.study.stage2.auc).toBe(trained.metrics.study.stage2.auc);

    // stages.csv: per stage wLL, mean AUC, six AUCs; study lines for stage 1 and 2 only.
    const csv = readFileSync(join(r.out, 'stages.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('series,stage,metric,value,ci_lo,ci_hi');
    expect(csv).toHaveLength(1 + 3 * 8 + 2 * 2);
    const wll = csv.find((l) => l.includes(',stage2,weighted_log_loss,'))!.split(',');
    expect(Number(wll[3])).toBe(trained.metrics.stage2.weighted_log_loss);
    expect(Number(wll[4])).toBe(trained.metrics.stage2.weighted_log_loss_ci[0]);
    expect(csv.some((l) => l.includes(',smoothed,study_auc_any,'))).toBe(false);

    // predictions.csv: every evaluated image, stage 2's probabilities then stage 1's.
    const probs = decodeNpy(readFileSync(join(srun, 'probs.npy'))).data as Float32Array;
    const lines = readFileSync(join(r.out, 'predictions.csv'), 'utf8').trim().split('\n');
    expect(lines[0]).toBe(
      `image_id,series_uid,study_uid,fold,slice,${LABEL_NAMES.join(',')},${LABEL_NAMES.map((l) => `stage1_${l}`).join(',')}`,
    );
    expect(lines.length - 1).toBe(trained.metrics.stage2.images);
    const index = readFileSync(join(features, 'index.csv'), 'utf8').trim().split('\n');
    const first = lines[1]!.split(',');
    const row = index.findIndex((l) => l.split(',')[1] === first[0]) - 1;
    expect(row).toBeGreaterThanOrEqual(0);
    expect(Number(first[5])).toBe(probs[row * 6]);
    expect(Number(first[10])).toBe(probs[row * 6 + 5]);

    // The sentence: relative change of the weighted log loss, computed here by hand.
    const m = trained.metrics;
    const pct =
      (100 * (m.stage2.weighted_log_loss - m.stage1.weighted_log_loss)) /
      m.stage1.weighted_log_loss;
    const text = stageGainText(m);
    expect(text).toContain(`${pct > 0 ? '+' : '−'}${Math.abs(pct).toFixed(1)}% against stage 1`);
    const md = readFileSync(join(r.out, 'report.md'), 'utf8');
    expect(md).toContain('| Stage 2: series model | ');
    expect(md).toContain('figures/stages.svg');
    expect(readFileSync(join(r.out, 'figures', 'stages.svg'), 'utf8')).toContain('<svg');
  });

  it('finds a features folder saved relative to an older working directory, beside the run', async () => {
    const moved = join(root, 'moved');
    cpSync(srun, join(moved, 'srun'), { recursive: true });
    cpSync(features, join(moved, 'feat'), { recursive: true });
    const config = JSON.parse(readFileSync(join(moved, 'srun', 'config.json'), 'utf8'));
    config.features = 'feat';
    writeFileSync(join(moved, 'srun', 'config.json'), JSON.stringify(config));
    const r = await evaluateSeries({
      run: join(moved, 'srun'),
      bootstrap: 40,
      seed: 3,
      figures: false,
    });
    expect(r.stage.metrics.stage1.weighted_log_loss).toBe(trained.metrics.stage1.weighted_log_loss);
    rmSync(join(moved, 'srun', 'series.csv'));
    await expect(evaluateSeries({ run: join(moved, 'srun'), bootstrap: 40 })).rejects.toThrow(
      new InputError(
        `${join(moved, 'srun', 'series.csv')} is missing: the series run is not finished (run train-series again)`,
      ),
    );
  });

  it('puts the series stage in the comparative report: table rows, sentence and figure', async () => {
    const r = await evaluateSeries({
      run: srun,
      bootstrap: 40,
      seed: 3,
      figures: false,
      name: 'B0 cv',
    });
    const study: Study = {
      title: 't',
      createdAt: '2026-12-05T00:00:00.000Z',
      dataset: { cache: 'c', split: 's', trainImages: 1, valImages: 1, positives: {} },
      options: {},
      models: [],
      series: [r.stage],
      notes: [],
    };
    const md = renderStudyMarkdown(study);
    expect(md).toContain('## Series stage');
    expect(md).toContain(stageGainText(r.stage.metrics));
    const s2 = md.split('\n').find((l) => l.startsWith('| Stage 2: series model'))!;
    expect(s2).toContain(r.stage.metrics.stage2.weighted_log_loss.toFixed(4));
    expect(studyFigures(study).map((f) => f.name)).toEqual(['stages']);
    const html = await renderStudyHtml(study);
    expect(html).toContain('<h2>Series stage</h2>');
    expect(html).toContain('id="figure-stages"');
    expect(stagesCsv([r.stage]).split('\n')[1]).toMatch(/^B0 cv,stage1,weighted_log_loss,/);
  });

  it('refuses a CNN-only option on a series run, naming it', () => {
    const cli = join(__dirname, '..', 'src', 'cli', 'run.ts');
    let err = '';
    try {
      execFileSync(
        process.execPath,
        [
          '--import',
          'tsx',
          cli,
          'evaluate',
          '--run',
          relative(process.cwd(), srun),
          '--tta',
          'hflip',
        ],
        {
          encoding: 'utf8',
          stdio: 'pipe',
        },
      );
    } catch (e) {
      err = (e as { stderr: string }).stderr;
    }
    expect(err).toContain('is a series run: --tta apply only to a CNN run');
  });
});
