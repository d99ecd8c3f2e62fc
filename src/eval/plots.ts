/**
 * The evaluation figures as Vega-Lite specifications, and their rendering to SVG (vega's own
 * headless SVG renderer) and PNG (resvg), in Node with no browser and no network.
 *
 * Output is deterministic: vega numbers its clip paths from a process-wide counter, so
 * `renderSvg` renames every element id in order of appearance, under a prefix the caller picks
 * (several figures inlined in one HTML page need distinct prefixes). Colours are fixed per model
 * (its position in the input), so a model has the same colour in every figure of a report.
 */
import { Resvg } from '@resvg/resvg-js';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { ConfigError } from '../errors.js';
import { downsampleCurve } from './curves.js';

/** Tableau 10, Vega's default categorical scheme, written out so colours never depend on it. */
export const MODEL_COLOURS = [
  '#4c78a8',
  '#f58518',
  '#e45756',
  '#72b7b2',
  '#54a24b',
  '#eeca3b',
  '#b279a2',
  '#ff9da6',
  '#9d755d',
  '#bab0ac',
] as const;

/**
 * Sans-serif fonts, first found wins: in the SVG for browsers and in resvg for the PNG (which
 * falls back to any system font; a machine with no fonts at all gives a PNG without text).
 */
const FONT = 'Helvetica, Arial, DejaVu Sans, Liberation Sans, sans-serif';

/** Points kept per curve in a plot: plenty for a 300-pixel panel, small enough for an HTML page. */
export const PLOT_CURVE_POINTS = 250;

const BASE_CONFIG = {
  font: FONT,
  background: 'white',
  view: { stroke: '#ddd' },
  axis: { labelFontSize: 10, titleFontSize: 11, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 10, titleFontSize: 11, labelLimit: 320 },
  header: { labelFontSize: 12, labelFontWeight: 'bold' as const },
  title: { fontSize: 14, anchor: 'start' as const },
};

/** One model's ROC curve for one label. */
export interface RocPlotCurve {
  model: string;
  label: string;
  fpr: ArrayLike<number>;
  tpr: ArrayLike<number>;
  /** Area under the curve, shown in the legend (or the panel); null shows as "n/a". */
  auc: number | null;
}

/** One model's precision–recall curve for one label. */
export interface PrPlotCurve {
  model: string;
  label: string;
  precision: ArrayLike<number>;
  recall: ArrayLike<number>;
  /** Average precision, shown in the legend (or the panel); null shows as "n/a". */
  ap: number | null;
  /** Positive rate of the label: a random classifier's precision, drawn as the reference line. */
  prevalence?: number;
}

/** One model's point on the AUC-vs-size plot. */
export interface AucParamsPoint {
  model: string;
  params: number;
  auc: number;
  /** Lower end of the AUC's confidence interval; with `hi`, drawn as an error bar. */
  lo?: number;
  hi?: number;
}

/** One value of one metric after one epoch, for the validation-curve plot. */
export interface ValidationRow {
  model: string;
  epoch: number;
  metric: string;
  value: number;
}

/** Layout options of the curve plots. */
export interface CurvePlotOptions {
  /** Points kept per curve (default PLOT_CURVE_POINTS). */
  maxPoints?: number;
  /** Panels per row when the curves cover several labels (default 3). */
  columns?: number;
  /** Panel width and height in pixels (default 260 faceted, 300 alone). */
  size?: number;
}

/** A number for a legend or label: 3 decimals, or "n/a". */
function fmt(v: number | null | undefined): string {
  return v === null || v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3);
}

/** One layer of a layered Vega-Lite spec. */
type LayerItem = Extract<TopLevelSpec, { layer: unknown }>['layer'][number];

function round4(v: number): number {
  return Math.round(v * 1e4) / 1e4;
}

/** The distinct values, in order of first appearance. */
function modelOrder(models: readonly string[]): string[] {
  const seen: string[] = [];
  for (const m of models) if (!seen.includes(m)) seen.push(m);
  return seen;
}

function colourOf(index: number): string {
  return MODEL_COLOURS[index % MODEL_COLOURS.length]!;
}

