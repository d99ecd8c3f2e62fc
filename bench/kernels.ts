/**
 * Kernel-level rates of the wasm training backend, so the gap to the machine's limit is visible
 * per kind of work: the 3 × 3 convolutions of VGG16 and ResNet50 at a 128² input (forward on
 * XNNPACK; input gradient and filter gradient on ichdet's kernels, src/backend/kernels.ts), a
 * ResNet50 1 × 1 convolution — each also on the native accelerator (src/backend/native.ts,
 * OpenBLAS, one thread) when it was built — training-mode batch norm forward + backward (the fused kernel of
 * src/backend/batchnorm.ts) and the Adam update (src/train/optim.ts), on one thread.
 *
 * Convolutions count 2·N·Ho·Wo·k²·Cin·Cout FLOP per pass (each gradient costs what the forward
 * does). Batch norm and Adam are memory-bound, so their rows are GB/s of the bytes they must
 * move (batch norm: forward reads x twice and writes y, backward reads x and dy twice and writes
 * dx, float32; Adam reads w, g, m, v and writes w, m, v). For scale: 128-bit wasm SIMD without
 * FMA peaks near 40 GFLOP/s per core on this machine's CPU (the training issue's estimate);
 * OpenBLAS' single-precision matrix product (its AVX-512 kernels) reached 80–107 GFLOP/s on one core of it
 * for the shapes these layers give.
 * Times are CPU seconds of this thread (best of a few runs), so the rows stay comparable when
 * the machine is busy.
 *
 *   npx tsx bench/kernels.ts [--quick]
 */
import { pathToFileURL } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { batchNormTraining } from '../src/backend/batchnorm.js';
import { initBackend } from '../src/backend/init.js';
import { enableNative, nativeAddon, nativeUnavailable } from '../src/backend/native.js';
import { applyUpdate, createOptimizer } from '../src/train/optim.js';
import type { BenchRow } from './bench.js';

interface ConvShape {
  name: string;
  /** Input height = width. */
  hw: number;
  cin: number;
  cout: number;
  k: number;
}

/** Representative layers at a 128² input (VGG16 blocks 1–5, ResNet50 stages 2–5). */
const CONVS: ConvShape[] = [
  { name: 'VGG16 block1 3×3 64→64 @128²', hw: 128, cin: 64, cout: 64, k: 3 },
  { name: 'VGG16 block2 3×3 128→128 @64²', hw: 64, cin: 128, cout: 128, k: 3 },
  { name: 'VGG16 block3 3×3 256→256 @32²', hw: 32, cin: 256, cout: 256, k: 3 },
  { name: 'VGG16 block4 3×3 512→512 @16²', hw: 16, cin: 512, cout: 512, k: 3 },
  { name: 'VGG16 block5 3×3 512→512 @8²', hw: 8, cin: 512, cout: 512, k: 3 },
  { name: 'ResNet50 conv2 3×3 64→64 @32²', hw: 32, cin: 64, cout: 64, k: 3 },
  { name: 'ResNet50 conv3 3×3 128→128 @16²', hw: 16, cin: 128, cout: 128, k: 3 },
  { name: 'ResNet50 conv4 3×3 256→256 @8²', hw: 8, cin: 256, cout: 256, k: 3 },
  { name: 'ResNet50 conv5 3×3 512→512 @4²', hw: 4, cin: 512, cout: 512, k: 3 },
  { name: 'ResNet50 conv2 1×1 64→256 @32²', hw: 32, cin: 64, cout: 256, k: 1 },
];

/** CPU seconds (user + system) since `c0`: this bench runs on one thread, and CPU time holds
 * steadier than the wall clock when other work shares the cores. */
function cpuSince(c0: NodeJS.CpuUsage): number {
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / 1e6;
}

/** Best CPU seconds of `fn` over `reps` runs after one warm-up (results disposed). */
function best(fn: () => tf.Tensor | tf.Tensor[], reps: number): number {
  let t = Number.POSITIVE_INFINITY;
  for (let r = 0; r <= reps; r++) {
    const c0 = process.cpuUsage();
    const out = fn();
    for (const o of Array.isArray(out) ? out : [out]) o.dataSync();
    const s = cpuSince(c0);
    tf.dispose(out);
    if (r > 0) t = Math.min(t, s);
  }
  return t;
}

