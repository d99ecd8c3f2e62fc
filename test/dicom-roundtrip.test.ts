/**
 * Round trips: every transfer syntax ichdet can encode offline is written by encodeSlice and
 * read back by readSlice (from a file) or decodeSlice (from memory). Lossless syntaxes must give
 * the stored values back exactly; lossy ones within a stated bound.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type EncodeParams, encodeFrame, initCodecs } from '../src/dicom/codecs.js';
import { parseDicomBytes } from '../src/dicom/parse.js';
import { decodeSlice, readSlice } from '../src/dicom/read.js';
import {
  DEFLATED_EXPLICIT_VR_LE,
  ENCAPSULATED_UNCOMPRESSED,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  HTJ2K,
  HTJ2K_LOSSLESS,
  HTJ2K_LOSSLESS_RPCL,
  IMPLICIT_VR_LE,
  JPEG_BASELINE,
  JPEG_EXTENDED,
  JPEG_LOSSLESS,
  JPEG_LOSSLESS_SV1,
  JPEG_LS_LOSSLESS,
  JPEG_LS_NEAR_LOSSLESS,
  JPEG_XL,
  JPEG_XL_LOSSLESS,
  JPEG2000,
  JPEG2000_LOSSLESS,
  RLE_LOSSLESS,
} from '../src/dicom/syntax.js';
import { encodeDataset, encodeSlice } from '../src/dicom/write.js';
import {
  COLS,
  IDS,
  indexOfBytes,
  LAYOUTS,
  layoutNamed,
  maxAbsError,
  psnr,
  ROWS,
  sliceSpec,
  tempDir,
  writeTemp,
} from './dicom-helpers.js';

interface LosslessCase {
  label: string;
  uid: string;
  encode?: EncodeParams;
}

const LOSSLESS: LosslessCase[] = [
  { label: 'implicit VR little endian', uid: IMPLICIT_VR_LE },
  { label: 'explicit VR little endian', uid: EXPLICIT_VR_LE },
  { label: 'deflated explicit VR little endian', uid: DEFLATED_EXPLICIT_VR_LE },
  { label: 'explicit VR big endian', uid: EXPLICIT_VR_BE },
  { label: 'encapsulated uncompressed', uid: ENCAPSULATED_UNCOMPRESSED },
  { label: 'RLE lossless', uid: RLE_LOSSLESS },
  ...[1, 2, 3, 4, 5, 6, 7].map((predictor) => ({
    label: `JPEG lossless process 14, selection value ${predictor}`,
    uid: JPEG_LOSSLESS,
    encode: { predictor },
  })),
  { label: 'JPEG lossless SV1', uid: JPEG_LOSSLESS_SV1 },
  { label: 'JPEG-LS lossless', uid: JPEG_LS_LOSSLESS },
  { label: 'JPEG 2000 lossless', uid: JPEG2000_LOSSLESS },
  { label: 'HTJ2K lossless', uid: HTJ2K_LOSSLESS },
  { label: 'HTJ2K lossless RPCL', uid: HTJ2K_LOSSLESS_RPCL },
  { label: 'JPEG XL lossless', uid: JPEG_XL_LOSSLESS },
];

let dir: string;

beforeAll(async () => {
  await initCodecs();
  dir = tempDir();
});

describe.each(LAYOUTS)('lossless round trips of $name slices', (layout) => {
  it.each(LOSSLESS)(
    'a CT-like slice written as $label reads back from a file with the same stored values and HU',
    async ({ uid, encode, label }) => {
      const stored = layout.ct();
      const bytes = encodeSlice(sliceSpec(layout, stored), {
        transferSyntax: uid,
        encode: encode ?? {},
      });
      const path = writeTemp(dir, `${layout.name}-${label}.dcm`.replace(/[^\w.-]+/g, '_'), bytes);
      const slice = await readSlice(path);
      expect(slice.transferSyntaxUid).toBe(uid);
      expect(slice.source).toBe(path);
      expect([slice.rows, slice.cols]).toEqual([ROWS, COLS]);
      expect(slice.bitsAllocated).toBe(layout.bitsAllocated);
      expect(slice.bitsStored).toBe(layout.bitsStored);
      expect(slice.pixelRepresentation).toBe(layout.pixelRepresentation);
      expect(Array.from(slice.stored)).toEqual(Array.from(stored));
      const hu = Float32Array.from(stored, (v) => v + layout.rescaleIntercept);
      expect(slice.hu).toEqual(hu);
    },
  );

  it.each(LOSSLESS)(
    'uniform random stored values over the whole range written as $label decode exactly',
    ({ uid, encode }) => {
      const stored = layout.random(uid.length * 31 + (encode?.predictor ?? 0));
      const bytes = encodeSlice(sliceSpec(layout, stored), {
        transferSyntax: uid,
        encode: encode ?? {},
      });
      const slice = decodeSlice(bytes);
      expect(Array.from(slice.stored)).toEqual(Array.from(stored));
      expect(Math.min(...slice.stored)).toBeGreaterThanOrEqual(layout.min);
      expect(Math.max(...slice.stored)).toBeLessThanOrEqual(layout.max);
    },
  );
});

describe('the JPEG lossless writer', () => {
  it.each([1, 2, 3, 4, 5, 6, 7])(
    'writes selection value %i into the start-of-scan header it was asked for',
    (predictor) => {
      const layout = layoutNamed('signed 16-bit');
      const bytes = encodeSlice(sliceSpec(layout, layout.ct()), {
        transferSyntax: JPEG_LOSSLESS,
        encode: { predictor },
      });
      // SOS: FFDA, Ls (2 bytes), Ns = 1, Cs, Td/Ta, then Ss = the predictor (ITU T.81 H.1.2.2).
      const sos = indexOfBytes(bytes, [0xff, 0xda]);
      expect(sos).toBeGreaterThan(0);
      expect(bytes[sos + 4]).toBe(1);
      expect(bytes[sos + 7]).toBe(predictor);
    },
  );

  it('writes selection value 1 for the SV1 syntax', () => {
    const layout = layoutNamed('unsigned 12-bit in 16');
    const bytes = encodeSlice(sliceSpec(layout, layout.ct()), {
      transferSyntax: JPEG_LOSSLESS_SV1,
    });
    const sos = indexOfBytes(bytes, [0xff, 0xda]);
    expect(bytes[sos + 7]).toBe(1);
  });
});

describe('the HTJ2K lossless RPCL writer', () => {
  it('writes RPCL progression and tile-part length markers, as PS3.5 §10.18 requires', () => {
    const layout = layoutNamed('signed 16-bit');
    const bytes = encodeSlice(sliceSpec(layout, layout.ct()), {
      transferSyntax: HTJ2K_LOSSLESS_RPCL,
    });
    // COD (FF52): Lcod (2), Scod (1), then SGcod's progression order: 2 is RPCL.
    const cod = indexOfBytes(bytes, [0xff, 0x52]);
    expect(cod).toBeGreaterThan(0);
    expect(bytes[cod + 5]).toBe(2);
    expect(indexOfBytes(bytes, [0xff, 0x55])).toBeGreaterThan(0);
  });
});

interface LossyCase {
  label: string;
  uid: string;
  layouts: string[];
  encode?: EncodeParams;
  /** Lowest acceptable PSNR in dB, the peak being the stored range. */
  minPsnr: number;
  /** Largest acceptable absolute error in stored units, where the codec promises one. */
  maxError?: number;
}

