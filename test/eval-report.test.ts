import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import {
  aucVsParamsSpec,
  prPlotSpec,
  renderPng,
  renderSvg,
  rocPlotSpec,
  validationCurvesSpec,
} from '../src/eval/plots.js';
import {
  escapeHtml,
  escapeMarkdown,
  evaluationText,
  formatDuration,
  formatInt,
  HOW_TO_READ,
  renderEvalFigures,
  renderStudyHtml,
  renderStudyMarkdown,
  type Study,
  type StudyModel,
  studyFigures,
  writeStudyFigures,
} from '../src/eval/report.js';

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** The `width` and `height` attributes of an SVG document's root. */
function svgSize(svg: string): [number, number] {
  const m = /^<svg[^>]*\swidth="(\d+)"\s+height="(\d+)"/.exec(svg);
  if (!m) throw new Error(`no size in ${svg.slice(0, 200)}`);
  return [Number(m[1]), Number(m[2])];
}

/** Pixels of a decoded PNG with exactly this RGB colour. */
function countColour(png: PNG, hex: string): number {
  const [r, g, b] = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < png.data.length; i += 4) {
    if (png.data[i] === r && png.data[i + 1] === g && png.data[i + 2] === b) n++;
  }
  return n;
}

const modelA: StudyModel = {
  arch: 'vgg16',
  title: 'VGG<16>',
  params: 138_357_544,
  size: 64,
  accuracy: 0.9126,
  meanAuc: 0.8,
  meanAucCi: [0.75, 0.85],
  auc: {
    epidural: null,
    intraparenchymal: 0.81,
    intraventricular: 0.7,
    subarachnoid: 0.9,
    subdural: 0.65,
    any: 0.8,
  },
  weightedLogLoss: 0.21234,
  weightedLogLossCi: [0.2, 0.23],
  triage: { threshold: 0.04567, sensitivity: 0.96, specificity: 0.4 },
  trainSeconds: 3725,
  imagesPerSecond: 12.34,
  bestEpoch: 2,
  history: [
    { epoch: 1, trainLoss: 0.4, valLoss: 0.35, valWeightedLogLoss: 0.3, valMeanAuc: 0.7 },
    { epoch: 2, trainLoss: 0.3, valLoss: 0.3, valWeightedLogLoss: 0.21, valMeanAuc: 0.8 },
  ],
  roc: { any: { fpr: [0, 0, 0.5, 1], tpr: [0, 0.4, 0.8, 1] }, epidural: null },
};

const modelB: StudyModel = {
  arch: 'mobilenet_v2',
  title: 'MobileNetV2',
  params: 3_538_984,
  size: 64,
  accuracy: 0.9,
  meanAuc: 0.85,
  meanAucCi: null,
  auc: {
    epidural: null,
    intraparenchymal: 0.81,
    intraventricular: 0.75,
    subarachnoid: 0.8,
    subdural: null,
    any: 0.85,
  },
  weightedLogLoss: 0.25,
  weightedLogLossCi: null,
  triage: null,
  trainSeconds: 95,
  imagesPerSecond: 40,
  bestEpoch: null,
  history: [],
  roc: {},
};

const study: Study = {
  title: 'Study <2>',
  createdAt: '2025-01-02T03:04:05Z',
  dataset: {
    cache: 'cache_dir',
    split: 'split.csv',
    trainImages: 1200,
    valImages: 300,
    positives: { any: 1234, epidural: 1, intraparenchymal: 5 },
  },
  options: { epochs: 2, lr: 0.0001, archs: ['vgg16', 'mobilenet_v2'], out: 'runs/study_1' },
  models: [modelA, modelB],
  notes: ['Synthetic data | not clinical'],
};

