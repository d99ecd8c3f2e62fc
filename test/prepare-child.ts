/**
 * Runs `prepare` with the JSON options in argv[2], as its own process, so test/prepare.test.ts
 * can SIGKILL it part-way through.
 */
import { prepare } from '../src/commands/prepare.js';

const opts = JSON.parse(process.argv[2] ?? '{}') as Parameters<typeof prepare>[0];
await prepare(opts);
