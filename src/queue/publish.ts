/**
 * Publishing a job's output on the shared store: the folder is built locally (the SQLite index
 * is never opened on the shared filesystem while it is written), copied next to its final name
 * under a temporary one (moved, when the local folder is on the same filesystem), given a manifest (file sizes and sha256, the job's counts) and renamed
 * into place in one step. A reader sees no folder or a whole one; a job run twice (at-least-once
 * delivery) finds the manifest of its first run and publishes nothing again.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { copyFile, cp, link, mkdir, open, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join, relative } from 'node:path';
import { InputError } from '../errors.js';
import { writeFileAtomic } from '../util/files.js';

export const MANIFEST = 'ichdet-manifest.json';

export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface Manifest {
  /** The id of the job that published the folder. */
  job: string;
  counts: Record<string, number>;
  files: ManifestFile[];
  publishedAt: string;
}

/** Bytes read at a time by `sha256`: large reads, the next one under way while one is hashed. */
const READ_BYTES = 4 << 20;

/** The size and sha256 of a file. */
export async function sha256(file: string): Promise<{ bytes: number; sha256: string }> {
  const h = createHash('sha256');
  const fh = await open(file, 'r');
  try {
    const bufs = [Buffer.allocUnsafe(READ_BYTES), Buffer.allocUnsafe(READ_BYTES)];
    let bytes = 0;
    let i = 0;
    let next = fh.read(bufs[0]!, 0, READ_BYTES, null);
    for (;;) {
      const { bytesRead } = await next;
      if (bytesRead === 0) break;
      const cur = bufs[i]!;
      i ^= 1;
      next = fh.read(bufs[i]!, 0, READ_BYTES, null);
      h.update(cur.subarray(0, bytesRead));
      bytes += bytesRead;
    }
    return { bytes, sha256: h.digest('hex') };
  } finally {
    await fh.close();
  }
}

async function listTree(dir: string, root = dir, out: string[] = []): Promise<string[]> {
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, e.name);
    if (e.isDirectory()) await listTree(full, root, out);
    else if (e.isFile()) out.push(relative(root, full));
  }
  return out.sort();
}

/** The manifest of a published folder, or undefined when it has none. */
export function readManifest(dir: string): Manifest | undefined {
  const file = join(dir, MANIFEST);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as Manifest;
}

/** A file already on the store that a published folder takes as it is (a hard link). */
export interface PublishLink {
  /** Its path in the published folder. */
  path: string;
  /** The file (absolute), on the store. */
  source: string;
}

/**
 * Copies `local` to `target` atomically with a manifest. When `target` already holds this job's
 * manifest (a retried job whose first run published), nothing is copied and that manifest is
 * returned. `known` lists files whose sha256 the job computed as it wrote them (a prepare's or a
 * merge's shard files, or a link's from its own manifest): they are not read again, if their size
 * still matches; every other file is hashed here. `links` are files already on the store (a
 * merge's parts: the shard jobs' published shard files) that the folder takes by hard link, next
 * to its final name, so their bytes are neither copied nor rewritten (copied where the file
 * system cannot link); the inputs stay whole, so a retried job links them again.
 *
 * @throws InputError when `target` exists and is not this job's output.
 */
