/**
 * Reporters: the JSON-lines reporter a service logs with (one object per event, progress at
 * most every `everyMs`), and `reporterOf`, which maps the old `progress`/`log` options.
 */
import { describe, expect, it } from 'vitest';
import {
  jsonReporter,
  type ReportEvent,
  reporterOf,
  silentReporter,
} from '../src/util/reporter.js';

describe('jsonReporter', () => {
  it('writes start, throttled progress, end and log events as one JSON object per line', () => {
    const lines: string[] = [];
    let t = 0;
    const r = jsonReporter((l) => lines.push(l), { everyMs: 1000, now: () => t });
    const task = r.task({ total: 10, label: 'predict', unit: 'images' });
    t = 500;
    task.tick(2); // within 1 s of the start: counted, not written
    t = 1500;
    task.setInfo('loss 0.2');
    task.tick(3);
    t = 2000;
    task.stop();
    task.stop(); // a second stop writes nothing
    r.log('resuming', { epoch: 3 });
    expect(lines.every((l) => l.endsWith('\n'))).toBe(true);
    const events = lines.map((l) => JSON.parse(l) as ReportEvent);
    expect(events.map((e) => e.event)).toEqual(['start', 'progress', 'end', 'log']);
    expect(events[0]).toMatchObject({ task: 'predict', total: 10, unit: 'images' });
    // 5 images in 1.5 s since the task started.
    expect(events[1]).toMatchObject({ done: 5, total: 10, info: 'loss 0.2' });
    expect((events[1] as { rate: number }).rate).toBeCloseTo(5 / 1.5, 6);
    expect(events[2]).toMatchObject({ done: 5, seconds: 2 });
    expect(events[3]).toMatchObject({ message: 'resuming', epoch: 3 });
    for (const e of events) expect(Number.isNaN(Date.parse(e.time))).toBe(false);
  });
});

describe('reporterOf', () => {
  it('prefers an explicit reporter and routes log lines to the log option', () => {
    const logged: string[] = [];
    const r = reporterOf({ reporter: silentReporter, log: (l) => logged.push(l) });
    r.log('epoch 1/3');
    expect(logged).toEqual(['epoch 1/3']);
    const task = r.task({ total: 2, label: 'x', unit: 'images' });
    task.tick(2);
    task.stop();
    expect(task.summary().count).toBe(2);
  });
});
