/**
 * `ichdet weights download <arch|all>`: fetches the Keras ImageNet notop `.h5` files into the
 * weight cache and verifies their md5, with a progress bar per file when the size is known.
 */
import {
  type DownloadProgress,
  type DownloadResult,
  downloadWeights,
  weightsDir,
} from '../models/weights.js';
import { createProgress, type Progress } from '../util/progress.js';

export interface WeightsDownloadConfig {
  /** An architecture name or `all`. */
  arch: string;
  /** Cache folder; default `$ICHDET_WEIGHTS_DIR`, else `~/.cache/ichdet/weights`. */
  dir?: string;
  /** Draw a progress bar per file (on a TTY; one summary line otherwise); default true. */
  progress?: boolean;
  /** The fetch to use; default the global fetch (tests inject one). */
  fetchImpl?: typeof fetch;
}

const MIB = 1024 * 1024;

/** Downloads (or finds cached) the weight files; returns one result per architecture. */
export async function weightsDownload(cfg: WeightsDownloadConfig): Promise<DownloadResult[]> {
  let bar: Progress | undefined;
  let current: string | undefined;
  let ticked = 0;
  const onProgress = (p: DownloadProgress): void => {
    if (p.file !== current) {
      bar?.stop();
      bar = undefined;
      current = p.file;
      ticked = 0;
      if (p.total !== null && cfg.progress !== false) {
        bar = createProgress({ total: Math.ceil(p.total / MIB), label: p.arch, unit: 'MiB' });
      }
    }
    if (bar === undefined) return;
    const done = p.total !== null && p.received >= p.total ? Math.ceil(p.total / MIB) : 0;
    const mib = Math.max(done, Math.floor(p.received / MIB));
    if (mib > ticked) {
      bar.tick(mib - ticked);
      ticked = mib;
    }
  };
  try {
    return await downloadWeights(cfg.arch, {
      cacheDir: weightsDir(cfg.dir),
      onProgress,
      ...(cfg.fetchImpl ? { fetchImpl: cfg.fetchImpl } : {}),
    });
  } finally {
    bar?.stop();
  }
}

/** One line per file: `vgg16: downloaded /…/file.h5 (58.9 MB, md5 ok)`. */
export function formatDownloads(results: readonly DownloadResult[]): string {
  return results
    .map((r) => {
      const check = r.verified ? 'md5 ok' : `md5 ${r.md5}, not checked: Keras publishes no hash`;
      return `${r.arch}: ${r.status} ${r.path} (${(r.bytes / 1e6).toFixed(1)} MB, ${check})\n`;
    })
    .join('');
}