const ALL = ['signed 16-bit', 'unsigned 12-bit in 16', 'signed 12-bit in 16', 'unsigned 8-bit'];
const WIDE = ['signed 16-bit', 'unsigned 12-bit in 16', 'signed 12-bit in 16'];

const LOSSY: LossyCase[] = [
  // JPEG-LS near-lossless guarantees |error| ≤ NEAR for every pixel (ISO 14495-1).
  ...[1, 2, 5].map((near) => ({
    label: `JPEG-LS near-lossless with NEAR ${near}`,
    uid: JPEG_LS_NEAR_LOSSLESS,
    layouts: ALL,
    encode: { allowedLossyError: near },
    minPsnr: 30,
    maxError: near,
  })),
  { label: 'JPEG 2000 lossy at its default rate 20', uid: JPEG2000, layouts: WIDE, minPsnr: 45 },
  {
    label: 'JPEG 2000 lossy at rate 10',
    uid: JPEG2000,
    layouts: ['unsigned 8-bit'],
    encode: { rate: 10 },
    minPsnr: 45,
  },
  { label: 'HTJ2K lossy', uid: HTJ2K, layouts: ALL, minPsnr: 50 },
  {
    label: 'JPEG baseline at quality 90',
    uid: JPEG_BASELINE,
    layouts: ['unsigned 8-bit'],
    minPsnr: 45,
    maxError: 8,
  },
  {
    label: 'JPEG extended (8-bit, process 2) at quality 90',
    uid: JPEG_EXTENDED,
    layouts: ['unsigned 8-bit'],
    minPsnr: 45,
    maxError: 8,
  },
  {
    label: 'JPEG XL lossy',
    uid: JPEG_XL,
    layouts: ['unsigned 12-bit in 16', 'unsigned 8-bit'],
    minPsnr: 45,
    maxError: 64,
  },
];

