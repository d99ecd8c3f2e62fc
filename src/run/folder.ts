/**
 * Replacing a folder of a run atomically: the new content is written beside it under a
 * temporary name, then swapped in with two renames, so a kill at any instant leaves either the
 * old folder or the new one (`recoverFolder` puts the old one back when a kill hit between the
 * two renames). Training writes `last/` and `best/` this way; the series trainer does too.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function names(parent: string, name: string) {
  return {
    tmp: join(parent, `.${name}.tmp`),
    dst: join(parent, name),
    old: join(parent, `.${name}.old`),
  };
}

/** Replaces `parent/name` by a freshly written folder, never leaving neither. */
export async function writeFolder(
  parent: string,
  name: string,
  fill: (tmp: string) => Promise<void> | void,
): Promise<void> {
  const { tmp, dst, old } = names(parent, name);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  await fill(tmp);
  if (existsSync(dst)) renameSync(dst, old);
  renameSync(tmp, dst);
  rmSync(old, { recursive: true, force: true });
}

/**
 * Recovers `parent/name` after a kill in the middle of `writeFolder`: when the folder lacks
 * `marker` (the file written last into it) and the previous copy has it, the previous copy comes
 * back. Leftover temporary copies are removed.
 */
export function recoverFolder(parent: string, name: string, marker: string): void {
  const { tmp, dst, old } = names(parent, name);
  if (!existsSync(join(dst, marker)) && existsSync(join(old, marker))) {
    rmSync(dst, { recursive: true, force: true });
    renameSync(old, dst);
  }
  rmSync(old, { recursive: true, force: true });
  rmSync(tmp, { recursive: true, force: true });
}
