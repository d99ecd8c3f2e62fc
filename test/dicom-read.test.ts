/**
 * Reading real written files: Hounsfield units (with the RSNA correction), pixel semantics
 * (signed/unsigned, bits stored below bits allocated, high bit, MONOCHROME1, padded pixel
 * data), tolerance of what archives hold, and the reference study's windows on a read slice.
 */
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { initCodecs } from '../src/dicom/codecs.js';
import { parseDicomBytes } from '../src/dicom/parse.js';
import { decodeSlice, readSlice } from '../src/dicom/read.js';
import {
  DEFLATED_EXPLICIT_VR_LE,
  ENCAPSULATED_UNCOMPRESSED,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  IMPLICIT_VR_LE,
  JPEG_LOSSLESS,
  JPEG_LS_LOSSLESS,
  JPEG2000_LOSSLESS,
  RLE_LOSSLESS,
} from '../src/dicom/syntax.js';
import { DEFAULT_WINDOWS, windowStack, windowTransform } from '../src/dicom/window.js';
import { encodeDataset, encodeSlice, type WriteSliceSpec } from '../src/dicom/write.js';
import {
  concat,
  delimiter,
  element,
  elementStart,
  IDS,
  indexOfBytes,
  insertAt,
  tempDir,
  UNDEFINED_LENGTH,
  writeTemp,
} from './dicom-helpers.js';

const NATIVE = [
  ['implicit VR little endian', IMPLICIT_VR_LE],
  ['explicit VR little endian', EXPLICIT_VR_LE],
  ['explicit VR big endian', EXPLICIT_VR_BE],
  ['deflated explicit VR little endian', DEFLATED_EXPLICIT_VR_LE],
] as const;

/** A one-row slice holding exactly the given stored values. */
function row(
  stored: WriteSliceSpec['stored'],
  fields: Partial<WriteSliceSpec> &
    Pick<WriteSliceSpec, 'bitsAllocated' | 'bitsStored' | 'pixelRepresentation'>,
): WriteSliceSpec {
  return { rows: 1, cols: stored.length, stored, ...IDS, ...fields };
}

let dir: string;

beforeAll(async () => {
  await initCodecs();
  dir = tempDir();
});

