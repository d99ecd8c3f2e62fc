/**
 * Training throughput of the engine: images per second of full optimiser steps (batch 32, the
 * wasm backend, random weights and inputs) per architecture and input size, on both cores
 * (2 workers) and on one (1 worker). One warm-up step, then timed steps. `--quick`: 128² only,
 * three architectures; `--train-archs a,b`: only those; `--train-sizes 128`: only those sizes.
 */
import { cpus } from 'node:os';
import { ARCH_NAMES, type ArchName } from '../src/models/registry.js';
import { microBatchFor, resolveTrainConfig } from '../src/train/config.js';
import { ModelWorkers } from '../src/train/engine.js';
import { createOptimizer } from '../src/train/optim.js';
import type { BenchRow } from './bench.js';

const TARGETS: Partial<Record<ArchName, number>> = {
  mobilenet_v2: 12,
  efficientnet_b0: 8,
  resnet50: 3.5,
};

function argList(name: string): string[] | undefined {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? process.argv[i + 1] : undefined;
  return v?.split(',');
}

/** Images/s of `steps` timed steps after one warm-up step. */
export async function trainRate(
  arch: ArchName,
  size: number,
  workers: number,
  steps: number,
  batch = 32,
): Promise<number> {
  const config = resolveTrainConfig(
    { cache: '', split: '', out: '', arch, size, batch, workers, weights: 'none', backend: 'wasm' },
    workers,
  );
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
    const opt = createOptimizer('adam', 1e-4, w.params.length);
    const micro = microBatchFor(config, Math.ceil(batch / workers));
    const per = size * size * 3;
    const share = (n: number, k: number) =>
      Array.from({ length: workers }, (_, i) => {
        const m = Math.floor(n / workers) + (i < n % workers ? 1 : 0);
        const x = new Float32Array(m * per);
        for (let j = 0; j < x.length; j++) x[j] = ((j * 2654435761 + k) % 1000) / 500 - 1;
        const y = new Float32Array(m * 6);
        for (let j = 0; j < y.length; j++) y[j] = (j + k) % 3 === 0 ? 1 : 0;
        return { x, y, n: m };
      });
    await w.step(share(batch, 0), opt, { micro, seed: 0 });
    const t0 = performance.now();
    for (let s = 1; s <= steps; s++) await w.step(share(batch, s), opt, { micro, seed: s });
    return (steps * batch) / ((performance.now() - t0) / 1000);
  } finally {
    await w.close();
  }
}

export async function benchTrain(): Promise<BenchRow[]> {
  const quick = process.argv.includes('--quick');
  const archs = (argList('--train-archs') ??
    (quick ? ['mobilenet_v2', 'efficientnet_b0', 'resnet50'] : [...ARCH_NAMES])) as ArchName[];
  const sizes = (argList('--train-sizes') ?? (quick ? ['128'] : ['128', '224'])).map(Number);
  const cores = Math.min(2, cpus().length);
  const rows: BenchRow[] = [];
  for (const size of sizes) {
    for (const arch of archs) {
      for (const workers of cores > 1 ? [cores, 1] : [1]) {
        const rate = await trainRate(arch, size, workers, 1);
        const target = TARGETS[arch];
        rows.push({
          name: `train ${arch} ${size}² batch 32, ${workers === 1 ? '1 core' : `${workers} cores`}`,
          value: rate,
          unit: 'images/s',
          target: size === 128 && workers > 1 && target !== undefined ? `≥ ${target}` : '',
        });
        process.stderr.write(`${rows.at(-1)!.name}: ${rate.toFixed(2)} images/s\n`);
      }
    }
  }
  return rows;
}

// Run directly: `npx tsx bench/train.ts [--quick] [--train-archs a,b] [--train-sizes 128]`.
if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchTrain())
    process.stdout.write(`| ${r.name} | ${r.value.toFixed(1)} | ${r.unit} | ${r.target} |\n`);
}