interface CurveInput {
  model: string;
  label: string;
  xs: ArrayLike<number>;
  ys: ArrayLike<number>;
  score: number | null;
  ref: [number, number, number, number] | null;
}

interface CurveSpecParts {
  title: string;
  xTitle: string;
  yTitle: string;
  scoreName: string;
}

/**
 * A line per model over [0, 1]², with a dashed reference line. Curves of one label make one
 * plot whose legend carries each model's score; curves of several labels make one panel per
 * label (in order of first appearance), a legend of models and the scores written in each panel.
 */
function curvePlotSpec(
  curves: readonly CurveInput[],
  parts: CurveSpecParts,
  options: CurvePlotOptions,
): TopLevelSpec {
  const maxPoints = options.maxPoints ?? PLOT_CURVE_POINTS;
  const models = modelOrder(curves.map((c) => c.model));
  const labels = modelOrder(curves.map((c) => c.label));
  const faceted = labels.length > 1;
  const size = options.size ?? (faceted ? 260 : 300);
  const series = (c: CurveInput) =>
    faceted ? c.model : `${c.model} (${parts.scoreName} ${fmt(c.score)})`;
  const domain: string[] = [];
  const range: string[] = [];
  for (const c of curves) {
    const s = series(c);
    if (domain.includes(s)) continue;
    domain.push(s);
    range.push(colourOf(models.indexOf(c.model)));
  }
  // One row per curve with its coordinates as arrays (flattened by Vega-Lite), rounded to 1e-4:
  // a few kB per curve in the embedded spec instead of a row per point.
  const rows: Record<string, string | number | number[]>[] = [];
  const refDone = new Set<string>();
  const perLabel = new Map<string, number>();
  for (const c of curves) {
    const d = downsampleCurve(c.xs, c.ys, maxPoints);
    const s = series(c);
    rows.push({
      kind: 'curve',
      label: c.label,
      series: s,
      x: d.xs.map(round4),
      y: d.ys.map(round4),
    });
    if (c.ref && !refDone.has(c.label)) {
      refDone.add(c.label);
      const [x0, y0, x1, y1] = c.ref.map(round4) as [number, number, number, number];
      rows.push({ kind: 'ref', label: c.label, series: '', x: [x0, x1], y: [y0, y1] });
    }
    if (faceted) {
      const k = perLabel.get(c.label) ?? 0;
      perLabel.set(c.label, k + 1);
      rows.push({
        kind: 'score',
        label: c.label,
        series: s,
        i: k,
        x: 0.97,
        y: 0,
        text: `${c.model} ${fmt(c.score)}`,
      });
    }
  }
  // Score lines stacked upwards from the bottom right, first model on top.
  for (const r of rows) {
    if (r.kind === 'score') {
      r.y = round4(0.04 + 0.075 * ((perLabel.get(String(r.label)) ?? 1) - 1 - Number(r.i)));
    }
  }
  const unit = { type: 'quantitative' as const, scale: { domain: [0, 1], nice: false } };
  const layers: LayerItem[] = [
    {
      transform: [{ filter: "datum.kind === 'ref'" }, { flatten: ['x', 'y'] }],
      mark: { type: 'line', strokeDash: [4, 4], color: '#999', strokeWidth: 1, order: false },
      encoding: {
        x: { field: 'x', ...unit, title: parts.xTitle },
        y: { field: 'y', ...unit, title: parts.yTitle },
        detail: { field: 'label', type: 'nominal' as const },
      },
    },
    {
      transform: [{ filter: "datum.kind === 'curve'" }, { flatten: ['x', 'y'] }],
      // Points in data order: a ROC curve has vertical runs that sorting by x would scramble.
      mark: { type: 'line', strokeWidth: 1.6, clip: true, order: false },
      encoding: {
        x: { field: 'x', ...unit, title: parts.xTitle },
        y: { field: 'y', ...unit, title: parts.yTitle },
        color: {
          field: 'series',
          type: 'nominal' as const,
          scale: { domain, range },
          legend: { title: faceted ? 'Model' : `Model (${parts.scoreName})` },
        },
      },
    },
    ...(faceted
      ? [
          {
            transform: [{ filter: "datum.kind === 'score'" }],
            mark: { type: 'text' as const, align: 'right' as const, fontSize: 10 },
            encoding: {
              x: { field: 'x', ...unit },
              y: { field: 'y', ...unit },
              text: { field: 'text', type: 'nominal' as const },
              color: { field: 'series', type: 'nominal' as const, scale: { domain, range } },
            },
          },
        ]
      : []),
  ];
  if (!faceted) {
    return {
      title: parts.title,
      config: BASE_CONFIG,
      data: { values: rows },
      width: size,
      height: size,
      layer: layers,
    };
  }
  return {
    title: parts.title,
    config: BASE_CONFIG,
    data: { values: rows },
    columns: options.columns ?? 3,
    facet: { field: 'label', type: 'nominal', sort: labels, title: null },
    spec: { width: size, height: size, layer: layers },
  };
}