describe('Hounsfield units from written files', () => {
  const rsnaStored = Uint16Array.from([0, 24, 3095, 3096, 4095]);
  const rsna = row(rsnaStored, {
    bitsAllocated: 16,
    bitsStored: 12,
    pixelRepresentation: 0,
    rescaleSlope: 1,
    rescaleIntercept: 0,
  });

  it.each(NATIVE)(
    'a 12-bit unsigned %s file with intercept 0 gets the RSNA correction: 3096 is air, 4095 is -1',
    async (_label, uid) => {
      const path = writeTemp(dir, `rsna-${uid}.dcm`, encodeSlice(rsna, { transferSyntax: uid }));
      const slice = await readSlice(path);
      expect(slice.rsnaFixApplied).toBe(true);
      expect(Array.from(slice.stored)).toEqual([0, 24, 3095, 3096, 4095]);
      // v = stored + 1000, minus 4096 when ≥ 4096, then × 1 − 1000.
      expect(Array.from(slice.hu)).toEqual([0, 24, 3095, -1000, -1]);
    },
  );

  it('the same file read with rsnaFix: false gives stored × 1 + 0', async () => {
    const path = writeTemp(dir, 'rsna-off.dcm', encodeSlice(rsna));
    const slice = await readSlice(path, { rsnaFix: false });
    expect(slice.rsnaFixApplied).toBe(false);
    expect(Array.from(slice.hu)).toEqual([0, 24, 3095, 3096, 4095]);
  });

  it('a 12-bit unsigned file with intercept -1024 is not an RSNA quirk and is left alone', () => {
    const slice = decodeSlice(encodeSlice({ ...rsna, rescaleIntercept: -1024 }));
    expect(slice.rsnaFixApplied).toBe(false);
    expect(Array.from(slice.hu)).toEqual([-1024, -1000, 2071, 2072, 3071]);
  });

  it.each(NATIVE)('slope 2 and intercept -1024 in a %s file give 2 × stored - 1024', (_l, uid) => {
    const spec = row(Int16Array.from([0, 512, 1024, 1536, -100]), {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 1,
      rescaleSlope: 2,
      rescaleIntercept: -1024,
    });
    const slice = decodeSlice(encodeSlice(spec, { transferSyntax: uid }));
    expect([slice.rescaleSlope, slice.rescaleIntercept]).toEqual([2, -1024]);
    expect(Array.from(slice.hu)).toEqual([-1024, 0, 1024, 2048, -1224]);
  });

  it('a fractional slope and intercept (0.5, -1000.25) are applied exactly once', () => {
    const spec = row(Int16Array.from([0, 1, 2, 2000]), {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 1,
      rescaleSlope: 0.5,
      rescaleIntercept: -1000.25,
    });
    const slice = decodeSlice(encodeSlice(spec));
    expect(Array.from(slice.hu)).toEqual([-1000.25, -999.75, -999.25, -0.25]);
  });

  it('absent RescaleSlope and RescaleIntercept default to 1 and 0', () => {
    const spec = row(Int16Array.from([-1024, 0, 40, 3000]), {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 1,
    });
    const bytes = encodeSlice(spec);
    const ds = parseDicomBytes(bytes).dataSet;
    expect(ds.elements.x00281052).toBeUndefined();
    expect(ds.elements.x00281053).toBeUndefined();
    const slice = decodeSlice(bytes);
    expect([slice.rescaleSlope, slice.rescaleIntercept]).toEqual([1, 0]);
    expect(Array.from(slice.hu)).toEqual([-1024, 0, 40, 3000]);
  });
});