export async function benchKernels(quick = process.argv.includes('--quick')): Promise<BenchRow[]> {
  await initBackend('wasm');
  const engines = nativeAddon() ? ['wasm', 'native'] : ['wasm'];
  if (engines.length === 1)
    process.stderr.write(`native kernel rows skipped: the accelerator ${nativeUnavailable()}\n`);
  const rows: BenchRow[] = [];
  const n = quick ? 2 : 8;
  const reps = quick ? 1 : 2;
  for (const c of quick ? CONVS.filter((_, i) => i % 3 === 2) : CONVS) {
    const x = tf.randomUniform([n, c.hw, c.hw, c.cin], -1, 1);
    const w = tf.randomUniform([c.k, c.k, c.cin, c.cout], -0.1, 0.1);
    const dy = tf.randomUniform([n, c.hw, c.hw, c.cout], -1, 1);
    const flop = 2 * n * c.hw * c.hw * c.k * c.k * c.cin * c.cout;
    const kinds: [string, () => tf.Tensor][] = [
      ['forward', () => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same')],
      [
        'input gradient',
        () => tf.conv2dTranspose(dy as tf.Tensor4D, w as tf.Tensor4D, x.shape as never, 1, 'same'),
      ],
      [
        'filter gradient',
        () =>
          tf
            .engine()
            .runKernel(
              tf.Conv2DBackpropFilter,
              { x, dy },
              { strides: 1, pad: 'same', dataFormat: 'NHWC', filterShape: w.shape },
            ) as tf.Tensor,
      ],
    ];
    for (const engine of engines) {
      enableNative(engine === 'native', 1);
      for (const [kind, fn] of kinds) {
        const s = best(fn, reps);
        rows.push({
          name: `kernel (${engine}): ${c.name}, ${kind}, batch ${n}, 1 thread`,
          value: flop / s / 1e9,
          unit: 'GFLOP/s',
          target: engine === 'native' ? '' : '≥ 40 (wasm SIMD peak/core)',
        });
      }
    }
    enableNative(false);
    tf.dispose([x, w, dy]);
  }
  // Batch norm: ResNet50 conv2 activations (32² × 256 at 128²).
  const bx = tf.randomUniform([n, 32, 32, 256], -1, 1);
  const gamma = tf.ones([256]);
  const beta = tf.zeros([256]);
  const elems = bx.size;
  const fwd = best(() => batchNormTraining(bx, gamma, beta, 3, 1e-3).y, reps);
  const grad = tf.grad((v: tf.Tensor) => tf.sum(batchNormTraining(v, gamma, beta, 3, 1e-3).y));
  const both = best(() => grad(bx), reps);
  rows.push(
    {
      name: `kernel: batch norm forward, ${n}×32²×256, 1 thread`,
      value: (3 * 4 * elems) / fwd / 1e9,
      unit: 'GB/s',
      target: '',
    },
    {
      name: `kernel: batch norm forward + backward (tf.grad), ${n}×32²×256, 1 thread`,
      value: (8 * 4 * elems) / both / 1e9,
      unit: 'GB/s',
      target: '',
    },
  );
  tf.dispose([bx, gamma, beta]);
  // Adam over ResNet50's 23.5M weights.
  const size = 23_500_000;
  const wts = new Float32Array(size).fill(0.01);
  const g = new Float32Array(size).fill(0.001);
  const opt = createOptimizer('adam', 1e-4, size);
  applyUpdate(opt, wts, g);
  let adam = Number.POSITIVE_INFINITY;
  for (let r = 0; r < reps + 1; r++) {
    const c0 = process.cpuUsage();
    applyUpdate(opt, wts, g);
    adam = Math.min(adam, cpuSince(c0));
  }
  rows.push({
    name: 'kernel: Adam update, 23.5M weights (ResNet50), 1 thread',
    value: (7 * 4 * size) / adam / 1e9,
    unit: 'GB/s',
    target: '',
  });
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchKernels())
    process.stdout.write(`| ${r.name} | ${r.value.toFixed(1)} | ${r.unit} | ${r.target} |\n`);
}