describe('plot specs and rendering', () => {
  const roc = rocPlotSpec(
    [
      { model: 'MobileNetV2', label: 'any', fpr: [0, 0, 0.2, 1], tpr: [0, 0.5, 0.9, 1], auc: 0.9 },
      { model: 'VGG16', label: 'any', fpr: [0, 0.5, 1], tpr: [0, 0.6, 1], auc: null },
    ],
    'ROC: any',
  );

  it('draws each model with its AUC in the legend and the axis titles', async () => {
    const svg = await renderSvg(roc);
    expect(svg.startsWith('<svg')).toBe(true);
    for (const text of [
      'ROC: any',
      'MobileNetV2 (AUC 0.900)',
      'VGG16 (AUC n/a)',
      'False positive rate (1 − specificity)',
      'True positive rate (sensitivity)',
    ]) {
      expect(svg).toContain(text);
    }
  });

  it('renders the same SVG twice, with ids under the prefix asked for', async () => {
    const a = await renderSvg(roc, { idPrefix: 'figA-' });
    const b = await renderSvg(roc, { idPrefix: 'figA-' });
    expect(a).toBe(b);
    const ids = [...a.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(ids.length).toBeGreaterThan(0);
    expect(ids.every((id) => id?.startsWith('figA-'))).toBe(true);
    expect(a).toContain('url(#figA-1)');
    await expect(renderSvg(roc, { idPrefix: 'a"b' })).rejects.toThrow(ConfigError);
  });

  it('rasterises to a PNG of twice the SVG size that shows the first model in its colour', async () => {
    const [w, h] = svgSize(await renderSvg(roc));
    expect(w).toBeGreaterThan(300);
    expect(w).toBeLessThan(1000);
    const bytes = await renderPng(roc);
    expect(Array.from(bytes.subarray(0, 8))).toEqual(PNG_SIGNATURE);
    const png = PNG.sync.read(Buffer.from(bytes));
    expect([png.width, png.height]).toEqual([2 * w, 2 * h]);
    expect(countColour(png, '#4c78a8')).toBeGreaterThan(200);
    const small = PNG.sync.read(Buffer.from(await renderPng(roc, 1)));
    expect([small.width, small.height]).toEqual([w, h]);
  });

  it('makes one panel per label with the AUCs written in it when curves cover several labels', async () => {
    const spec = rocPlotSpec(
      [
        { model: 'A', label: 'epidural', fpr: [0, 1], tpr: [0, 1], auc: 0.5 },
        { model: 'A', label: 'any', fpr: [0, 0, 1], tpr: [0, 1, 1], auc: 1 },
      ],
      'ROC per label',
    );
    expect(spec).toHaveProperty('facet');
    const svg = await renderSvg(spec);
    for (const text of ['epidural', 'any', 'A 0.500', 'A 1.000']) expect(svg).toContain(text);
  });

  it('draws precision–recall curves with AP in the legend', async () => {
    const svg = await renderSvg(
      prPlotSpec(
        [
          {
            model: 'M',
            label: 'any',
            precision: [0.5, 1, 1],
            recall: [1, 0.5, 0],
            ap: 0.75,
            prevalence: 0.5,
          },
        ],
        'PR: any',
      ),
    );
    for (const text of ['M (AP 0.750)', 'Recall (sensitivity)', 'Precision (PPV)']) {
      expect(svg).toContain(text);
    }
  });

  it('plots AUC against a log parameter axis with labels, and error bars only where a CI is given', async () => {
    const spec = aucVsParamsSpec([
      { model: 'VGG16', params: 138_357_544, auc: 0.9, lo: 0.88, hi: 0.92 },
      { model: 'MobileNetV2', params: 3_538_984, auc: 0.91 },
    ]);
    const values = (spec as { data: { values: { lo: number | null }[] } }).data.values;
    expect(values.map((v) => v.lo)).toEqual([0.88, null]);
    const svg = await renderSvg(spec);
    for (const text of [
      'VGG16',
      'MobileNetV2',
      'Parameters (log scale)',
      'Mean ROC AUC (95% CI)',
    ]) {
      expect(svg).toContain(text);
    }
    expect(() => aucVsParamsSpec([{ model: 'X', params: 0, auc: 0.5 }])).toThrow(
      /parameter count of X must be > 0, received 0/,
    );
  });

  it('draws one panel per metric of the validation curves', async () => {
    const svg = await renderSvg(
      validationCurvesSpec([
        { model: 'A', epoch: 1, metric: 'val mean AUC', value: 0.6 },
        { model: 'A', epoch: 2, metric: 'val mean AUC', value: 0.7 },
        { model: 'A', epoch: 1, metric: 'train loss', value: 0.5 },
        { model: 'A', epoch: 2, metric: 'train loss', value: 0.4 },
      ]),
    );
    for (const text of ['val mean AUC', 'train loss', 'Epoch']) expect(svg).toContain(text);
  });
});

describe('report text helpers', () => {
  it('escapes HTML and Markdown', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe(
      '&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;',
    );
    expect(escapeMarkdown('a|b *c* _d_ [e] `f` <g> \\ & h\ni')).toBe(
      'a\\|b \\*c\\* \\_d\\_ \\[e\\] \\`f\\` &lt;g&gt; \\\\ &amp; h i',
    );
  });

  it('formats counts and durations without the locale', () => {
    expect([formatInt(0), formatInt(999), formatInt(1000), formatInt(138_357_544)]).toEqual([
      '0',
      '999',
      '1,000',
      '138,357,544',
    ]);
    expect([formatDuration(42.4), formatDuration(95), formatDuration(3725)]).toEqual([
      '42 s',
      '1 min 35 s',
      '1 h 02 min',
    ]);
  });
});