describe('pixel semantics', () => {
  it.each(NATIVE)('signed 16-bit extremes survive a %s file', (_label, uid) => {
    const values = [-32768, -1024, -1, 0, 1, 32767];
    const spec = row(Int16Array.from(values), {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 1,
    });
    const slice = decodeSlice(encodeSlice(spec, { transferSyntax: uid }));
    expect(slice.stored).toBeInstanceOf(Int16Array);
    expect(Array.from(slice.stored)).toEqual(values);
    expect(Array.from(slice.hu)).toEqual(values);
  });

  it.each(NATIVE)('unsigned 16-bit extremes survive a %s file', (_label, uid) => {
    const values = [0, 1, 32767, 32768, 65535];
    const spec = row(Uint16Array.from(values), {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 0,
    });
    const slice = decodeSlice(encodeSlice(spec, { transferSyntax: uid }));
    expect(slice.stored).toBeInstanceOf(Uint16Array);
    expect(Array.from(slice.stored)).toEqual(values);
  });

  const garbageSyntaxes: ReadonlyArray<readonly [string, string]> = [
    ...NATIVE,
    ['encapsulated uncompressed', ENCAPSULATED_UNCOMPRESSED],
  ];

  it.each(garbageSyntaxes)(
    'unsigned BitsStored 12, HighBit 11 in %s masks away garbage in the top 4 bits',
    (_label, uid) => {
      const words = Uint16Array.from([0xf123, 0x0123, 0x8fff, 0x7000, 0xffff]);
      const spec = row(words, { bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 0 });
      const slice = decodeSlice(encodeSlice(spec, { transferSyntax: uid }), '<buffer>', {
        rsnaFix: false,
      });
      expect(Array.from(slice.stored)).toEqual([0x123, 0x123, 0xfff, 0x000, 0xfff]);
    },
  );

  it.each(garbageSyntaxes)(
    'signed BitsStored 12, HighBit 11 in %s sign-extends from bit 11 whatever the top bits hold',
    (_label, uid) => {
      const words = Uint16Array.from([0x0fff, 0x0800, 0x07ff, 0xf7ff, 0x1001, 0xa000]);
      const spec = row(words, { bitsAllocated: 16, bitsStored: 12, pixelRepresentation: 1 });
      const slice = decodeSlice(encodeSlice(spec, { transferSyntax: uid }));
      expect(slice.stored).toBeInstanceOf(Int16Array);
      expect(Array.from(slice.stored)).toEqual([-1, -2048, 2047, 2047, 1, 0]);
    },
  );

  it.each(NATIVE)(
    'BitsStored 12 with HighBit 15 in %s takes the value from the top 12 bits',
    (_label, uid) => {
      // Unsigned: value << 4 with junk in the low nibble.
      const unsigned = Uint16Array.from([0x000f, 0x0019, 0x8005, 0xfff3]);
      const u = decodeSlice(
        encodeSlice(
          row(unsigned, { bitsAllocated: 16, bitsStored: 12, highBit: 15, pixelRepresentation: 0 }),
          { transferSyntax: uid },
        ),
        '<buffer>',
        { rsnaFix: false },
      );
      expect(u.highBit).toBe(15);
      expect(Array.from(u.stored)).toEqual([0, 1, 2048, 4095]);
      const signed = Uint16Array.from([0xfff0, 0x8000, 0x7ff7, 0x001c]);
      const s = decodeSlice(
        encodeSlice(
          row(signed, { bitsAllocated: 16, bitsStored: 12, highBit: 15, pixelRepresentation: 1 }),
          { transferSyntax: uid },
        ),
      );
      expect(Array.from(s.stored)).toEqual([-1, -2048, 2047, 1]);
    },
  );

  it('8-bit signed and unsigned stored values read back with their sign', () => {
    const u = decodeSlice(
      encodeSlice(
        row(Uint8Array.from([0, 1, 128, 255]), {
          bitsAllocated: 8,
          bitsStored: 8,
          pixelRepresentation: 0,
        }),
      ),
    );
    expect(Array.from(u.stored)).toEqual([0, 1, 128, 255]);
    const s = decodeSlice(
      encodeSlice(
        row(Int8Array.from([-128, -1, 0, 127]), {
          bitsAllocated: 8,
          bitsStored: 8,
          pixelRepresentation: 1,
        }),
      ),
    );
    expect(Array.from(s.stored)).toEqual([-128, -1, 0, 127]);
  });

  it('an 8-bit slice read from a file is a plain Uint8Array, so slice() copies', async () => {
    const path = writeTemp(
      dir,
      'u8.dcm',
      encodeSlice(
        row(Uint8Array.from([10, 20, 30]), {
          bitsAllocated: 8,
          bitsStored: 8,
          pixelRepresentation: 0,
        }),
      ),
    );
    const slice = await readSlice(path);
    expect(slice.stored.constructor).toBe(Uint8Array);
    const copy = slice.stored.slice();
    copy[0] = 99;
    expect(slice.stored[0]).toBe(10);
  });

  it.each([
    ['explicit VR little endian', EXPLICIT_VR_LE],
    ['RLE', RLE_LOSSLESS],
    ['JPEG lossless', JPEG_LOSSLESS],
    ['JPEG-LS lossless', JPEG_LS_LOSSLESS],
    ['JPEG 2000 lossless', JPEG2000_LOSSLESS],
  ])(
    'a MONOCHROME1 %s file gives the same HU as its MONOCHROME2 twin (the Modality LUT ignores inversion)',
    (_label, uid) => {
      const stored = Int16Array.from({ length: 64 }, (_, i) => i * 40 - 1024);
      const spec: WriteSliceSpec = {
        ...row(stored, { bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1 }),
        rows: 8,
        cols: 8,
        rescaleSlope: 1,
        rescaleIntercept: -24,
      };
      const m2 = decodeSlice(encodeSlice(spec, { transferSyntax: uid }));
      const m1 = decodeSlice(
        encodeSlice({ ...spec, photometricInterpretation: 'MONOCHROME1' }, { transferSyntax: uid }),
      );
      expect(m2.photometricInterpretation).toBe('MONOCHROME2');
      expect(m1.photometricInterpretation).toBe('MONOCHROME1');
      expect(m1.hu).toEqual(m2.hu);
      expect(m1.hu[0]).toBe(-1048);
      expect(m1.hu[63]).toBe(63 * 40 - 1048);
    },
  );

  it('a 5 × 3 8-bit image (15 bytes) is written padded to an even 16 and reads back exactly', () => {
    const values = Uint8Array.from({ length: 15 }, (_, i) => i * 17);
    const bytes = encodeSlice({
      rows: 5,
      cols: 3,
      stored: values,
      bitsAllocated: 8,
      bitsStored: 8,
      pixelRepresentation: 0,
      ...IDS,
    });
    expect(parseDicomBytes(bytes).dataSet.elements.x7fe00010?.length).toBe(16);
    expect(Array.from(decodeSlice(bytes).stored)).toEqual(Array.from(values));
  });

  it('an odd-length (15-byte) pixel data element is accepted', () => {
    const values = Uint8Array.from({ length: 15 }, (_, i) => 255 - i * 17);
    const padded = encodeSlice({
      rows: 5,
      cols: 3,
      stored: values,
      bitsAllocated: 8,
      bitsStored: 8,
      pixelRepresentation: 0,
      ...IDS,
    });
    // Pixel data is the last element: set its 32-bit length to 15 and drop the pad byte.
    const start = parseDicomBytes(padded).dataSet.elements.x7fe00010!.dataOffset;
    const odd = padded.slice(0, padded.length - 1);
    new DataView(odd.buffer).setUint32(start - 4, 15, true);
    expect(parseDicomBytes(odd).dataSet.elements.x7fe00010?.length).toBe(15);
    expect(Array.from(decodeSlice(odd).stored)).toEqual(Array.from(values));
  });

  it('pixel data longer than rows × cols × 2 bytes is accepted and its tail ignored', async () => {
    const values = Int16Array.from([-1000, 0, 40, 80, 1000, 2000]);
    const long = new Int16Array(values.length + 5);
    long.set(values);
    long.fill(12345, values.length);
    const bytes = encodeDataset({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
      SOPInstanceUID: IDS.sopInstanceUid,
      Modality: 'CT',
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      Rows: 2,
      Columns: 3,
      BitsAllocated: 16,
      BitsStored: 16,
      HighBit: 15,
      PixelRepresentation: 1,
      PixelData: [long.buffer],
      _vrMap: { PixelData: 'OW' },
    });
    expect(parseDicomBytes(bytes).dataSet.elements.x7fe00010?.length).toBe(22);
    const slice = await readSlice(writeTemp(dir, 'long-pixels.dcm', bytes));
    expect(Array.from(slice.stored)).toEqual(Array.from(values));
  });

  it.each([16, 12])(
    'an odd-length element before the pixel data (odd pixel offset) reads right from a file, %i bits stored',
    async (bitsStored) => {
      const values = Int16Array.from([-700, -600, -1, 0, 100, 800]);
      const file = encodeSlice(
        row(values, { bitsAllocated: 16, bitsStored, pixelRepresentation: 1 }),
      );
      // A 3-byte LO, odd as archives sometimes hold, between group 0008 and group 0010.
      const odd = insertAt(
        file,
        elementStart(file, 'x00100020'),
        element(0x0009, 0x0010, 'LO', 'ABC', true),
      );
      expect(parseDicomBytes(odd).dataSet.elements.x7fe00010!.dataOffset % 2).toBe(1);
      const slice = await readSlice(writeTemp(dir, `odd-offset-${bitsStored}.dcm`, odd));
      expect(Array.from(slice.stored)).toEqual(Array.from(values));
    },
  );
});

