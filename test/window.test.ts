import { describe, expect, it } from 'vitest';
import { toUint8 } from '../src/dicom/quantize.js';
import {
  DEFAULT_WINDOWS,
  parseWindow,
  parseWindows,
  WINDOW_PRESETS,
  windowStack,
  windowStackUint8,
  windowTransform,
} from '../src/dicom/window.js';
import { ConfigError } from '../src/errors.js';

const f32 = (xs: number[]): Float32Array => Float32Array.from(xs);

/**
 * Every 0.1 HU from -1100 to 1100, 20,000 pseudo-random float32 values in [-200, 300]
 * (a fixed linear congruential sequence), NaN and large values.
 */
function denseHu(): Float32Array {
  const xs: number[] = [];
  for (let i = -11000; i <= 11000; i++) xs.push(i / 10);
  let state = 12345;
  for (let i = 0; i < 20000; i++) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    xs.push(-200 + (500 * state) / 2 ** 32);
  }
  xs.push(Number.NaN, 3071, -3024, 1e6);
  return f32(xs);
}

/** Indices where a and b differ (Object.is, so NaN equals NaN); fast on long arrays. */
function differences(a: ArrayLike<number>, b: ArrayLike<number>): number[] {
  const out: number[] = [];
  if (a.length !== b.length) return [-1];
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) out.push(i);
  return out;
}

describe('WINDOW_PRESETS and DEFAULT_WINDOWS', () => {
  it('hold the radiologists’ centres and widths', () => {
    expect(WINDOW_PRESETS).toEqual({
      brain: { center: 40, width: 80 },
      subdural: { center: 80, width: 200 },
      soft: { center: 40, width: 380 },
      bone: { center: 600, width: 2800 },
      stroke: { center: 32, width: 8 },
    });
  });

  it('default to the reference study’s brain, subdural and soft-tissue channels', () => {
    expect(DEFAULT_WINDOWS).toEqual([
      { name: 'brain', center: 40, width: 80 },
      { name: 'subdural', center: 80, width: 200 },
      { name: 'soft', center: 40, width: 380 },
    ]);
  });
});

describe('parseWindow', () => {
  it('accepts preset names in any case and with spaces around', () => {
    expect(parseWindow('brain')).toEqual({ name: 'brain', center: 40, width: 80 });
    expect(parseWindow(' Bone ')).toEqual({ name: 'bone', center: 600, width: 2800 });
  });

  it('accepts center/width with negative and decimal numbers', () => {
    expect(parseWindow('40/80')).toEqual({ name: '40/80', center: 40, width: 80 });
    expect(parseWindow('-600/1500')).toEqual({ name: '-600/1500', center: -600, width: 1500 });
    expect(parseWindow('12.5 / 3')).toEqual({ name: '12.5/3', center: 12.5, width: 3 });
  });

  it('names the unknown window and lists what is accepted', () => {
    expect(() => parseWindow('brian')).toThrow(
      new ConfigError(
        'unknown window "brian"; expected one of brain, subdural, soft, bone, stroke or center/width such as 40/80',
      ),
    );
    expect(() => parseWindow('40/')).toThrow('unknown window "40/"');
    expect(() => parseWindow('constructor')).toThrow(ConfigError);
  });

  it('rejects a width that is not positive, quoting it', () => {
    expect(() => parseWindow('40/-40')).toThrow(
      new ConfigError('window width must be > 0, received -40'),
    );
    expect(() => parseWindow('40/0')).toThrow('window width must be > 0, received 0');
  });
});

describe('parseWindows', () => {
  it('parses a comma-separated list in order', () => {
    expect(parseWindows('brain,subdural,soft')).toEqual(DEFAULT_WINDOWS);
    expect(parseWindows('stroke, -600/1500').map((w) => w.name)).toEqual(['stroke', '-600/1500']);
  });

  it('rejects empty entries and names the list', () => {
    expect(() => parseWindows('brain,,soft')).toThrow(
      new ConfigError(
        'window list must be comma-separated names or center/width, received "brain,,soft"',
      ),
    );
    expect(() => parseWindows('')).toThrow(ConfigError);
    expect(() => parseWindows('brain,brian')).toThrow('unknown window "brian"');
  });
});

