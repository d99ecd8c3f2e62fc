/**
 * `ichdet demo --quick` end to end, as a new user runs it: synth → prepare → split → compare of
 * two architectures → report. The report lists every model, the models learn (best mean AUC on
 * the held-out test split well above chance), every run has its evaluation outputs on the test
 * split and the report says so, and each
 * model's Grad-CAM pointing game against the synthetic masks is in the report.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Study } from '../src/eval/report.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
let out: string;
let stdout: string;

/** `ichdet demo --quick` at 30 patients into `out`, from the sources. */
function runDemo(): Promise<{ stdout: string; stderr: string }> {
  const cli = join(root, 'src/cli/run.ts');
  const args = ['--import', 'tsx', cli, 'demo', '--quick', '--patients', '30', '--out', out];
  return run(process.execPath, args, {
    cwd: root,
    env: { ...process.env, CI: 'true' },
    maxBuffer: 1 << 24,
  });
}

beforeAll(async () => {
  out = join(mkdtempSync(join(tmpdir(), 'ichdet-demo-')), 'demo');
  const r = await runDemo();
  stdout = r.stdout;
}, 600_000);

describe('ichdet demo --quick', () => {
  it('writes a report that contains every model and says where it is', () => {
    expect(stdout).toContain(`report: ${join(out, 'study', 'report.html')}`);
    const html = readFileSync(join(out, 'study', 'report.html'), 'utf8');
    const md = readFileSync(join(out, 'study', 'report.md'), 'utf8');
    for (const title of ['MobileNetV2', 'EfficientNetB0']) {
      expect(html).toContain(title);
      expect(md).toContain(title);
    }
    expect(html).not.toMatch(/(src|href)="https?:/);
    for (const f of ['roc', 'auc_vs_params', 'validation', 'stages']) {
      expect(existsSync(join(out, 'study', 'figures', `${f}.svg`))).toBe(true);
      expect(existsSync(join(out, 'study', 'figures', `${f}.png`))).toBe(true);
    }
  });

  it('trains models that learn: the best mean test AUC is well above 0.5', () => {
    const study = JSON.parse(readFileSync(join(out, 'study', 'study.json'), 'utf8')) as Study;
    expect(study.models.map((m) => m.arch)).toEqual(['mobilenet_v2', 'efficientnet_b0']);
    const best = Math.max(...study.models.map((m) => m.meanAuc ?? 0));
    expect(best).toBeGreaterThan(0.65);
    for (const m of study.models) {
      expect(m.history).toHaveLength(3);
      expect(m.weightedLogLossCi![0]).toBeLessThanOrEqual(m.weightedLogLoss!);
      expect(m.weightedLogLossCi![1]).toBeGreaterThanOrEqual(m.weightedLogLoss!);
    }
  });

  it('evaluates every run on the held-out test split: an RSNA-format prediction file with six rows per test image', () => {
    const study = JSON.parse(readFileSync(join(out, 'study', 'study.json'), 'utf8')) as Study;
    expect(study.dataset.evalSplit).toBe('test');
    expect(study.dataset.valSplit).toBe('val');
    const md = readFileSync(join(out, 'study', 'report.md'), 'utf8');
    expect(md).toContain(
      `Numbers are on the held-out test split (${study.dataset.evalImages} images); checkpoints were selected on the validation split val (${study.dataset.valImages} images).`,
    );
    for (const m of study.models) {
      expect(m.split).toBe('test');
      expect(m.images).toBe(study.dataset.evalImages);
      const lines = readFileSync(
        join(out, 'study', 'runs', m.arch, 'eval', 'predictions.csv'),
        'utf8',
      )
        .trim()
        .split('\n');
      expect(lines[0]).toBe('ID,Label');
      expect(lines.length - 1).toBe(6 * study.dataset.evalImages!);
      expect(lines[1]).toMatch(/^ID_[0-9a-f]+_epidural,0\.\d+$/);
    }
  });

  it("scores each model's Grad-CAM against the synthetic masks (pointing game) in the report", () => {
    const study = JSON.parse(readFileSync(join(out, 'study', 'study.json'), 'utf8')) as Study;
    const test = readFileSync(join(out, 'split.csv'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => l.split(','))
      .filter((c) => c[1] === 'test')
      .map((c) => c[0]!);
    const withMask = test.filter((id) => existsSync(join(out, 'synth', 'masks', `${id}.png`)));
    expect(withMask.length).toBeGreaterThan(10);
    const md = readFileSync(join(out, 'study', 'report.md'), 'utf8');
    expect(md).toContain('Grad-CAM pointing game, any');
    for (const m of study.models) {
      // At 64² the default Grad-CAM layer is each model's stride-16 block (4×4).
      expect(m.pointing!.layer).toBe(
        m.arch === 'mobilenet_v2' ? 'block_13_expand_relu' : 'block6a_expand_activation',
      );
      const rows = m.pointing!.rows;
      expect(rows.map((r) => r.label)).toEqual([
        'epidural',
        'intraparenchymal',
        'intraventricular',
        'subarachnoid',
        'subdural',
        'any',
      ]);
      const any = rows.at(-1)!;
      expect(any.slices).toBe(withMask.length);
      expect(any.hits).toBeLessThanOrEqual(any.slices);
      expect(any.chance!).toBeGreaterThan(0);
      expect(any.chance!).toBeLessThan(0.1);
      const csv = readFileSync(join(out, 'study', 'runs', m.arch, 'eval', 'pointing.csv'), 'utf8');
      expect(csv.split('\n').at(-2)).toBe(
        `any,${any.slices},${any.hits},${any.rate},${any.chance}`,
      );
      expect(md).toContain(
        `(${any.hits}/${any.slices}; chance ${(100 * any.chance!).toFixed(1)}%)`,
      );
    }
  });

  it('skips finished steps when run again', async () => {
    const r = await runDemo();
    expect(r.stderr).toContain('mobilenet_v2: finished already, not trained again');
    expect(r.stderr).toContain('efficientnet_b0: finished already, not trained again');
  }, 300_000);
});

describe('ichdet demo --quick: the series stage on the best architecture', () => {
  it('runs cv and train-series on the best model and puts stage 1 | smoothed | stage 2 in the report', () => {
    const study = JSON.parse(readFileSync(join(out, 'study', 'study.json'), 'utf8')) as Study;
    const best = [...study.models].sort((a, b) => (b.meanAuc ?? 0) - (a.meanAuc ?? 0))[0]!;
    expect(study.series).toHaveLength(1);
    const s = study.series![0]!;
    expect(s.name).toBe(best.title);
    expect(s.run).toBe(join(out, 'series', best.arch));
    // The series run's own metrics.json holds the numbers the report shows.
    const m = JSON.parse(readFileSync(join(s.run, 'metrics.json'), 'utf8'));
    expect(s.metrics.stage2.weighted_log_loss).toBe(m.stage2.weighted_log_loss);
    expect(s.metrics.stage1.weighted_log_loss).toBe(m.stage1.weighted_log_loss);
    // Out of fold: the quick plan's two patient folds, each scored by the other's models.
    const cvJson = JSON.parse(readFileSync(join(out, 'cv', best.arch, 'cv.json'), 'utf8'));
    expect(cvJson.folds).toBe(2);
    expect(cvJson.test).toBe(true);
    expect(s.metrics.folds).toEqual([0, 1]);
    const md = readFileSync(join(out, 'study', 'report.md'), 'utf8');
    expect(md).toContain('## Series stage');
    expect(md).toContain(`stage 2's weighted log loss is ${m.stage2.weighted_log_loss.toFixed(4)}`);
    expect(stdout).toContain(`series stage, ${best.title}: `);
  });
});