function checkCurve(what: string, xs: ArrayLike<number>, ys: ArrayLike<number>): void {
  if (xs.length !== ys.length) {
    throw new ConfigError(
      `${what}: curve coordinates differ in length: ${xs.length} vs ${ys.length}`,
    );
  }
}

/**
 * ROC curves, one line per model, with the chance diagonal. Curves of a single label make one
 * plot with each model's AUC in the legend; curves of several labels make one panel per label
 * with the AUCs written in each panel's lower right corner. Curves are thinned to `maxPoints`.
 */
export function rocPlotSpec(
  curves: readonly RocPlotCurve[],
  title: string,
  options: CurvePlotOptions = {},
): TopLevelSpec {
  for (const c of curves) checkCurve(`ROC curve of ${c.model}/${c.label}`, c.fpr, c.tpr);
  return curvePlotSpec(
    curves.map((c) => ({
      model: c.model,
      label: c.label,
      xs: c.fpr,
      ys: c.tpr,
      score: c.auc,
      ref: [0, 0, 1, 1],
    })),
    {
      title,
      xTitle: 'False positive rate (1 − specificity)',
      yTitle: 'True positive rate (sensitivity)',
      scoreName: 'AUC',
    },
    options,
  );
}

/**
 * Precision–recall curves, one line per model, with the label's prevalence (a random
 * classifier's precision) as a dashed line when given. Legends and panels as `rocPlotSpec`,
 * with the average precision (AP) in place of the AUC.
 */
export function prPlotSpec(
  curves: readonly PrPlotCurve[],
  title: string,
  options: CurvePlotOptions = {},
): TopLevelSpec {
  for (const c of curves) checkCurve(`PR curve of ${c.model}/${c.label}`, c.recall, c.precision);
  return curvePlotSpec(
    curves.map((c) => ({
      model: c.model,
      label: c.label,
      xs: c.recall,
      ys: c.precision,
      score: c.ap,
      ref:
        c.prevalence !== undefined && Number.isFinite(c.prevalence)
          ? [0, c.prevalence, 1, c.prevalence]
          : null,
    })),
    { title, xTitle: 'Recall (sensitivity)', yTitle: 'Precision (PPV)', scoreName: 'AP' },
    options,
  );
}

/**
 * Each model's AUC against its parameter count (log scale), labelled with its name, with an
 * error bar where a confidence interval is given: the reference study's "MobileNetV2 beat
 * VGG16 with 40× fewer parameters" as a picture.
 */