describe('windowTransform', () => {
  it('clips the brain window to [0, 80] HU and scales by 1/80', () => {
    const brain = windowTransform({ center: 40, width: 80 });
    const hu = f32([-100, 0, 20, 40, 79.9, 80, 1000]);
    const out = brain(hu);
    // 79.9 is stored as the float32 79.90000152587890625; /80 = 0.99875001907…
    expect(Array.from(out)).toEqual([0, 0, 0.25, 0.5, Math.fround(Math.fround(79.9) / 80), 1, 1]);
    expect(out[4]).toBeCloseTo(0.99875, 6);
  });

  it('uses lo = c - w/2 for the subdural and soft-tissue windows', () => {
    // subdural: [-20, 180]; soft: [-150, 230].
    const subdural = windowTransform({ center: 80, width: 200 });
    expect(Array.from(subdural(f32([-50, -20, 30, 80, 130, 180, 200])))).toEqual([
      0, 0, 0.25, 0.5, 0.75, 1, 1,
    ]);
    const soft = windowTransform({ center: 40, width: 380 });
    expect(Array.from(soft(f32([-200, -55, 40, 135, 230])))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('windows a custom center/width: -600/1500 spans [-1350, 150]', () => {
    const lung = windowTransform(parseWindow('-600/1500'));
    expect(Array.from(lung(f32([-2000, -975, -600, -225, 150])))).toEqual([0, 0.25, 0.5, 0.75, 1]);
  });

  it('keeps NaN as NaN, as numpy does', () => {
    expect(Number.isNaN(windowTransform({ center: 40, width: 80 })(f32([Number.NaN]))[0])).toBe(
      true,
    );
  });

  it('checks the window when built, before any image', () => {
    expect(() => windowTransform({ center: 40, width: -40 })).toThrow(
      new ConfigError('window width must be > 0, received -40'),
    );
    expect(() => windowTransform({ center: Number.NaN, width: 80 })).toThrow(
      'window center must be a finite number, received NaN',
    );
    expect(() => windowTransform({ center: 0, width: Number.POSITIVE_INFINITY })).toThrow(
      'window width must be a finite number, received Infinity',
    );
  });

  it('reuses out of the right length and leaves the input unchanged', () => {
    const brain = windowTransform({ center: 40, width: 80 });
    const hu = f32([0, 40, 80]);
    const out = new Float32Array(3);
    expect(brain(hu, out)).toBe(out);
    expect(Array.from(out)).toEqual([0, 0.5, 1]);
    expect(Array.from(hu)).toEqual([0, 40, 80]);
    expect(brain(hu, new Float32Array(2))).toHaveLength(3);
  });
});

describe('windowStack', () => {
  it('interleaves the channels pixel by pixel (HWC)', () => {
    // HU -55: brain 0, subdural 0, soft 95/380; HU 40: 0.5, 60/200, 0.5; HU 135: 1, 155/200, 285/380.
    const hu = f32([-55, 40, 135]);
    const out = windowStack(hu, DEFAULT_WINDOWS);
    expect(Array.from(out)).toEqual(Array.from(f32([0, 0, 0.25, 0.5, 0.3, 0.5, 1, 0.775, 0.75])));
    expect(Array.from(hu)).toEqual(Array.from(f32([-55, 40, 135])));
  });

  it('gives exactly what windowTransform gives, channel by channel, for 1 to 4 windows', () => {
    const hu = denseHu();
    const lists = [
      [WINDOW_PRESETS.stroke],
      [WINDOW_PRESETS.brain, { center: -600, width: 1500 }],
      DEFAULT_WINDOWS,
      [...DEFAULT_WINDOWS, WINDOW_PRESETS.bone],
      [
        { center: 0.1, width: 0.3 },
        { center: 33.3, width: 7.7 },
        { center: -1, width: 1e-3 },
      ],
    ];
    for (const windows of lists) {
      const c = windows.length;
      const stacked = windowStack(hu, windows);
      expect(stacked).toHaveLength(hu.length * c);
      windows.forEach((w, k) => {
        const single = windowTransform(w)(hu);
        const channel = stacked.filter((_, j) => j % c === k);
        expect(differences(channel, single)).toEqual([]);
      });
    }
  });

  it('reuses out of length n × C', () => {
    const out = new Float32Array(6);
    expect(windowStack(f32([40, 80]), DEFAULT_WINDOWS, out)).toBe(out);
    expect(Array.from(out)).toEqual(Array.from(f32([0.5, 0.3, 0.5, 1, 0.5, 230 / 380])));
  });

  it('rejects an empty window list and bad windows', () => {
    expect(() => windowStack(f32([0]), [])).toThrow(
      new ConfigError('windows must name at least one window, received an empty list'),
    );
    expect(() => windowStack(f32([0]), [{ center: 40, width: 0 }])).toThrow(
      'window width must be > 0, received 0',
    );
  });
});

describe('windowStackUint8', () => {
  it('rounds v × 255 half up: brain 20 HU → 63.75 → 64, 40 HU → 127.5 → 128', () => {
    const hu = f32([-10, 20, 40, 80, Number.NaN]);
    expect(Array.from(windowStackUint8(hu, [WINDOW_PRESETS.brain]))).toEqual([0, 64, 128, 255, 0]);
  });

  it('equals toUint8(windowStack(...)) exactly for 1, 3 and 4 windows', () => {
    const hu = denseHu();
    const lists = [
      [WINDOW_PRESETS.stroke],
      DEFAULT_WINDOWS,
      [...DEFAULT_WINDOWS, { center: 0.1, width: 0.3 }],
    ];
    for (const windows of lists) {
      expect(differences(windowStackUint8(hu, windows), toUint8(windowStack(hu, windows)))).toEqual(
        [],
      );
    }
  });

  it('reuses out of length n × C and leaves the input unchanged', () => {
    const hu = f32([40, 80]);
    const out = new Uint8Array(6);
    expect(windowStackUint8(hu, DEFAULT_WINDOWS, out)).toBe(out);
    // 0.3 × 255 = 76.5 (as float32 0.30000001192… → 76.500003) → 77; 230/380 × 255 = 154.34 → 154.
    expect(Array.from(out)).toEqual([128, 77, 128, 255, 128, 154]);
    expect(Array.from(hu)).toEqual([40, 80]);
  });
});
