/**
 * `ichdet watch` on a real Orthanc (issue 15): latency from "study stable" to "SR stored" and
 * throughput, with ONNX Runtime on this machine's cores. A random-weight MobileNetV2 at 224 px
 * (speed does not depend on the weights) reads synthetic 40-slice head CTs of 256² slices.
 *
 * 1. one study at a time (the next sent when the previous one's SR is stored): latency p50/p95
 *    from the moment Orthanc reports the study stable (its StableStudy change, seen by polling
 *    every 100 ms) to the moment the watcher logs the results stored (target p95 < 10 s);
 * 2. a burst of studies stored at once: all processed?, the time until the last SR, and each
 *    study's own processing time (p50/p95; queueing excluded).
 *
 *   npx tsx bench/watch.ts [--quick]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../src/backend/init.js';
import { synth } from '../src/commands/synth.js';
import { watch } from '../src/commands/watch.js';
import { DEFAULT_WINDOWS } from '../src/dicom/window.js';
import { exportRunToOnnx } from '../src/infer/onnx-export.js';
import { LABEL_NAMES } from '../src/labels.js';
import { buildModel } from '../src/models/index.js';
import { saveLayersModel } from '../src/run/checkpoint.js';
import { jsonReporter } from '../src/util/reporter.js';
import { synthStudies, TestOrthanc, waitFor, writeStudy } from '../test/watch-fixtures.js';
import type { BenchRow } from './bench.js';

function quantile(v: number[], q: number): number {
  const s = [...v].sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i]!;
}

export async function benchWatch(): Promise<BenchRow[]> {
  const quick = process.argv.includes('--quick');
  const sequential = quick ? 3 : 20;
  const burst = quick ? 6 : 50;
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-bench-watch-'));
  const orthanc = await TestOrthanc.create(join(dir, 'orthanc'), { stableAge: 1 });
  const controller = new AbortController();
  try {
    await initBackend('wasm');
    const model = join(dir, 'model');
    const size = 224;
    const m = buildModel('mobilenet_v2', { inputShape: [size, size, 3] });
    await saveLayersModel(m, model, {
      arch: 'mobilenet_v2',
      size,
      channels: 3,
      context: 0,
      cacheChannels: 3,
      cacheSize: size,
      windows: DEFAULT_WINDOWS.map((w) => ({ name: w.name, center: w.center, width: w.width })),
      rsnaFix: true,
      preprocessing: 'tf',
      labels: [...LABEL_NAMES],
    });
    m.dispose();
    await exportRunToOnnx(model, join(model, 'model.onnx'));
    const patients = Math.max(sequential, Math.ceil(burst / 2));
    await synth({
      out: join(dir, 'synth'),
      patients,
      size: quick ? 128 : 256,
      slicesPerSeries: '40:40',
      seed: 7,
      workers: 2,
      progress: false,
    });
    const studies = synthStudies(join(dir, 'synth', 'stage_2_train'));

    // Stable times, seen by polling the change feed every 100 ms.
    const stableAt = new Map<string, number>();
    let since = (await orthanc.json<{ Last: number }>('/changes?last')).Last;
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const c = await orthanc.json<{
          Changes: { ChangeType: string; ID: string; Seq: number }[];
          Last: number;
        }>(`/changes?since=${since}&limit=1000`);
        for (const x of c.Changes) {
          if (x.ChangeType === 'StableStudy' && !stableAt.has(x.ID)) stableAt.set(x.ID, Date.now());
        }
        since = c.Last;
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    const storedAt = new Map<string, number>();
    const seconds = new Map<string, number>();
    const receivedAt = new Map<string, number>();
    const service = watch({
      orthanc: orthanc.url,
      model,
      state: join(dir, 'state'),
      heatmap: false,
      pollSeconds: 0.1,
      signal: controller.signal,
      reporter: jsonReporter((line) => {
        const e = JSON.parse(line) as Record<string, unknown>;
        if (e.kind === 'study' && e.state === 'done') {
          storedAt.set(String(e.orthancId), Date.now());
          receivedAt.set(String(e.orthancId), Date.parse(String(e.received)));
          seconds.set(String(e.orthancId), Number(e.seconds));
        }
      }),
    });
    const send = async (key: string, files: string[]) => {
      const folder = join(dir, 'studies', key);
      const uid = writeStudy(folder, { files, key });
      return { uid, folder };
    };

    // 1. One at a time.
    const latency: number[] = [];
    const notice: number[] = [];
    const seqProcessing: number[] = [];
    for (let i = 0; i < sequential; i++) {
      const s = await send(`seq${i}`, studies[i % studies.length]!);
      await orthanc.storescu(s.folder);
      const id = await waitFor(`study ${s.uid}`, () => orthanc.studyId(s.uid), 60_000);
      await waitFor(`results of ${s.uid}`, () => storedAt.get(id), 120_000, 50);
      const t0 = await waitFor(`stable ${s.uid}`, () => stableAt.get(id), 10_000, 50);
      latency.push((storedAt.get(id)! - t0) / 1000);
      notice.push((receivedAt.get(id)! - t0) / 1000);
      seqProcessing.push(seconds.get(id)!);
    }

    // 2. A burst, stored at once.
    const sent: { uid: string; folder: string }[] = [];
    for (let i = 0; i < burst; i++)
      sent.push(await send(`burst${i}`, studies[i % studies.length]!));
    const t0 = Date.now();
    await orthanc.storescu(join(dir, 'studies'));
    const ids = await Promise.all(
      sent.map((s) => waitFor(`study ${s.uid}`, () => orthanc.studyId(s.uid), 120_000)),
    );
    await waitFor(
      'the burst processed',
      () => (ids.every((id) => storedAt.has(id)) ? true : undefined),
      1_800_000,
      200,
    );
    const burstSeconds = (Math.max(...ids.map((id) => storedAt.get(id)!)) - t0) / 1000;
    const processing = ids.map((id) => seconds.get(id)!);
    controller.abort('bench done');
    polling = false;
    await service;
    await poller;
    return [
      {
        name: `watch: stable → SR stored, p50 (${sequential} studies × 40 slices, one at a time)`,
        value: quantile(latency, 0.5),
        unit: 's',
        target: '',
      },
      {
        name: 'watch: stable → SR stored, p95',
        value: quantile(latency, 0.95),
        unit: 's',
        target: '< 10 (2 cores, ONNX)',
      },
      {
        name: `watch: burst of ${burst} studies stored at once, processed`,
        value: ids.filter((id) => storedAt.has(id)).length,
        unit: 'studies',
        target: `${burst}`,
      },
      {
        name: `watch: burst of ${burst}, C-STORE start → last SR stored`,
        value: burstSeconds,
        unit: 's',
        target: '',
      },
      {
        name: 'watch: per-study processing in the burst, p50',
        value: quantile(processing, 0.5),
        unit: 's',
        target: '',
      },
      {
        name: 'watch: per-study processing in the burst, p95',
        value: quantile(processing, 0.95),
        unit: 's',
        target: '< 10',
      },
      {
        name: 'watch: of the one-at-a-time latency, stable → study picked up, p50',
        value: quantile(notice, 0.5),
        unit: 's',
        target: '',
      },
      {
        name: "watch: of the one-at-a-time latency, the study's own processing, p50",
        value: quantile(seqProcessing, 0.5),
        unit: 's',
        target: '',
      },
    ];
  } finally {
    controller.abort('bench done');
    await orthanc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  for (const r of await benchWatch())
    process.stdout.write(`${r.name}: ${r.value.toFixed(2)} ${r.unit} (${r.target})\n`);
}