export async function publish(
  local: string,
  target: string,
  job: string,
  counts: Record<string, number>,
  known: readonly ManifestFile[] = [],
  links: readonly PublishLink[] = [],
): Promise<Manifest> {
  const existing = readManifest(target);
  if (existing?.job === job) return existing;
  if (existsSync(target) && readdirSync(target).length > 0) {
    throw new InputError(`output folder "${target}" already exists and is not job ${job}'s`);
  }
  const files: ManifestFile[] = [];
  const byPath = new Map(known.map((f) => [f.path, f]));
  const entries: [string, string][] = [
    ...(await listTree(local)).map((path): [string, string] => [path, join(local, path)]),
    ...links.map((l): [string, string] => [l.path, l.source]),
  ];
  for (const [path, file] of entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    const k = byPath.get(path);
    if (k !== undefined && statSync(file).size === k.bytes) {
      files.push({ path, bytes: k.bytes, sha256: k.sha256 });
    } else {
      files.push({ path, ...(await sha256(file)) });
    }
  }
  const manifest: Manifest = { job, counts, files, publishedAt: new Date().toISOString() };
  await mkdir(dirname(target), { recursive: true });
  const tmp = join(
    dirname(target),
    `.${basename(target)}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`,
  );
  try {
    // Same filesystem (a local store, or a temporary folder on the store's disk): move, not copy.
    await rename(local, tmp).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EXDEV') throw err;
      await cp(local, tmp, { recursive: true });
    });
    for (const l of links) {
      await mkdir(dirname(join(tmp, l.path)), { recursive: true });
      await link(l.source, join(tmp, l.path)).catch(() => copyFile(l.source, join(tmp, l.path)));
    }
    await writeFile(join(tmp, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
    await rm(target, { recursive: true, force: true }); // an empty folder, if any
    await rename(tmp, target);
  } catch (err) {
    await rm(tmp, { recursive: true, force: true });
    const now = readManifest(target);
    // Another run of the same job published first: its output is ours.
    if (now?.job === job) return now;
    throw err;
  }
  return manifest;
}

/**
 * Checks that a published folder is whole: its manifest and every file it lists, at its size
 * (cheap: no file is read). @throws InputError
 */
export function checkPublished(dir: string): Manifest {
  const m = readManifest(dir);
  if (!m) throw new InputError(`${dir} has no ${MANIFEST}: it was not published by a job`);
  for (const f of m.files) {
    const file = join(dir, f.path);
    const bytes = existsSync(file) ? statSync(file).size : -1;
    if (bytes !== f.bytes) {
      throw new InputError(
        `${file} does not match its manifest: ${bytes} bytes, expected ${f.bytes}`,
      );
    }
  }
  return m;
}

/** Checks every file of a published folder against its manifest's sha256. @throws InputError */
export async function verifyPublished(dir: string): Promise<Manifest> {
  const m = readManifest(dir);
  if (!m) throw new InputError(`${dir} has no ${MANIFEST}: it was not published by a job`);
  for (const f of m.files) {
    const got = await sha256(join(dir, f.path));
    if (got.sha256 !== f.sha256 || got.bytes !== f.bytes) {
      throw new InputError(`${join(dir, f.path)} does not match its manifest (sha256 differs)`);
    }
  }
  return m;
}

/**
 * Gives a folder that a job finished in place (a training run: it resumes there from its last
 * checkpoint after a lost worker, so it cannot be built elsewhere and renamed) its manifest,
 * written atomically once every file is in place. `exclude` lists top-level entries left out
 * (a run's `eval/`, which each report rewrites). A folder already sealed by this job, and still
 * whole, keeps its manifest.
 */
export async function seal(
  dir: string,
  job: string,
  counts: Record<string, number>,
  exclude: readonly string[] = [],
): Promise<Manifest> {
  const existing = readManifest(dir);
  if (existing?.job === job) {
    try {
      return checkPublished(dir);
    } catch {
      // Changed since (a rerun over it): sealed again below.
    }
  }
  const files: ManifestFile[] = [];
  for (const path of await listTree(dir)) {
    const top = path.split(/[\\/]/)[0]!;
    if (path === MANIFEST || exclude.includes(top)) continue;
    files.push({ path, ...(await sha256(join(dir, path))) });
  }
  const manifest: Manifest = { job, counts, files, publishedAt: new Date().toISOString() };
  await writeFileAtomic(join(dir, MANIFEST), `${JSON.stringify(manifest, null, 2)}\n`);
  return manifest;
}

/**
 * Checks that `dir` was published (or sealed) by job `job` and that every file still matches its
 * manifest's sha256, before a job uses it. @throws InputError
 */
export async function checkOutputOf(dir: string, job: string): Promise<Manifest> {
  const m = await verifyPublished(dir);
  if (m.job !== job) {
    throw new InputError(
      `${dir} was published by job ${m.job}, not by ${job}: not this flow's output`,
    );
  }
  return m;
}
