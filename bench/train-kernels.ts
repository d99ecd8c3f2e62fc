/**
 * Training speed of one wasm thread with ichdet's training kernels (src/train/kernels.ts): the
 * milliseconds per image of a full training step — forward in training mode, the BCE loss and
 * the gradient of every trainable weight (`tf.variableGrads`), no optimiser — at 128², batch 16,
 * random weights and inputs, per architecture; the median of the timed steps after one warm-up
 * step. With `profile`, one more step is timed kernel by kernel (exclusive times: a composite
 * kernel's own time without the kernels it runs) and the costliest kernels are listed.
 *
 * Targets are the training issue's per-core budgets (2 cores at 1.8× scaling): MobileNetV2
 * 150 ms/image, EfficientNet-B0 225, ResNet50 510.
 *
 *   npx tsx bench/train-kernels.ts [--archs mobilenet_v2,resnet50] [--size 128] [--batch 16]
 *                                  [--steps 3] [--profile]
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { initBackend } from '../src/backend/init.js';
import { buildModel } from '../src/models/index.js';
import { ARCH_NAMES, type ArchName } from '../src/models/registry.js';
import { lossSum } from '../src/train/loss.js';
import type { BenchRow } from './bench.js';

/** Per-core ms/image budgets from the training issue. */
const TARGET_MS: Partial<Record<ArchName, number>> = {
  mobilenet_v2: 150,
  efficientnet_b0: 225,
  resnet50: 510,
};

export interface KernelTime {
  kernel: string;
  /** Exclusive milliseconds in one step. */
  ms: number;
  /** Calls in one step. */
  calls: number;
}

export interface TrainStepTiming {
  arch: ArchName;
  size: number;
  batch: number;
  /** Median step time over the batch. */
  msPerImage: number;
  /** Every timed step, ms. */
  stepsMs: number[];
  /** Kernels by time, descending (empty without `profile`). */
  kernels: KernelTime[];
}

export interface TrainKernelsOptions {
  archs?: readonly ArchName[];
  size?: number;
  batch?: number;
  /** Timed steps after the warm-up step. */
  steps?: number;
  profile?: boolean;
  /** Kernels listed per architecture when profiling. */
  topKernels?: number;
}

/** Wraps every kernel of the active backend with an exclusive-time counter; returns a restore. */
function instrumentKernels(stats: Map<string, { ms: number; calls: number }>): () => void {
  const backend = tf.getBackend();
  const originals = tf.getKernelsForBackend(backend);
  const open: number[] = [];
  for (const k of originals) {
    const inner = k.kernelFunc;
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        open.push(0);
        const t0 = performance.now();
        try {
          return inner(args);
        } finally {
          const dt = performance.now() - t0;
          const nested = open.pop() ?? 0;
          if (open.length > 0) open[open.length - 1] = (open[open.length - 1] ?? 0) + dt;
          const s = stats.get(k.kernelName) ?? { ms: 0, calls: 0 };
          s.ms += dt - nested;
          s.calls++;
          stats.set(k.kernelName, s);
        }
      },
    });
  }
  return () => {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  };
}

/** Times training steps of one architecture on the wasm backend (initialised on first use). */
export async function timeTrainStep(
  arch: ArchName,
  o: Omit<TrainKernelsOptions, 'archs'> = {},
): Promise<TrainStepTiming> {
  const { size = 128, batch = 16, steps = 3, profile = false, topKernels = 12 } = o;
  if (tf.getBackend() !== 'wasm') await initBackend('wasm');
  const model = buildModel(arch, { inputShape: [size, size, 3] });
  const x = tf.randomUniform([batch, size, size, 3], 0, 1, 'float32', 1);
  const y = tf.tidy(() =>
    tf.cast(tf.greater(tf.randomUniform([batch, 6], 0, 1, 'float32', 2), 0.7), 'float32'),
  ) as tf.Tensor2D;
  const vars = model.trainableWeights.map((w) => w.read() as tf.Variable);
  const step = (): number => {
    const t0 = performance.now();
    const { value, grads } = tf.variableGrads(
      () => lossSum('bce', y, model.apply(x, { training: true }) as tf.Tensor2D),
      vars,
    );
    value.dataSync();
    for (const g of Object.values(grads)) g.dataSync();
    const ms = performance.now() - t0;
    tf.dispose([value, ...Object.values(grads)]);
    return ms;
  };
  try {
    step();
    const stepsMs = Array.from({ length: steps }, step);
    const sorted = [...stepsMs].sort((a, b) => a - b);
    const median = sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
    let kernels: KernelTime[] = [];
    if (profile) {
      const stats = new Map<string, { ms: number; calls: number }>();
      const restore = instrumentKernels(stats);
      try {
        step();
      } finally {
        restore();
      }
      kernels = [...stats.entries()]
        .map(([kernel, s]) => ({ kernel, ms: s.ms, calls: s.calls }))
        .sort((a, b) => b.ms - a.ms)
        .slice(0, topKernels);
    }
    return { arch, size, batch, msPerImage: median / batch, stepsMs, kernels };
  } finally {
    tf.dispose([x, y]);
    model.dispose();
  }
}

/** Bench rows: ms/image per architecture, and with `profile` the top kernels' ms/step. */
export async function benchTrainKernels(o: TrainKernelsOptions = {}): Promise<BenchRow[]> {
  const archs = o.archs ?? ['mobilenet_v2', 'efficientnet_b0', 'resnet50'];
  const rows: BenchRow[] = [];
  for (const arch of archs) {
    const t = await timeTrainStep(arch, o);
    const target = TARGET_MS[arch];
    rows.push({
      name: `train step ${arch} ${t.size}² batch ${t.batch}, 1 wasm thread`,
      value: Math.round(t.msPerImage * 10) / 10,
      unit: 'ms/image',
      target: target === undefined ? '' : `≤ ${target}`,
    });
    for (const k of t.kernels) {
      rows.push({
        name: `  ${arch}: ${k.kernel} (${k.calls} calls)`,
        value: Math.round(k.ms),
        unit: 'ms/step',
        target: '',
      });
    }
  }
  return rows;
}

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const archs = arg('--archs')?.split(',') as ArchName[] | undefined;
  for (const a of archs ?? []) {
    if (!(ARCH_NAMES as readonly string[]).includes(a)) {
      throw new Error(`--archs: unknown architecture "${a}", expected ${ARCH_NAMES.join(', ')}`);
    }
  }
  const num = (name: string) => (arg(name) === undefined ? undefined : Number(arg(name)));
  const rows = await benchTrainKernels({
    ...(archs ? { archs } : {}),
    ...(num('--size') ? { size: num('--size') } : {}),
    ...(num('--batch') ? { batch: num('--batch') } : {}),
    ...(num('--steps') ? { steps: num('--steps') } : {}),
    profile: process.argv.includes('--profile'),
  });
  process.stdout.write('| benchmark | value | unit | target |\n|---|---:|---|---|\n');
  for (const r of rows)
    process.stdout.write(`| ${r.name} | ${r.value} | ${r.unit} | ${r.target} |\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main();
}
