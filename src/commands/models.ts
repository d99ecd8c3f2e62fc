/**
 * `ichdet models`: the architecture registry — parameters with and without the ImageNet top,
 * default and minimum input size, FLOPs per image, the Keras notop weight file.
 */
import { REGISTRY } from '../models/registry.js';

export interface ModelRow {
  name: string;
  title: string;
  /** Parameters with the 1000-class ImageNet top (Keras count). */
  params: number;
  /** Parameters without the top (Keras `include_top=False`). */
  paramsNoTop: number;
  /** Default input height = width. */
  inputSize: number;
  /** Smallest input height/width the architecture accepts. */
  minSize: number;
  /** FLOPs per image at the default size (2 × MACs of conv and dense layers). */
  flops: number;
  weightFile: string;
  weightUrl: string;
  weightMd5: string | null;
}

/** The registry as plain rows, in the reference study's order. */
export function listModels(): ModelRow[] {
  return REGISTRY.map((s) => ({
    name: s.name,
    title: s.title,
    params: s.params,
    paramsNoTop: s.paramsNoTop,
    inputSize: s.defaultSize,
    minSize: s.minSize,
    flops: s.flops,
    weightFile: s.weights.file,
    weightUrl: s.weights.url,
    weightMd5: s.weights.md5,
  }));
}

const thousands = (n: number) => n.toLocaleString('en-US');

/** A fixed-width table of the rows. */
export function formatModels(rows: readonly ModelRow[]): string {
  const header = ['name', 'params', 'params (no top)', 'input', 'min', 'GFLOPs', 'weight file'];
  const body = rows.map((r) => [
    r.name,
    thousands(r.params),
    thousands(r.paramsNoTop),
    String(r.inputSize),
    String(r.minSize),
    (r.flops / 1e9).toFixed(2),
    r.weightFile,
  ]);
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  const numeric = new Set([1, 2, 3, 4, 5]);
  const line = (row: string[]) =>
    row
      .map((cell, i) => (numeric.has(i) ? cell.padStart(widths[i]!) : cell.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${all.map(line).join('\n')}\n`;
}
