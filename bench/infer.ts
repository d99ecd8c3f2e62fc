/**
 * Inference throughput per architecture (random weights, batch 32, 3 channels): tfjs on the
 * wasm backend with 2 model workers (the engine `ichdet evaluate` uses, micro-batches of 8), and
 * the same model exported to ONNX and run by ONNX Runtime with 2 intra-op threads, native
 * (onnxruntime-node) and wasm (onnxruntime-web, the fallback when the native one is not
 * installed). One warm-up batch, then timed batches for at least ~3 s. 224² for every
 * architecture, plus MobileNetV2 and ResNet50 at 128² (the PyTorch targets). `--quick`:
 * MobileNetV2, EfficientNet-B0 and ResNet50 only; `--infer-archs a,b`: only those;
 * `--onnx-only`: no tfjs rows.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/init.js';
import { exportOnnx } from '../src/infer/onnx-export.js';
import { ONNX_PACKAGES, type OnnxBackend, OnnxModel } from '../src/infer/onnx-runtime.js';
import { buildModel } from '../src/models/index.js';
import { ARCH_NAMES, type ArchName } from '../src/models/registry.js';
import { ModelWorkers } from '../src/train/engine.js';
import type { BenchRow } from './bench.js';

const BATCH = 32;
const MIN_SECONDS = 3;

/** PyTorch images/s on the same 2 cores at 128² (issue 7). */
const TARGETS: Partial<Record<string, number>> = {
  'mobilenet_v2@128': 68,
  'resnet50@128': 75,
};

function argList(name: string): string[] | undefined {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  return v?.split(',');
}

function batchInput(size: number, n: number, seed: number): Float32Array {
  const x = new Float32Array(n * size * size * 3);
  for (let j = 0; j < x.length; j++) x[j] = ((j * 2654435761 + seed) % 1000) / 500 - 1;
  return x;
}

/** Images/s of `run` on batches of BATCH after one warm-up batch. */
async function rate(run: (x: Float32Array) => Promise<unknown>, size: number): Promise<number> {
  await run(batchInput(size, BATCH, 0));
  let images = 0;
  const t0 = performance.now();
  for (let k = 1; images === 0 || performance.now() - t0 < MIN_SECONDS * 1000; k++) {
    await run(batchInput(size, BATCH, k));
    images += BATCH;
  }
  return images / ((performance.now() - t0) / 1000);
}

async function tfjsRate(arch: ArchName, size: number, workers: number): Promise<number> {
  const w = await ModelWorkers.start(workers, {
    backend: 'wasm',
    arch,
    size,
    channels: 3,
    dropout: 0,
    seed: 1,
    weightsFile: null,
    checkpoint: null,
    freezeBackbone: false,
    loss: 'bce',
    focalGamma: 2,
    bnMomentum: null,
  });
  try {
    const per = size * size * 3;
    return await rate(async (x) => {
      const shares = Array.from({ length: workers }, (_, i) => {
        const lo = Math.floor((i * BATCH) / workers);
        const hi = Math.floor(((i + 1) * BATCH) / workers);
        return { x: x.slice(lo * per, hi * per), n: hi - lo };
      });
      return w.predict(shares, 8);
    }, size);
  } finally {
    await w.close();
  }
}

async function onnxRate(
  arch: ArchName,
  size: number,
  threads: number,
  backend: OnnxBackend,
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-onnx-'));
  try {
    const m = buildModel(arch, { inputShape: [size, size, 3] });
    const file = join(dir, `${arch}.onnx`);
    writeFileSync(file, exportOnnx(m));
    m.dispose();
    const om = await OnnxModel.load(file, { threads, backend });
    try {
      return await rate((x) => om.run(x, BATCH), size);
    } finally {
      await om.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchInfer(): Promise<BenchRow[]> {
  const quick = process.argv.includes('--quick');
  const archs = (argList('--infer-archs') ??
    (quick ? ['mobilenet_v2', 'efficientnet_b0', 'resnet50'] : [...ARCH_NAMES])) as ArchName[];
  const cores = Math.min(2, cpus().length);
  await initBackend('cpu');
  const runs: [ArchName, number][] = archs.map((a) => [a, 224]);
  for (const a of ['mobilenet_v2', 'resnet50'] as const) if (archs.includes(a)) runs.push([a, 128]);
  const rows: BenchRow[] = [];
  for (const [arch, size] of runs) {
    const target = TARGETS[`${arch}@${size}`];
    for (const backend of ['native', 'wasm'] as const) {
      const onnx = await onnxRate(arch, size, cores, backend);
      rows.push({
        name: `infer ${arch} ${size}² batch ${BATCH}, ${ONNX_PACKAGES[backend]} ${cores} threads`,
        value: onnx,
        unit: 'images/s',
        target: target === undefined ? '' : `≥ ${target} (PyTorch, 2 cores)`,
      });
      process.stderr.write(`${rows.at(-1)?.name}: ${onnx.toFixed(1)} images/s\n`);
    }
    if (process.argv.includes('--onnx-only')) continue;
    const tfjs = await tfjsRate(arch, size, cores);
    rows.push({
      name: `infer ${arch} ${size}² batch ${BATCH}, tfjs-wasm ${cores} workers`,
      value: tfjs,
      unit: 'images/s',
      target: '',
    });
    process.stderr.write(`${rows.at(-1)?.name}: ${tfjs.toFixed(1)} images/s\n`);
  }
  return rows;
}

// Run directly: `npx tsx bench/infer.ts [--quick]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchInfer();
  for (const r of rows)
    process.stdout.write(`| ${r.name} | ${r.value.toFixed(1)} | ${r.unit} | ${r.target} |\n`);
}