describe('tolerance of what real archives hold', () => {
  const stored = Int16Array.from([-1024, -1000, 0, 40, 80, 2000]);
  const full: WriteSliceSpec = {
    rows: 2,
    cols: 3,
    stored,
    bitsAllocated: 16,
    bitsStored: 16,
    pixelRepresentation: 1,
    rescaleSlope: 1,
    rescaleIntercept: 0,
    windowCenter: [40, 80],
    windowWidth: [80, 200],
    imagePositionPatient: [-125, -124.5, 42.5],
    imageOrientationPatient: [1, 0, 0, 0, 1, 0],
    pixelSpacing: [0.488281, 0.5],
    sliceThickness: 5,
    instanceNumber: 7,
    ...IDS,
  };

  it.each(NATIVE)('RSNA-style IDs that are not DICOM UIDs read back exactly from %s', (_l, uid) => {
    const slice = decodeSlice(encodeSlice(full, { transferSyntax: uid }));
    expect(slice.patientId).toBe('ID_a1b2c3d4');
    expect(slice.studyInstanceUid).toBe('ID_5e6f7a8b9c');
    expect(slice.seriesInstanceUid).toBe('ID_0d1e2f3a4b');
    expect(slice.sopInstanceUid).toBe('ID_4d28912ba6');
    expect(slice.modality).toBe('CT');
  });

  it.each(NATIVE)('every attribute the pipeline needs reads back from %s', (_l, uid) => {
    const slice = decodeSlice(encodeSlice(full, { transferSyntax: uid }));
    expect(slice.imagePositionPatient).toEqual([-125, -124.5, 42.5]);
    expect(slice.imageOrientationPatient).toEqual([1, 0, 0, 0, 1, 0]);
    expect(slice.pixelSpacing).toEqual([0.488281, 0.5]);
    expect(slice.sliceThickness).toBe(5);
    expect(slice.instanceNumber).toBe(7);
    expect(slice.windowCenter).toEqual([40, 80]);
    expect(slice.windowWidth).toEqual([80, 200]);
    expect([slice.bitsAllocated, slice.bitsStored, slice.highBit]).toEqual([16, 16, 15]);
    expect(slice.samplesPerPixel).toBe(1);
    expect(slice.numberOfFrames).toBe(1);
  });

  it('a single WindowCenter/Width reads as a one-element array', () => {
    const slice = decodeSlice(encodeSlice({ ...full, windowCenter: 40, windowWidth: 80 }));
    expect(slice.windowCenter).toEqual([40]);
    expect(slice.windowWidth).toEqual([80]);
  });

  it('missing optional attributes give undefined, empty window lists and slope 1 / intercept 0', () => {
    const minimal = row(stored, { bitsAllocated: 16, bitsStored: 16, pixelRepresentation: 1 });
    const slice = decodeSlice(encodeSlice(minimal));
    expect(slice.imagePositionPatient).toBeUndefined();
    expect(slice.imageOrientationPatient).toBeUndefined();
    expect(slice.pixelSpacing).toBeUndefined();
    expect(slice.sliceThickness).toBeUndefined();
    expect(slice.instanceNumber).toBeUndefined();
    expect(slice.windowCenter).toEqual([]);
    expect(slice.windowWidth).toEqual([]);
    expect(slice.rescaleSlope).toBe(1);
    expect(slice.rescaleIntercept).toBe(0);
    expect(Array.from(slice.hu)).toEqual(Array.from(stored));
  });

  it.each([
    ['explicit', true],
    ['implicit', false],
  ] as const)(
    'private tags and a private undefined-length sequence in an %s VR file do not disturb reading',
    async (label, explicit) => {
      const file = encodeSlice(full, {
        transferSyntax: explicit ? EXPLICIT_VR_LE : IMPLICIT_VR_LE,
      });
      const item = concat(
        delimiter(0xe000, UNDEFINED_LENGTH),
        element(0x0009, 0x1010, 'LO', 'inside', explicit),
        delimiter(0xe00d),
      );
      const privates = concat(
        element(0x0009, 0x0010, 'LO', 'ICHDET TEST ', explicit),
        element(0x0009, 0x1001, 'LO', 'secret', explicit),
        element(0x0009, 0x1002, 'UN', new Uint8Array([1, 2, 3, 4]), explicit),
        element(0x0009, 0x1003, 'SQ', new Uint8Array(0), explicit, UNDEFINED_LENGTH),
        item,
        item,
        delimiter(0xe0dd),
      );
      const bytes = insertAt(file, elementStart(file, 'x00100020'), privates);
      const ds = parseDicomBytes(bytes).dataSet;
      expect(ds.string('x00091001')).toBe('secret');
      const sq = ds.elements.x00091003;
      expect(sq?.hadUndefinedLength).toBe(true);
      // Explicit VR says SQ, so its items are parsed; in implicit VR an unknown private tag is
      // skipped whole up to its sequence delimiter: two items of 8 + 14 + 8 bytes.
      if (explicit) expect(sq?.items).toHaveLength(2);
      else expect(sq?.length).toBe(60);
      const slice = await readSlice(writeTemp(dir, `private-${label}.dcm`, bytes));
      expect(slice.patientId).toBe(IDS.patientId);
      expect(slice.windowCenter).toEqual([40, 80]);
      expect(Array.from(slice.stored)).toEqual(Array.from(stored));
    },
  );

  it.each(NATIVE)(
    'a ReferencedImageSequence that dcmjs writes with undefined length reads from %s',
    (_l, uid) => {
      const spec: WriteSliceSpec = {
        ...full,
        extra: {
          ReferencedImageSequence: [
            {
              ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
              ReferencedSOPInstanceUID: 'ID_1',
            },
            {
              ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
              ReferencedSOPInstanceUID: 'ID_2',
            },
          ],
        },
      };
      const bytes = encodeSlice(spec, { transferSyntax: uid });
      if (uid === EXPLICIT_VR_LE) {
        // (0008,1140) SQ, two reserved bytes, length FFFFFFFF: undefined length indeed.
        const sq = [0x08, 0x00, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff];
        expect(indexOfBytes(bytes, sq)).toBeGreaterThan(0);
      }
      const parsed = parseDicomBytes(bytes);
      if (uid !== DEFLATED_EXPLICIT_VR_LE) {
        expect(parsed.dataSet.elements.x00081140?.hadUndefinedLength).toBe(true);
      }
      const items = parsed.dataSet.elements.x00081140?.items ?? [];
      expect(items.map((i) => i.dataSet?.string('x00081155'))).toEqual(['ID_1', 'ID_2']);
      const slice = decodeSlice(bytes);
      expect(slice.sopInstanceUid).toBe(IDS.sopInstanceUid);
      expect(Array.from(slice.stored)).toEqual(Array.from(stored));
    },
  );
});