const LOSSY_CASES = LOSSY.flatMap((c) => c.layouts.map((name) => ({ ...c, layout: name })));

describe('lossy round trips of a smooth image', () => {
  it.each(LOSSY_CASES)(
    '$label keeps a $layout smooth image within the bound',
    ({ uid, encode, layout: name, minPsnr, maxError }) => {
      const layout = layoutNamed(name);
      const stored = layout.smooth();
      const bytes = encodeSlice(sliceSpec(layout, stored), {
        transferSyntax: uid,
        encode: encode ?? {},
      });
      const slice = decodeSlice(bytes);
      expect(slice.transferSyntaxUid).toBe(uid);
      if (maxError !== undefined) {
        expect(maxAbsError(slice.stored, stored)).toBeLessThanOrEqual(maxError);
      }
      expect(psnr(stored, slice.stored, layout.max - layout.min)).toBeGreaterThanOrEqual(minPsnr);
    },
  );

  it('JPEG XL lossy overshoot above 4095 in a 12-bit image is clamped, not wrapped to black', () => {
    const layout = layoutNamed('unsigned 12-bit in 16');
    const stored = layout.smooth();
    const slice = decodeSlice(encodeSlice(sliceSpec(layout, stored), { transferSyntax: JPEG_XL }));
    // libjxl decodes some of the brightest pixels of this image to 4096–4099; masked to 12 bits
    // they would come back as 0–3.
    const bright = [...stored.keys()].filter((i) => stored[i]! >= 4000);
    expect(bright.length).toBeGreaterThan(20);
    for (const i of bright) expect(slice.stored[i]).toBeGreaterThan(3900);
  });

  it('the 12-bit encoders refuse lossy JPEG, so JPEG extended 12-bit is covered by a fixture', () => {
    const layout = layoutNamed('unsigned 12-bit in 16');
    expect(() =>
      encodeSlice(sliceSpec(layout, layout.smooth()), { transferSyntax: JPEG_EXTENDED }),
    ).toThrow(/bit depth \(12\)/);
  });
});

describe('HTJ2K syntaxes carrying a JPEG 2000 Part 1 codestream', () => {
  it('decode through OpenJPEG instead of trapping in the HT-only decoder', () => {
    const layout = layoutNamed('signed 16-bit');
    const stored = layout.ct();
    const frame = encodeFrame(
      'jpeg2000',
      new Uint8Array(stored.buffer),
      {
        rows: ROWS,
        cols: COLS,
        bitsAllocated: 16,
        bitsStored: 16,
        pixelRepresentation: 1,
        samplesPerPixel: 1,
        photometricInterpretation: 'MONOCHROME2',
      },
      {},
    );
    const pixels = new Uint8Array(frame.length + (frame.length % 2));
    pixels.set(frame);
    const bytes = encodeDataset(
      {
        SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
        SOPInstanceUID: IDS.sopInstanceUid,
        Modality: 'CT',
        SamplesPerPixel: 1,
        PhotometricInterpretation: 'MONOCHROME2',
        Rows: ROWS,
        Columns: COLS,
        BitsAllocated: 16,
        BitsStored: 16,
        HighBit: 15,
        PixelRepresentation: 1,
        PixelData: [pixels.buffer],
        _vrMap: { PixelData: 'OB' },
      },
      { transferSyntax: HTJ2K },
    );
    const slice = decodeSlice(bytes);
    expect(slice.transferSyntaxUid).toBe(HTJ2K);
    expect(Array.from(slice.stored)).toEqual(Array.from(stored));
  });
});

