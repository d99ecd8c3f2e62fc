/**
 * Where a cache's records live (the layout is described in cache.ts): shard files under
 * `shards/`, `recordsPerShard` records each. Kept apart from cache.ts so that the prepare
 * workers, which write records at their slots, need no SQLite.
 */
import { join } from 'node:path';

export const SHARD_DIR = 'shards';
/** Records per shard file unless `--records-per-shard` says otherwise. */
export const DEFAULT_RECORDS_PER_SHARD = 4096;

export function shardPath(dir: string, shard: number): string {
  return join(dir, SHARD_DIR, `shard-${String(shard).padStart(4, '0')}.bin`);
}

/** The shard and the record within it of a slot. */
export function locateSlot(
  slot: number,
  recordsPerShard: number,
): { shard: number; record: number } {
  return { shard: Math.floor(slot / recordsPerShard), record: slot % recordsPerShard };
}
