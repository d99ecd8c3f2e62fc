import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../src/errors.js';
import { createProgress, formatDuration, shouldDrawProgress } from '../src/util/progress.js';

/** A stream that records what is written; `isTTY` as given. */
function recorder(isTTY: boolean): {
  stream: Writable & { isTTY?: boolean; columns?: number };
  text(): string;
} {
  const chunks: string[] = [];
  const stream: Writable & { isTTY?: boolean; columns?: number } = new Writable({
    write(chunk: Buffer | string, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  stream.isTTY = isTTY;
  stream.columns = 200;
  return { stream, text: () => chunks.join('') };
}

/** A clock that moves only when told to. */
function fakeClock(): { now: () => number; advance(ms: number): void } {
  let t = 1000;
  return {
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

describe('createProgress', () => {
  it('counts ticks and reports count, seconds and rate while writing nothing when disabled', () => {
    const out = recorder(true);
    const clock = fakeClock();
    const p = createProgress({
      total: 10,
      label: 'read',
      unit: 'slices',
      enabled: false,
      stream: out.stream,
      now: clock.now,
    });
    p.tick();
    p.tick();
    p.tick(3);
    clock.advance(2000);
    expect(p.summary()).toEqual({ count: 5, seconds: 2, rate: 2.5 });
    p.stop();
    expect(out.text()).toBe('');
  });

  it('writes one summary line on stop when the stream is not a TTY', () => {
    const out = recorder(false);
    const clock = fakeClock();
    const p = createProgress({
      total: 8,
      label: 'cache',
      unit: 'slices',
      stream: out.stream,
      now: clock.now,
    });
    for (let i = 0; i < 8; i++) {
      clock.advance(250);
      p.tick();
    }
    p.stop();
    expect(out.text()).toBe('cache: 8 slices in 2.0 s (4.0 slices/s)\n');
  });

  it('freezes the summary at stop and ignores later ticks and stops', () => {
    const out = recorder(false);
    const clock = fakeClock();
    const p = createProgress({
      total: 2,
      label: 'x',
      unit: 'items',
      stream: out.stream,
      now: clock.now,
    });
    p.tick(2);
    clock.advance(1000);
    p.stop();
    clock.advance(5000);
    p.tick();
    p.stop();
    expect(p.summary()).toEqual({ count: 2, seconds: 1, rate: 2 });
    expect(out.text()).toBe('x: 2 items in 1.0 s (2.0 items/s)\n');
  });

  it('reports a rate of 0 before any time has passed', () => {
    const clock = fakeClock();
    const p = createProgress({
      total: 1,
      label: 'x',
      unit: 'items',
      enabled: false,
      now: clock.now,
    });
    p.tick();
    expect(p.summary()).toEqual({ count: 1, seconds: 0, rate: 0 });
  });

  it('draws count/total, percent, rate and ETA on a TTY', () => {
    const out = recorder(true);
    const clock = fakeClock();
    const env = process.env.CI;
    delete process.env.CI;
    try {
      const p = createProgress({
        total: 4,
        label: 'read',
        unit: 'slices',
        stream: out.stream,
        now: clock.now,
      });
      clock.advance(1000);
      p.tick(2); // 2 slices in 1 s: rate 2.0, 2 left → ETA 1s
      clock.advance(1000);
      p.tick(2);
      p.stop();
    } finally {
      if (env !== undefined) process.env.CI = env;
    }
    expect(out.text()).toContain('read [');
    expect(out.text()).toContain('] 4/4 100% | 2.0 slices/s | ETA 0s');
  });

  it('rejects a total that is not a non-negative integer and a negative tick', () => {
    expect(() => createProgress({ total: -1, label: 'x', unit: 'items' })).toThrow(
      new ConfigError('progress total must be a non-negative integer, received -1'),
    );
    const p = createProgress({ total: 1, label: 'x', unit: 'items', enabled: false });
    expect(() => p.tick(-2)).toThrow('progress tick must be >= 0, received -2');
  });
});

describe('shouldDrawProgress', () => {
  it('draws only on a TTY outside CI unless switched off', () => {
    expect(shouldDrawProgress({ isTTY: true }, {})).toBe(true);
    expect(shouldDrawProgress({ isTTY: false }, {})).toBe(false);
    expect(shouldDrawProgress({}, {})).toBe(false);
    expect(shouldDrawProgress({ isTTY: true }, { CI: 'true' })).toBe(false);
    expect(shouldDrawProgress({ isTTY: true }, { CI: '1' })).toBe(false);
    expect(shouldDrawProgress({ isTTY: true }, { CI: 'false' })).toBe(true);
    expect(shouldDrawProgress({ isTTY: true }, { CI: '' })).toBe(true);
    expect(shouldDrawProgress({ isTTY: true }, {}, false)).toBe(false);
  });
});

describe('formatDuration', () => {
  it('writes seconds, minutes and hours compactly', () => {
    expect(formatDuration(0)).toBe('0s');
    expect(formatDuration(42.4)).toBe('42s');
    expect(formatDuration(185)).toBe('3m05s');
    expect(formatDuration(7620)).toBe('2h07m');
    expect(formatDuration(Number.NaN)).toBe('--');
    expect(formatDuration(Number.POSITIVE_INFINITY)).toBe('--');
  });
});
