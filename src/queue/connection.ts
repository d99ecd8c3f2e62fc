/**
 * The Redis connection every queue object shares: parsed from a `redis://` URL, and checked at
 * start for what BullMQ needs (a reachable server whose `maxmemory-policy` is `noeviction`, so
 * Redis never evicts a job's keys under memory pressure).
 */
import type { ConnectionOptions } from 'bullmq';
import { ConfigError } from '../errors.js';

/** ioredis options from `redis://[user:pass@]host[:port][/db]` (`rediss://` for TLS). */
export function redisOptions(url: string): ConnectionOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--redis must be a redis://host:port URL, received "${url}"`);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:') {
    throw new ConfigError(`--redis must be a redis://host:port URL, received "${url}"`);
  }
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) {
    throw new ConfigError(`--redis database must be an integer ≥ 0, received "${u.pathname}"`);
  }
  return {
    host: u.hostname,
    port: u.port === '' ? 6379 : Number(u.port),
    db,
    ...(u.username !== '' && { username: decodeURIComponent(u.username) }),
    ...(u.password !== '' && { password: decodeURIComponent(u.password) }),
    ...(u.protocol === 'rediss:' && { tls: {} }),
    // BullMQ's workers block on Redis; they must wait for it rather than fail a command.
    maxRetriesPerRequest: null,
  };
}

/** The part of an ioredis client the check needs. */
export interface ConfigClient {
  runCommand(name: string, args: string[]): Promise<unknown>;
}

/**
 * Fails unless Redis evicts nothing: BullMQ keeps jobs, locks and flows in keys that an evicting
 * policy may drop, losing or duplicating work.
 *
 * @throws ConfigError `Redis at URL has maxmemory-policy allkeys-lru; BullMQ needs noeviction …`
 */
export async function checkRedis(client: ConfigClient, url: string): Promise<void> {
  let reply: unknown;
  try {
    reply = await client.runCommand('config', ['GET', 'maxmemory-policy']);
  } catch (err) {
    throw new ConfigError(
      `Redis at ${url} did not answer CONFIG GET maxmemory-policy: ${(err as Error).message}`,
    );
  }
  const policy = Array.isArray(reply) ? String(reply[1]) : String(reply);
  if (policy !== 'noeviction') {
    throw new ConfigError(
      `Redis at ${url} has maxmemory-policy ${policy}; ichdet's queues need noeviction ` +
        '(set it with: redis-cli CONFIG SET maxmemory-policy noeviction, and in redis.conf)',
    );
  }
}
