/**
 * Deterministic identities of the results: a result's UIDs are a hash of the source study's UID,
 * the model's hash and the result's role, as `2.25.<decimal>` (PS3.5 §B.2: a UUID-derived root,
 * here a 128-bit hash in place of the UUID), so storing the results of a study again — after a
 * crash, a retry, a second watcher — yields the same instances, which the PACS keeps once.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';

/** The roles of the UIDs a study's results need. */
export type UidRole = 'sr-series' | 'sr-instance' | 'sc-series' | 'sc-instance';

/** `2.25.` and the decimal of the first 128 bits of SHA-256 over the parts (at most 44 chars). */
export function hashUid(...parts: string[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(`${p.length}:${p}`);
  const hex = h.digest('hex').slice(0, 32);
  return `2.25.${BigInt(`0x${hex}`).toString(10)}`;
}

/** The UID of one result of a study for a model (see the module comment). */
export function resultUid(studyUid: string, modelHash: string, role: UidRole): string {
  return hashUid('ichdet-watch', studyUid, modelHash, role);
}

/**
 * SHA-256 over a model folder's files (names and contents, sorted, sub-folders included except
 * `eval/`; `model.onnx` left out, as it is derived from the weights), hex: the same weights give the same results' UIDs; new weights, new UIDs.
 */
export function hashModelDir(...dirs: string[]): string {
  const h = createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const r = rel === '' ? name : `${rel}/${name}`;
      if (statSync(full).isDirectory()) {
        if (name !== 'eval') walk(full, r);
      } else if (name !== 'model.onnx') {
        h.update(`${r}\0`);
        h.update(readFileSync(full));
      }
    }
  };
  for (const d of dirs) walk(d, '');
  return h.digest('hex');
}

/**
 * SHA-256 over model files given one by one (an ONNX-only model: its .onnx file, by base name and
 * content) and then model folders as `hashModelDir` hashes them, hex.
 */
export function hashModelFiles(files: readonly string[], dirs: readonly string[] = []): string {
  const h = createHash('sha256');
  for (const f of files) {
    h.update(`${basename(f)}\0`);
    h.update(readFileSync(f));
  }
  if (dirs.length > 0) h.update(hashModelDir(...dirs));
  return h.digest('hex');
}
