/**
 * The transfer syntax table, the HT capability sniffing that routes HTJ2K codestreams, and the
 * writer's refusals of things it cannot write correctly.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { encodeFrame, hasHtCapability, initCodecs } from '../src/dicom/codecs.js';
import {
  EXPLICIT_VR_BE,
  findTransferSyntax,
  IMPLICIT_VR_LE,
  JPEG_LOSSLESS_SV1,
  RLE_LOSSLESS,
  SUPPORTED_SYNTAXES,
  transferSyntaxName,
} from '../src/dicom/syntax.js';
import { encodeSlice } from '../src/dicom/write.js';
import { ConfigError } from '../src/errors.js';
import { layoutNamed, sliceSpec } from './dicom-helpers.js';

beforeAll(async () => {
  await initCodecs();
});

describe('the transfer syntax table', () => {
  it('finds every supported syntax by its UID, each UID once', () => {
    const uids = SUPPORTED_SYNTAXES.map((s) => s.uid);
    expect(new Set(uids).size).toBe(uids.length);
    for (const s of SUPPORTED_SYNTAXES) expect(findTransferSyntax(s.uid)).toBe(s);
  });

  it('marks exactly the lossy syntaxes as lossy', () => {
    const lossy = SUPPORTED_SYNTAXES.filter((s) => s.lossy).map((s) => s.uid);
    expect(lossy.sort()).toEqual(
      [
        '1.2.840.10008.1.2.4.50',
        '1.2.840.10008.1.2.4.51',
        '1.2.840.10008.1.2.4.81',
        '1.2.840.10008.1.2.4.91',
        '1.2.840.10008.1.2.4.203',
        '1.2.840.10008.1.2.4.112',
      ].sort(),
    );
  });

  it.each([
    [
      '1.2.840.10008.1.2',
      { implicitVr: true, littleEndian: true, deflated: false, pixels: 'native' },
    ],
    [
      '1.2.840.10008.1.2.1',
      { implicitVr: false, littleEndian: true, deflated: false, pixels: 'native' },
    ],
    [
      '1.2.840.10008.1.2.1.99',
      { implicitVr: false, littleEndian: true, deflated: true, pixels: 'native' },
    ],
    [
      '1.2.840.10008.1.2.2',
      { implicitVr: false, littleEndian: false, deflated: false, pixels: 'native' },
    ],
    ['1.2.840.10008.1.2.5', { pixels: 'rle' }],
    ['1.2.840.10008.1.2.4.51', { pixels: 'jpeg' }],
    ['1.2.840.10008.1.2.4.70', { pixels: 'jpeg' }],
    ['1.2.840.10008.1.2.4.81', { pixels: 'jpegls' }],
    ['1.2.840.10008.1.2.4.90', { pixels: 'jpeg2000' }],
    ['1.2.840.10008.1.2.4.202', { pixels: 'htj2k' }],
  ])('describes %s as PS3.5 defines it', (uid, expected) => {
    expect(findTransferSyntax(uid)).toMatchObject(expected);
  });

  it('knows unsupported syntaxes by name but does not claim to decode them', () => {
    expect(findTransferSyntax('1.2.840.10008.1.2.4.100')).toBeUndefined();
    expect(transferSyntaxName('1.2.840.10008.1.2.4.100')).toBe('MPEG2 Main Profile / Main Level');
    expect(transferSyntaxName('1.2.840.10008.1.2.4.57')).toBe(
      'JPEG Lossless, Non-Hierarchical (Process 14)',
    );
    expect(transferSyntaxName('1.2.3.4')).toBeUndefined();
  });
});

describe('HT capability sniffing', () => {
  const info = {
    rows: 16,
    cols: 16,
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 0 as const,
    samplesPerPixel: 1,
    photometricInterpretation: 'MONOCHROME2',
  };
  const pixels = new Uint8Array(Uint16Array.from({ length: 256 }, (_, i) => i * 16).buffer);

  it('finds the CAP marker with Pcap^15 in an HTJ2K codestream', () => {
    expect(hasHtCapability(encodeFrame('htj2k', pixels, info))).toBe(true);
  });

  it('finds none in a JPEG 2000 Part 1 codestream', () => {
    expect(hasHtCapability(encodeFrame('jpeg2000', pixels, info))).toBe(false);
  });

  it('finds none in bytes that are not a codestream', () => {
    expect(hasHtCapability(new Uint8Array(0))).toBe(false);
    expect(hasHtCapability(Uint8Array.from([0xff, 0x4f, 0xff, 0x50]))).toBe(false);
    expect(hasHtCapability(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8]))).toBe(false);
  });
});

describe('the writer refuses what it cannot write correctly', () => {
  const layout = layoutNamed('signed 16-bit');

  it('rejects an unknown transfer syntax with ConfigError', () => {
    expect(() =>
      encodeSlice(sliceSpec(layout, layout.ct()), { transferSyntax: '1.2.840.10008.1.2.4.100' }),
    ).toThrow(new ConfigError('cannot write transfer syntax 1.2.840.10008.1.2.4.100'));
  });

  it.each([EXPLICIT_VR_BE, RLE_LOSSLESS])('rejects a bare data set in %s', (uid) => {
    expect(() =>
      encodeSlice(sliceSpec(layout, layout.ct()), { transferSyntax: uid, preamble: false }),
    ).toThrow(ConfigError);
  });

  it('rejects a pixel count that is not rows × cols, naming both', () => {
    expect(() =>
      encodeSlice(sliceSpec(layout, new Int16Array(5)), { transferSyntax: IMPLICIT_VR_LE }),
    ).toThrow('stored pixel count must equal rows × cols = 3072, received 5');
  });

  it('rejects a predictor other than 1 for the selection-value-1 syntax', () => {
    expect(() =>
      encodeSlice(sliceSpec(layout, layout.ct()), {
        transferSyntax: JPEG_LOSSLESS_SV1,
        encode: { predictor: 4 },
      }),
    ).toThrow(
      `transfer syntax ${JPEG_LOSSLESS_SV1} is selection value 1: encode.predictor must be 1, received 4`,
    );
  });
});