export function aucVsParamsSpec(
  points: readonly AucParamsPoint[],
  title = 'Mean ROC AUC against parameter count',
): TopLevelSpec {
  for (const p of points) {
    if (!(p.params > 0)) {
      throw new ConfigError(`parameter count of ${p.model} must be > 0, received ${p.params}`);
    }
  }
  const models = modelOrder(points.map((p) => p.model));
  const rows = points.map((p) => ({
    model: p.model,
    params: p.params,
    auc: p.auc,
    lo: p.lo !== undefined && p.hi !== undefined ? p.lo : null,
    hi: p.lo !== undefined && p.hi !== undefined ? p.hi : null,
  }));
  const x = {
    field: 'params',
    type: 'quantitative' as const,
    scale: { type: 'log' as const, nice: false, padding: 28 },
    axis: { format: '~s', title: 'Parameters (log scale)' },
  };
  const colour = {
    field: 'model',
    type: 'nominal' as const,
    scale: { domain: models, range: models.map((_, i) => colourOf(i)) },
    legend: null,
  };
  return {
    title,
    config: BASE_CONFIG,
    data: { values: rows },
    width: 420,
    height: 300,
    encoding: { x },
    layer: [
      {
        transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: {
          y: { field: 'lo', type: 'quantitative', scale: { zero: false, padding: 12 } },
          y2: { field: 'hi' },
          color: colour,
        },
      },
      {
        mark: { type: 'point', filled: true, size: 60, opacity: 1 },
        encoding: {
          y: {
            field: 'auc',
            type: 'quantitative',
            scale: { zero: false, padding: 12 },
            title: 'Mean ROC AUC (95% CI)',
          },
          color: colour,
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 7, dy: -7, fontSize: 10 },
        encoding: {
          y: { field: 'auc', type: 'quantitative' },
          text: { field: 'model', type: 'nominal' },
          color: colour,
        },
      },
    ],
  };
}

/**
 * Per-epoch curves, one panel per metric (in order of first appearance, each with its own y
 * scale) and one coloured line per model: e.g. validation weighted log loss, validation mean
 * AUC and training loss.
 */
export function validationCurvesSpec(
  rows: readonly ValidationRow[],
  title = 'Training and validation by epoch',
): TopLevelSpec {
  const models = modelOrder(rows.map((r) => r.model));
  const metrics = modelOrder(rows.map((r) => r.metric));
  const values = rows
    .filter((r) => Number.isFinite(r.value))
    .map((r) => ({ model: r.model, epoch: r.epoch, metric: r.metric, value: r.value }));
  const colour = {
    field: 'model',
    type: 'nominal' as const,
    scale: { domain: models, range: models.map((_, i) => colourOf(i)) },
    legend: { title: 'Model' },
  };
  const x = {
    field: 'epoch',
    type: 'quantitative' as const,
    axis: { tickMinStep: 1, format: 'd', title: 'Epoch' },
  };
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    scale: { zero: false },
    title: null,
  };
  return {
    title,
    config: BASE_CONFIG,
    data: { values },
    columns: 3,
    facet: { field: 'metric', type: 'nominal', sort: metrics, title: null },
    spec: {
      width: 240,
      height: 200,
      layer: [
        { mark: { type: 'line', strokeWidth: 1.6 }, encoding: { x, y, color: colour } },
        { mark: { type: 'point', filled: true, size: 20 }, encoding: { x, y, color: colour } },
      ],
    },
    resolve: { scale: { y: 'independent' } },
  };
}

/** Options of `renderSvg`. */
export interface RenderSvgOptions {
  /**
   * Prefix of the element ids in the SVG (default `vg-`). Figures inlined in one HTML page
   * need distinct prefixes, or one figure's clip paths would clip another's marks.
   */
  idPrefix?: string;
}

/**
 * Renders a Vega-Lite spec to an SVG document with vega's headless renderer; text widths are
 * vega's estimate (no canvas in Node). Two renders of one spec give identical strings.
 */
export async function renderSvg(
  spec: TopLevelSpec,
  options: RenderSvgOptions = {},
): Promise<string> {
  const prefix = options.idPrefix ?? 'vg-';
  if (!/^[A-Za-z][\w-]*$/.test(prefix)) {
    throw new ConfigError(
      `idPrefix must be letters, digits, - or _, received ${JSON.stringify(prefix)}`,
    );
  }
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none' });
  try {
    const svg = await view.toSVG();
    return renameIds(svg, prefix);
  } finally {
    view.finalize();
  }
}