describe('study report: which split the numbers come from', () => {
  const onTest: Study = {
    ...study,
    dataset: { ...study.dataset, valSplit: 'val', evalSplit: 'test', evalImages: 250 },
    models: [
      { ...modelA, split: 'test', images: 250 },
      { ...modelB, split: 'test', images: 250 },
    ],
  };
  const sentence =
    'Numbers are on the held-out test split (250 images); checkpoints were selected on the validation split val (300 images).';

  it('says in Markdown and HTML that the numbers are on the held-out test split, selected on val', async () => {
    const md = renderStudyMarkdown(onTest);
    expect(md).toContain(`**${sentence}**`);
    expect(md).toContain('![ROC curves per label (test)](figures/roc.svg)');
    expect(md).toContain('(test images resampled with replacement)');
    expect(md).toContain('another test sample could rank them');
    expect(md).not.toContain('validation images resampled');
    const page = await renderStudyHtml(onTest);
    expect(page).toContain(`<p id="evaluated-on"><strong>${sentence}</strong></p>`);
    expect(page).toContain('<caption>Test results per model</caption>');
    expect(evaluationText(onTest)).toBe(sentence);
  });

  it('warns that numbers on the validation split are optimistic, and says nothing for an older study', () => {
    const onVal: Study = {
      ...study,
      dataset: { ...study.dataset, valSplit: 'val', evalSplit: 'val', evalImages: 300 },
      models: [{ ...modelA, split: 'val', images: 300 }],
    };
    expect(evaluationText(onVal)).toBe(
      "Numbers are on the validation split val (300 images), the split that also selected each model's checkpoint, so they are optimistic; hold out a test split (ichdet split --test) for numbers on images that played no part in training.",
    );
    expect(renderStudyMarkdown(onVal)).toContain('ROC curves per label (validation)');
    expect(evaluationText(study)).toBeNull();
    expect(renderStudyMarkdown(study)).not.toContain('Numbers are on');
  });

  it('names each model’s split when they differ', () => {
    const mixed: Study = {
      ...onTest,
      models: [
        { ...modelA, split: 'test' },
        { ...modelB, split: 'val' },
      ],
    };
    expect(evaluationText(mixed)).toBe(
      'Numbers come from different splits: VGG<16> on test, MobileNetV2 on val; checkpoints were selected on the validation split val (300 images).',
    );
  });
});