describe('data sets without a preamble or file meta group', () => {
  const layout = layoutNamed('signed 16-bit');

  it.each([
    ['implicit VR little endian', IMPLICIT_VR_LE],
    ['explicit VR little endian', EXPLICIT_VR_LE],
  ])('a bare %s data set is sniffed and read exactly', async (_label, uid) => {
    const stored = layout.ct();
    const bytes = encodeSlice(sliceSpec(layout, stored), { transferSyntax: uid, preamble: false });
    // It really is bare: it starts with the first element of group 0008, no 'DICM' anywhere.
    expect(bytes[0]).toBe(0x08);
    expect(indexOfBytes(bytes, [0x44, 0x49, 0x43, 0x4d])).toBe(-1);
    expect(parseDicomBytes(bytes).framing).toBe('bare');
    const slice = await readSlice(writeTemp(dir, `bare-${uid}.dcm`, bytes));
    expect(slice.transferSyntaxUid).toBe(uid);
    expect(slice.sopInstanceUid).toBe(IDS.sopInstanceUid);
    expect(slice.windowCenter).toEqual([40, 80]);
    expect(Array.from(slice.stored)).toEqual(Array.from(stored));
  });

  it('a bare explicit VR big endian data set is sniffed and read exactly', () => {
    const stored = layout.ct();
    const file = encodeSlice(sliceSpec(layout, stored), { transferSyntax: EXPLICIT_VR_BE });
    // Drop preamble, 'DICM' and the meta group: 132 + (0002,0000)'s 12 bytes + its value.
    const metaLength = new DataView(file.buffer, file.byteOffset).getUint32(140, true);
    const bare = file.slice(144 + metaLength);
    expect([bare[0], bare[1]]).toEqual([0x00, 0x08]);
    const slice = decodeSlice(bare);
    expect(slice.transferSyntaxUid).toBe(EXPLICIT_VR_BE);
    expect(Array.from(slice.stored)).toEqual(Array.from(stored));
  });

  it('a Part 10 file with its 128-byte preamble cut off ("DICM" at byte 0) reads exactly', async () => {
    const stored = layout.ct();
    const file = encodeSlice(sliceSpec(layout, stored), { transferSyntax: JPEG_LS_LOSSLESS });
    const noPreamble = file.slice(128);
    expect(String.fromCharCode(...noPreamble.subarray(0, 4))).toBe('DICM');
    const slice = await readSlice(writeTemp(dir, 'no-preamble.dcm', noPreamble));
    expect(slice.transferSyntaxUid).toBe(JPEG_LS_LOSSLESS);
    expect(Array.from(slice.stored)).toEqual(Array.from(stored));
  });

  it('a file meta group with neither preamble nor "DICM" still gives its transfer syntax', () => {
    const stored = layout.ct();
    const file = encodeSlice(sliceSpec(layout, stored), { transferSyntax: EXPLICIT_VR_BE });
    const metaFirst = file.slice(132);
    expect([metaFirst[0], metaFirst[1]]).toEqual([0x02, 0x00]);
    const parsed = parseDicomBytes(metaFirst);
    expect(parsed.framing).toBe('part10');
    expect(parsed.syntax.uid).toBe(EXPLICIT_VR_BE);
    expect(Array.from(decodeSlice(metaFirst).stored)).toEqual(Array.from(stored));
  });
});
