/** `ichdet jobs`: each queue's job counts by state, and its failed jobs with their reasons. */
import { Queue } from 'bullmq';
import { checkRedis, redisOptions } from './connection.js';
import { QUEUE_NAMES, QUEUE_PREFIX } from './jobs.js';

export const JOB_STATES = [
  'waiting',
  'waiting-children',
  'active',
  'delayed',
  'completed',
  'failed',
] as const;

export interface QueueStatus {
  queue: string;
  counts: Record<(typeof JOB_STATES)[number], number>;
  failed: { id: string; name: string; attempts: number; reason: string }[];
}

/** The state of every ichdet queue on `redis` (at most `maxFailed` failures listed per queue). */
export async function listJobs(o: { redis: string; maxFailed?: number }): Promise<QueueStatus[]> {
  const connection = redisOptions(o.redis);
  const out: QueueStatus[] = [];
  for (const name of QUEUE_NAMES) {
    const q = new Queue(name, { connection, prefix: QUEUE_PREFIX });
    try {
      if (out.length === 0) await checkRedis(await q.client, o.redis);
      const raw = await q.getJobCounts(...JOB_STATES);
      const counts = Object.fromEntries(
        JOB_STATES.map((s) => [s, raw[s] ?? 0]),
      ) as QueueStatus['counts'];
      const failed = (await q.getFailed(0, (o.maxFailed ?? 20) - 1)).map((j) => ({
        id: j.id ?? '',
        name: j.name,
        attempts: j.attemptsMade,
        reason: j.failedReason,
      }));
      out.push({ queue: name, counts, failed });
    } finally {
      await q.close();
    }
  }
  return out;
}

/** The table `ichdet jobs` prints. */
export function formatJobs(status: readonly QueueStatus[]): string {
  const head = ['queue', ...JOB_STATES];
  const rows = status.map((s) => [s.queue, ...JOB_STATES.map((k) => String(s.counts[k]))]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  const lines = [line(head), ...rows.map(line)];
  for (const s of status) {
    for (const f of s.failed) {
      lines.push(`failed ${s.queue} ${f.id} (${f.name}, ${f.attempts} attempts): ${f.reason}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
