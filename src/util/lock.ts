/**
 * A lock file that keeps two processes from writing one output at the same time. It holds the
 * owner's pid; a lock whose process is gone (killed, even by SIGKILL) is stale and taken over,
 * so an interrupted run can always be resumed.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { ConfigError } from '../errors.js';

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function ownerOf(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Takes the lock at `path` for this process and returns its release function.
 *
 * @throws ConfigError naming `what` and the owner's pid when another live process holds it.
 */
export function acquireLock(path: string, what: string): () => void {
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = ownerOf(path);
      if (owner !== undefined && owner !== process.pid && isAlive(owner)) {
        throw new ConfigError(
          `${what} is being written by process ${owner} (lock ${path}); wait for it to finish, or delete the lock if that process is not ichdet`,
        );
      }
      try {
        unlinkSync(path); // stale: its process is gone
      } catch {
        // another process took it over first; try again
      }
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
    } finally {
      closeSync(fd);
    }
    return () => {
      if (ownerOf(path) === process.pid) {
        try {
          unlinkSync(path);
        } catch {
          // already gone
        }
      }
    };
  }
  throw new ConfigError(`cannot take the lock ${path} for ${what}: it keeps changing hands`);
}
