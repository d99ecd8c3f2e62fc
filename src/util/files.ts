/** File-system helpers shared by batch commands. */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { mkdir, readdir, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';

/**
 * Expands paths into a sorted list of regular files: files are kept as given, directories are
 * walked recursively (DICOM files often have no extension, so every file is taken; dot files
 * are skipped). A missing path is an InputError naming it.
 */
export async function listFiles(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const p of paths) {
    let st: Awaited<ReturnType<typeof stat>>;
    try {
      st = await stat(p);
    } catch {
      throw new InputError(`no such file or directory: ${p}`);
    }
    if (st.isDirectory()) await walk(p, out);
    else out.push(p);
  }
  return out;
}

async function walk(dir: string, out: string[]): Promise<void> {
  const entries = await readdir(dir, { withFileTypes: true });
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    if (e.name.startsWith('.')) continue;
    const full = join(dir, e.name);
    if (e.isDirectory()) await walk(full, out);
    else if (e.isFile()) out.push(full);
  }
}

/** Writes a file atomically: to a temporary name beside it, then renamed, so no partial output. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

/**
 * Reads whole files into one buffer that is reused from call to call (grown when needed), for
 * hot loops over many files. The returned bytes are valid until the next `read`.
 */
export class ReusableFileReader {
  #buffer = new Uint8Array(1 << 20);

  read(path: string): Uint8Array {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      if (size > this.#buffer.length) this.#buffer = new Uint8Array(Math.ceil(size * 1.25));
      let off = 0;
      while (off < size) {
        const got = readSync(fd, this.#buffer, off, size - off, off);
        if (got === 0) break;
        off += got;
      }
      return this.#buffer.subarray(0, off);
    } finally {
      closeSync(fd);
    }
  }
}
