/**
 * The Keras ImageNet notop weight files: where they are cached and how they are fetched.
 * A download streams to a temporary file beside the target, is checked against the md5 Keras
 * checks (`get_file(..., file_hash=...)` in keras/src/applications) and only then renamed into
 * place, so the cache never holds a partial or corrupt file under the real name.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { IchdetError, InputError } from '../errors.js';
import {
  type ArchName,
  type ArchSpec,
  REGISTRY,
  resolveArch,
  type WeightFile,
} from './registry.js';

/** Environment variable that overrides the default cache folder. */
export const WEIGHTS_DIR_ENV = 'ICHDET_WEIGHTS_DIR';

export interface DownloadProgress {
  /** The architecture (or the label given to `fetchWeightFile`). */
  arch: string;
  /** File name in the cache. */
  file: string;
  /** Bytes received so far. */
  received: number;
  /** The response's content-length, or null when the server sent none. */
  total: number | null;
}

export interface DownloadOptions {
  /** Cache folder; default `$ICHDET_WEIGHTS_DIR`, else `~/.cache/ichdet/weights`. */
  cacheDir?: string;
  /** The fetch to use (tests inject one); default the global fetch. */
  fetchImpl?: typeof fetch;
  /** Called once when the response arrives and then after every chunk written. */
  onProgress?: (p: DownloadProgress) => void;
}

export interface DownloadResult {
  arch: ArchName;
  /** Absolute path of the cached file. */
  path: string;
  url: string;
  bytes: number;
  /** The file's md5. */
  md5: string;
  /** `downloaded` now, or `cached`: an existing file was kept. */
  status: 'downloaded' | 'cached';
  /** Whether the md5 was checked against the registry (false where Keras has no hash). */
  verified: boolean;
}

/** The weight cache folder: the option, else `$ICHDET_WEIGHTS_DIR`, else `~/.cache/ichdet/weights`. */
export function weightsDir(cacheDir?: string): string {
  if (cacheDir !== undefined && cacheDir !== '') return cacheDir;
  const env = process.env[WEIGHTS_DIR_ENV];
  if (env !== undefined && env !== '') return env;
  return join(homedir(), '.cache', 'ichdet', 'weights');
}

function specOf(arch: string): ArchSpec {
  const name = resolveArch(arch, { orAll: true });
  return REGISTRY.find((s) => s.name === name)!;
}

/** Where an architecture's notop weight file lives in the cache (whether or not it is there). */
export function weightsPath(arch: ArchName | string, cacheDir?: string): string {
  return join(weightsDir(cacheDir), specOf(arch).weights.file);
}

/** The md5 of a file, hex, streamed. */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

/**
 * Downloads the Keras notop `.h5` of one architecture, or of every one with `'all'`, into the
 * cache. A file already there whose md5 matches the registry is kept without any request (one
 * with a wrong hash is fetched again). Where Keras publishes no hash (MobileNetV2) an existing
 * file is kept as is and a new one is not verified.
 *
 * @throws ConfigError for an unknown architecture; IchdetError when the request fails;
 *   InputError when the downloaded file's md5 differs from the registry's (the file is removed).
 */
export async function downloadWeights(
  arch: ArchName | 'all' | string,
  opts: DownloadOptions = {},
): Promise<DownloadResult[]> {
  const specs = arch.toLowerCase() === 'all' ? [...REGISTRY] : [specOf(arch)];
  const dir = weightsDir(opts.cacheDir);
  const results: DownloadResult[] = [];
  for (const spec of specs) {
    const r = await fetchWeightFile(spec.weights, { ...opts, cacheDir: dir }, spec.name);
    results.push({ arch: spec.name, ...r });
  }
  return results;
}

/**
 * Fetches one weight file into the cache (`downloadWeights` for one architecture, without the
 * registry lookup): kept when already there with the expected md5, else streamed to a
 * temporary file, verified and renamed. `label` names the file's owner in messages.
 */
export async function fetchWeightFile(
  weights: WeightFile,
  opts: DownloadOptions = {},
  label: string = weights.file,
): Promise<Omit<DownloadResult, 'arch'>> {
  const { url, file, md5: expected } = weights;
  const dir = weightsDir(opts.cacheDir);
  await mkdir(dir, { recursive: true });
  const path = join(dir, file);
  const base = { path, url };
  if (await fileExists(path)) {
    const md5 = await md5File(path);
    if (expected === null || md5 === expected) {
      const { size } = await stat(path);
      return { ...base, bytes: size, md5, status: 'cached', verified: expected !== null };
    }
  }
  const fetchImpl = opts.fetchImpl ?? fetch;
  let res: Response;
  try {
    res = await fetchImpl(url);
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new IchdetError(`${label}: download of ${url} failed: ${reason}`);
  }
  if (!res.ok || res.body === null) {
    throw new IchdetError(
      `${label}: download of ${url} failed: HTTP ${res.status} ${res.statusText}`.trimEnd(),
    );
  }
  const length = Number(res.headers.get('content-length'));
  const total = Number.isFinite(length) && length > 0 ? length : null;
  const tmp = join(dir, `.${file}.${process.pid}.${Date.now()}.part`);
  const hash = createHash('md5');
  let received = 0;
  const progress = (): void => opts.onProgress?.({ arch: label, file, received, total });
  progress();
  const meter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      progress();
      done(null, chunk);
    },
  });
  try {
    await pipeline(
      Readable.fromWeb(res.body as WebReadableStream<Uint8Array>),
      meter,
      createWriteStream(tmp),
    );
    const md5 = hash.digest('hex');
    if (expected !== null && md5 !== expected) {
      throw new InputError(
        `${file}: md5 mismatch for ${url}: expected ${expected}, received ${md5} ` +
          '(the download was removed; try again)',
      );
    }
    await rename(tmp, path);
    return { ...base, bytes: received, md5, status: 'downloaded', verified: expected !== null };
  } catch (err) {
    await rm(tmp, { force: true });
    if (err instanceof IchdetError) throw err;
    const reason = err instanceof Error ? err.message : String(err);
    throw new IchdetError(`${label}: download of ${url} failed: ${reason}`);
  }
}
