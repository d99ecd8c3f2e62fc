/**
 * Benchmark of `ichdet index`: files/s reading the headers of RSNA-like 512² DICOM slices
 * (12-bit unsigned, intercept −1024, RSNA-style ids; written by bench/prepare.ts
 * `writeDataset`, ~525 KB each) on 2 worker threads, page cache warm (the files were just
 * written), end to end: listing, header reads, index commits, final step. Target ≥ 5,000/s
 * (the 752,800-file RSNA set in about 2.5 minutes). Run alone with `npx tsx bench/index.ts`
 * (`--quick` for fewer files).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { type BenchResult, writeDataset } from './prepare.js';

async function runIndex(
  images: string,
  out: string,
): Promise<{ files: number; rate: number; mib: number; from: string }> {
  const cli = fileURLToPath(new URL('../dist/cli/run.js', import.meta.url));
  if (existsSync(cli)) {
    const stdout = execFileSync(
      process.execPath,
      [cli, 'index', '--images', images, '--out', out, '--workers', '2', '--no-progress'],
      {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    return {
      files: Number(/(\d+) slices indexed/.exec(stdout)?.[1] ?? Number.NaN),
      rate: Number(/, (\d+) files\/s/.exec(stdout)?.[1] ?? Number.NaN),
      mib: Number(/, ([\d.]+) MiB read/.exec(stdout)?.[1] ?? Number.NaN),
      from: 'the built CLI',
    };
  }
  const { indexImages } = await import('../src/commands/index-meta.js');
  const r = await indexImages({ images, out, workers: 2, progress: false });
  return {
    files: r.indexed,
    rate: r.filesPerSecond,
    mib: r.bytesRead / 2 ** 20,
    from: 'TypeScript sources',
  };
}

export async function benchIndex(quick = process.argv.includes('--quick')): Promise<BenchResult[]> {
  const root = mkdtempSync(join(tmpdir(), 'ichdet-bench-index-'));
  try {
    const files = quick ? 1000 : 4000;
    const images = join(root, 'images');
    writeDataset(images, files, 40);
    const r = await runIndex(images, join(root, 'meta.sqlite'));
    return [
      {
        name: `index: headers of 512² RSNA-like DICOM, 2 workers, page cache warm (${r.files} files, ${r.from}, rate it reports)`,
        value: Math.round(r.rate),
        unit: 'files/s',
        target: '≥ 5,000',
      },
      {
        name: 'index: bytes read per file (header prefix)',
        value: (r.mib * 2 ** 20) / r.files / 1024,
        unit: 'KiB/file',
        target: '—',
      },
    ];
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const r of await benchIndex())
    console.log(`${r.name}: ${r.value} ${r.unit} (target ${r.target})`);
}