/** Renames every `id` in order of appearance to prefix + 1, 2…, and every reference to it. */
function renameIds(svg: string, prefix: string): string {
  const map = new Map<string, string>();
  for (const m of svg.matchAll(/\sid="([^"]+)"/g)) {
    if (!map.has(m[1]!)) map.set(m[1]!, `${prefix}${map.size + 1}`);
  }
  if (map.size === 0) return svg;
  return svg.replace(/(\sid="|url\(#|href="#)([^")]+)/g, (all, head: string, id: string) => {
    const to = map.get(id);
    return to === undefined ? all : `${head}${to}`;
  });
}

/**
 * Rasterises an SVG document to PNG with resvg at `scale` × its size (default 2, sharp on
 * high-density screens), on a white background, with the system's fonts.
 */
export function svgToPng(svg: string, scale = 2): Uint8Array {
  if (!(scale > 0) || !Number.isFinite(scale)) {
    throw new ConfigError(`PNG scale must be a finite number > 0, received ${scale}`);
  }
  const resvg = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { loadSystemFonts: true },
  });
  const png = resvg.render().asPng();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

/** Renders a Vega-Lite spec to PNG: `renderSvg`, then `svgToPng` at `scale` (default 2). */
export async function renderPng(spec: TopLevelSpec, scale = 2): Promise<Uint8Array> {
  return svgToPng(await renderSvg(spec), scale);
}

/** One point of the stage-comparison figure: a metric of one stage of one series run. */
export interface StagePlotPoint {
  series: string;
  stage: string;
  /** A label, `mean`, or `study any`. */
  metric: string;
  value: number;
  lo: number | null;
  hi: number | null;
}

/**
 * ROC AUC per label, the mean and the study's `any`, a dot per stage side by side (colour =
 * stage, in `stages` order) with its 95% interval as a rule; one panel per series run when there
 * are several.
 */
export function stagesPlotSpec(
  points: readonly StagePlotPoint[],
  o: { title: string; stages: readonly string[] },
): TopLevelSpec {
  const metrics = modelOrder(points.map((p) => p.metric));
  const series = modelOrder(points.map((p) => p.series));
  const rows = points.map((p) => ({
    ...p,
    value: round4(p.value),
    lo: p.lo === null ? null : round4(p.lo),
    hi: p.hi === null ? null : round4(p.hi),
  }));
  const colour = {
    field: 'stage',
    type: 'nominal' as const,
    scale: { domain: [...o.stages], range: o.stages.map((_, i) => colourOf(i)) },
    legend: { title: null, orient: 'bottom' as const, direction: 'vertical' as const },
  };
  const x = {
    field: 'metric',
    type: 'nominal' as const,
    sort: metrics,
    axis: { title: null, labelAngle: -30 },
  };
  const xOffset = { field: 'stage', type: 'nominal' as const, sort: [...o.stages] };
  const y = {
    field: 'value',
    type: 'quantitative' as const,
    scale: { zero: false, padding: 12 },
    title: 'ROC AUC (95% CI)',
  };
  const layer: LayerItem[] = [
    {
      transform: [{ filter: 'isValid(datum.lo) && isValid(datum.hi)' }],
      mark: { type: 'rule', strokeWidth: 1.5 },
      encoding: { x, xOffset, y: { ...y, field: 'lo' }, y2: { field: 'hi' }, color: colour },
    },
    {
      mark: { type: 'point', filled: true, size: 50, opacity: 1 },
      encoding: {
        x,
        xOffset,
        y,
        color: colour,
        tooltip: [
          { field: 'series', type: 'nominal' },
          { field: 'stage', type: 'nominal' },
          { field: 'metric', type: 'nominal' },
          { field: 'value', type: 'quantitative', format: '.3f' },
        ],
      },
    },
  ];
  if (series.length <= 1) {
    return {
      title: o.title,
      config: BASE_CONFIG,
      data: { values: rows },
      width: 520,
      height: 260,
      layer,
    } as TopLevelSpec;
  }
  return {
    title: o.title,
    config: BASE_CONFIG,
    data: { values: rows },
    facet: { row: { field: 'series', type: 'nominal', sort: series, title: null } },
    spec: { width: 520, height: 220, layer },
  } as TopLevelSpec;
}