describe('study report', () => {
  let html = '';
  beforeAll(async () => {
    html = await renderStudyHtml(study);
  });

  it('writes the tables as GitHub Markdown, best values in bold', () => {
    const expected = [
      '# Study &lt;2&gt;',
      '',
      'Created 2025-01-02T03:04:05Z. Cache cache\\_dir, split split.csv: 1,200 training images, 300 validation images.',
      '',
      '## Models',
      '',
      '| Model | Input (px) | Parameters | Accuracy | Mean AUC (95% CI) | Weighted log loss (95% CI) | Sensitivity (triage) | Specificity (triage) | Threshold (triage) | Training time | Images/s | Best epoch |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| VGG&lt;16&gt; | 64 | 138,357,544 | **0.913** | 0.800 (0.750–0.850) | **0.2123** (0.2000–0.2300) | 0.960 | 0.400 | 0.0457 | 1 h 02 min | 12.3 | 2 |',
      '| MobileNetV2 | 64 | 3,538,984 | 0.900 | **0.850** | 0.2500 | — | — | — | **1 min 35 s** | **40.0** | — |',
      '',
      '## ROC AUC per label',
      '',
      '| Model | epidural | intraparenchymal | intraventricular | subarachnoid | subdural | any |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
      '| VGG&lt;16&gt; | — | 0.810 | 0.700 | **0.900** | 0.650 | 0.800 |',
      '| MobileNetV2 | — | 0.810 | **0.750** | 0.800 | — | **0.850** |',
      '',
      '## How to read this',
      '',
      ...HOW_TO_READ.flatMap((p) => [p, '']),
      '## Figures',
      '',
      '![ROC curves per label (validation)](figures/roc.svg)',
      '',
      '![Mean ROC AUC against parameter count](figures/auc_vs_params.svg)',
      '',
      '![Training and validation by epoch](figures/validation.svg)',
      '',
      '## Positive images per label',
      '',
      '| Label | Positives |',
      '| --- | ---: |',
      '| epidural | 1 |',
      '| intraparenchymal | 5 |',
      '| any | 1,234 |',
      '',
      '## Options',
      '',
      '| Option | Value |',
      '| --- | --- |',
      '| epochs | 2 |',
      '| lr | 0.0001 |',
      '| archs | \\["vgg16","mobilenet\\_v2"\\] |',
      '| out | runs/study\\_1 |',
      '',
      '## Notes',
      '',
      '- Synthetic data \\| not clinical',
      '',
    ].join('\n');
    expect(renderStudyMarkdown(study)).toBe(expected);
    expect(HOW_TO_READ.join(' ')).toContain('has not shown that the two differ');
  });

  it('has a row for every model, with the name escaped', () => {
    expect(html.startsWith('<!doctype html>')).toBe(true);
    expect(html).toContain('<th scope="row" title="vgg16">VGG&lt;16&gt;</th>');
    expect(html).toContain('<th scope="row" title="mobilenet_v2">MobileNetV2</th>');
    expect(html).toContain('<title>Study &lt;2&gt;</title>');
    expect(html).not.toContain('VGG<16>');
    expect(html).not.toContain('Study <2>');
    // The best mean AUC is B's, and no value is bold in a column where all are equal.
    expect(html).toContain('<td class="num best"><strong>0.850</strong></td>');
    expect(html).not.toContain('<strong>0.810</strong>');
  });

  it('loads nothing from outside the file: no external src or href, no script that runs', () => {
    expect(html).not.toMatch(/\b(?:src|href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?\/\//i);
    expect(html).not.toMatch(/url\(\s*["']?\s*(?:https?:)?\/\//i);
    expect(html).not.toMatch(/@import/i);
    const scripts = [...html.matchAll(/<script\b([^>]*)>/gi)].map((m) => m[1]);
    expect(scripts).toHaveLength(3);
    for (const attrs of scripts) expect(attrs).toContain('type="application/json"');
  });

  it('inlines each figure as SVG, with element ids unique in the page', () => {
    expect(html.match(/<svg\b/g)).toHaveLength(3);
    for (const text of [
      'False positive rate (1 − specificity)',
      'VGG&lt;16&gt; (AUC 0.800)',
      'Parameters (log scale)',
      'val weighted log loss',
      'val mean AUC',
      'train loss',
    ]) {
      expect(html).toContain(text);
    }
    const ids = [...html.matchAll(/\sid="([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('embeds each figure’s Vega-Lite spec as JSON that parses back to the spec', () => {
    const embedded = [
      ...html.matchAll(/<script type="application\/json" id="vl-([\w-]+)"[^>]*>([^<]*)<\/script>/g),
    ];
    const figures = studyFigures(study);
    expect(embedded.map((m) => m[1])).toEqual(['roc', 'auc_vs_params', 'validation']);
    expect(figures.map((f) => f.name)).toEqual(['roc', 'auc_vs_params', 'validation']);
    embedded.forEach((m, i) => {
      expect(m[2]).not.toContain('<');
      expect(JSON.parse(m[2]!)).toEqual(figures[i]!.spec);
    });
  });

  it('renders the same page twice', async () => {
    expect(await renderStudyHtml(study)).toBe(html);
  });

  describe('figure files', () => {
    let dir = '';
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'ichdet-report-'));
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('writes every study figure as SVG and PNG', async () => {
      const paths = await writeStudyFigures(study, join(dir, 'figures'), 1);
      const names = ['roc', 'auc_vs_params', 'validation'];
      expect(paths).toEqual(
        names.flatMap((n) => [join(dir, 'figures', `${n}.svg`), join(dir, 'figures', `${n}.png`)]),
      );
      for (let i = 0; i < paths.length; i += 2) {
        const svg = await readFile(paths[i]!, 'utf8');
        const png = PNG.sync.read(await readFile(paths[i + 1]!));
        expect([png.width, png.height]).toEqual(svgSize(svg));
      }
    });

    it('writes one model’s ROC and PR figures per label, none for a label without curves', async () => {
      const paths = await renderEvalFigures(
        [
          {
            label: 'any',
            roc: { fpr: [0, 0.5, 1], tpr: [0, 0.9, 1] },
            pr: { precision: [0.6, 1, 1], recall: [1, 0.5, 0] },
            auc: 0.7,
            ap: 0.8,
            prevalence: 0.6,
          },
          { label: 'epidural', roc: null, pr: null, auc: null, ap: null },
        ],
        dir,
        { model: 'EfficientNetB0', scale: 1 },
      );
      expect(paths).toEqual(
        ['roc_any.svg', 'roc_any.png', 'pr_any.svg', 'pr_any.png'].map((f) => join(dir, f)),
      );
      expect(await readFile(paths[0]!, 'utf8')).toContain('EfficientNetB0 (AUC 0.700)');
      expect(await readFile(paths[2]!, 'utf8')).toContain('EfficientNetB0 (AP 0.800)');
      const png = await readFile(paths[3]!);
      expect(Array.from(png.subarray(0, 8))).toEqual(PNG_SIGNATURE);
    });
  });
});