describe("the reference study's windows on a file read back", () => {
  // HU and the expected brain (40/80), subdural (80/200) and soft tissue (40/380) values,
  // worked by hand from numpy's (clip(hu, c − w/2, c + w/2) − (c − w/2)) / w.
  const table: Array<[number, number, number, number]> = [
    [-1000, 0, 0, 0],
    [-150, 0, 0, 0],
    [-20, 0, 0, 130 / 380],
    [0, 0, 20 / 200, 150 / 380],
    [20, 0.25, 0.2, 170 / 380],
    [40, 0.5, 0.3, 0.5],
    [60, 0.75, 0.4, 210 / 380],
    [80, 1, 0.5, 230 / 380],
    [100, 1, 0.6, 250 / 380],
    [180, 1, 1, 330 / 380],
    [230, 1, 1, 1],
    [1000, 1, 1, 1],
  ];

  it('windowStack of a slice written with intercept -1024 gives the hand-computed values', async () => {
    const stored = Int16Array.from(table, ([hu]) => hu + 1024);
    const spec = row(stored, {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 1,
      rescaleSlope: 1,
      rescaleIntercept: -1024,
    });
    const slice = await readSlice(writeTemp(dir, 'windows.dcm', encodeSlice(spec)));
    expect(Array.from(slice.hu)).toEqual(table.map(([hu]) => hu));
    const out = windowStack(slice.hu, DEFAULT_WINDOWS);
    expect(out).toHaveLength(table.length * 3);
    table.forEach(([, brain, subdural, soft], i) => {
      expect(out[i * 3]).toBe(Math.fround(brain));
      expect(out[i * 3 + 1]).toBe(Math.fround(subdural));
      expect(out[i * 3 + 2]).toBe(Math.fround(soft));
    });
    // Each channel equals the single-window transform.
    const brain = windowTransform({ center: 40, width: 80 })(slice.hu);
    expect(Array.from(brain)).toEqual(table.map(([, b]) => Math.fround(b)));
  });

  it('an RSNA-quirk file is windowed after its correction: stored 3096 is air, not bone', async () => {
    const spec = row(Uint16Array.from([0, 20, 40, 3096, 4095]), {
      bitsAllocated: 16,
      bitsStored: 12,
      pixelRepresentation: 0,
      rescaleSlope: 1,
      rescaleIntercept: 0,
    });
    const path = writeTemp(dir, 'rsna-window.dcm', encodeSlice(spec));
    const fixed = await readSlice(path);
    expect(Array.from(fixed.hu)).toEqual([0, 20, 40, -1000, -1]);
    const out = windowStack(fixed.hu, DEFAULT_WINDOWS);
    // brain channel: 0/80, 20/80, 40/80, clipped, clipped.
    expect([out[0], out[3], out[6], out[9], out[12]]).toEqual([0, 0.25, 0.5, 0, 0]);
    // soft channel of HU −1: (−1 + 150) / 380.
    expect(out[14]).toBe(Math.fround(149 / 380));
    const raw = await readSlice(path, { rsnaFix: false });
    const rawOut = windowStack(raw.hu, DEFAULT_WINDOWS);
    expect([rawOut[9], rawOut[12]]).toEqual([1, 1]);
  });
});

