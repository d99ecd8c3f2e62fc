import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { shardPath } from '../src/data/cache.js';
import { ShardWriter } from '../src/data/cache-writer.js';

const root = mkdtempSync(join(tmpdir(), 'ichdet-cache-writer-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sha = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');
const record = (v: number) => new Uint8Array(8).fill(v);

describe('ShardWriter digests (sha256 while writing)', () => {
  it('equal the sha256 of each file written in slot order, skipped and trailing slots as zeros', () => {
    const dir = join(root, 'in-order');
    const w = new ShardWriter(dir, 8, 4, true);
    for (const slot of [0, 2, 3, 5]) w.write(slot, record(slot + 1));
    w.finish(7); // shard 0: slots 0–3 (1 skipped); shard 1: slots 4–6 (4 and 6 never written)
    const d = w.digests();
    expect(d.map((f) => f.path)).toEqual(['shards/shard-0000.bin', 'shards/shard-0001.bin']);
    expect(readFileSync(shardPath(dir, 1))).toEqual(
      Buffer.concat([Buffer.alloc(8), Buffer.alloc(8, 6), Buffer.alloc(8)]),
    );
    for (const [s, f] of d.entries()) {
      expect(f.sha256).toBe(sha(shardPath(dir, s)));
      expect(f.bytes).toBe(s === 0 ? 32 : 24);
    }
  });

  it('leave out a file written out of order, or written by another thread', () => {
    const dir = join(root, 'out-of-order');
    const w = new ShardWriter(dir, 8, 4, true);
    w.write(1, record(1));
    w.write(0, record(2)); // back before slot 1: shard 0's hash cannot be fed in order
    w.write(4, record(3));
    w.written(5); // written elsewhere: shard 1's bytes were never seen
    w.write(8, record(4));
    w.finish(9);
    expect(w.digests()).toEqual([
      { path: 'shards/shard-0002.bin', bytes: 8, sha256: sha(shardPath(dir, 2)) },
    ]);
  });

  it('are not computed without the hash option', () => {
    const w = new ShardWriter(join(root, 'plain'), 8, 4);
    w.write(0, record(1));
    w.finish(1);
    expect(w.digests()).toEqual([]);
  });
});