describe('codecs loaded on demand', () => {
  it('a thread without the codecs: the synchronous decode says so, withCodecs loads them and decodes', async () => {
    const stored = Int16Array.from([-1024, 0, 40, 1000, 3071, -2000]);
    const spec = row(stored, {
      bitsAllocated: 16,
      bitsStored: 16,
      pixelRepresentation: 1,
      rescaleIntercept: 0,
    });
    const rle = encodeSlice(spec, { transferSyntax: RLE_LOSSLESS });
    const plain = encodeSlice(spec);
    // Fresh module instances: the codecs this file loaded in beforeAll are not theirs.
    vi.resetModules();
    const codecs = await import('../src/dicom/codecs.js');
    const read = await import('../src/dicom/read.js');
    const predict = await import('../src/infer/predict.js');
    expect(codecs.codecsReady()).toBe(false);
    // Uncompressed data needs no codecs; the scan marks only compressed inputs.
    expect(Array.from(read.decodeSlice(plain).hu)).toEqual(Array.from(stored));
    const scanned = predict.scanFile('a.dcm', rle);
    expect(scanned.ok && scanned.slice.compressed).toBe(true);
    const scannedPlain = predict.scanFile('b.dcm', plain);
    expect(scannedPlain.ok && scannedPlain.slice.compressed).toBeFalsy();
    expect(() => read.decodeSlice(rle, 'a.dcm')).toThrow(codecs.CodecsNotLoadedError);
    const s = await read.withCodecs(() => read.decodeSlice(rle, 'a.dcm'));
    expect(Array.from(s.hu)).toEqual(Array.from(stored));
    expect(codecs.codecsReady()).toBe(true);
    // A file that is broken for another reason is still that file's error, not a codec retry.
    await expect(
      read.withCodecs(() => read.decodeSlice(rle.subarray(0, 40), 'c.dcm')),
    ).rejects.toThrow(/c\.dcm/);
  });
});
