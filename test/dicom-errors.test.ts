/**
 * What is not a CT slice, and what is not DICOM at all. Every case is a real file on disk read
 * with readSlice, so the message must name that file; each is rejected with a typed error and
 * without a crash. How quickly is measured by `npm run bench` (bench/dicom-errors.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { initCodecs } from '../src/dicom/codecs.js';
import { parseDicomBytes } from '../src/dicom/parse.js';
import { decodeSlice, readAttributes, readSlice } from '../src/dicom/read.js';
import {
  DEFLATED_EXPLICIT_VR_LE,
  EXPLICIT_VR_BE,
  EXPLICIT_VR_LE,
  HTJ2K_LOSSLESS,
  IMPLICIT_VR_LE,
  JPEG_LS_LOSSLESS,
  JPEG2000_LOSSLESS,
  RLE_LOSSLESS,
} from '../src/dicom/syntax.js';
import { encodeDataset, encodeSlice } from '../src/dicom/write.js';
import { DicomError, NotACtSliceError, UnsupportedTransferSyntaxError } from '../src/errors.js';
import { Rng } from '../src/util/rng.js';
import { IDS, layoutNamed, patchAscii, sliceSpec, tempDir, writeTemp } from './dicom-helpers.js';

let dir: string;

beforeAll(async () => {
  await initCodecs();
  dir = tempDir();
});

/** Reads a file expecting a failure; returns the error. */
async function failure(path: string): Promise<{ err: unknown }> {
  try {
    await readSlice(path);
  } catch (err) {
    return { err };
  }
  throw new Error(`${path} was read without error`);
}

const ct = layoutNamed('signed 16-bit');

/** A naturalized data set of a non-image object: identifiers and a SOP class, no pixels. */
function nonImage(sopClassUid: string, modality: string, extra: Record<string, unknown> = {}) {
  return encodeDataset({
    SOPClassUID: sopClassUid,
    SOPInstanceUID: IDS.sopInstanceUid,
    PatientID: IDS.patientId,
    StudyInstanceUID: IDS.studyInstanceUid,
    SeriesInstanceUID: IDS.seriesInstanceUid,
    Modality: modality,
    ...extra,
  });
}

describe('objects that are not CT slices', () => {
  const cases: Array<{ what: string; bytes: () => Uint8Array; reason: RegExp }> = [
    {
      what: 'a colour image (SamplesPerPixel 3, RGB)',
      bytes: () =>
        encodeDataset({
          SOPClassUID: '1.2.840.10008.5.1.4.1.1.7',
          SOPInstanceUID: IDS.sopInstanceUid,
          Modality: 'OT',
          SamplesPerPixel: 3,
          PhotometricInterpretation: 'RGB',
          PlanarConfiguration: 0,
          Rows: 4,
          Columns: 4,
          BitsAllocated: 8,
          BitsStored: 8,
          HighBit: 7,
          PixelRepresentation: 0,
          PixelData: [new Uint8Array(4 * 4 * 3).fill(200).buffer],
          _vrMap: { PixelData: 'OB' },
        }),
      reason: /not a CT slice: colour image \(SamplesPerPixel 3, PhotometricInterpretation RGB\)/,
    },
    {
      what: 'a multi-frame image (NumberOfFrames 2)',
      bytes: () => {
        const frames = new Int16Array(2 * 64 * 48).fill(40);
        return encodeDataset({
          SOPClassUID: '1.2.840.10008.5.1.4.1.1.2.1',
          SOPInstanceUID: IDS.sopInstanceUid,
          Modality: 'CT',
          SamplesPerPixel: 1,
          PhotometricInterpretation: 'MONOCHROME2',
          NumberOfFrames: 2,
          Rows: 64,
          Columns: 48,
          BitsAllocated: 16,
          BitsStored: 16,
          HighBit: 15,
          PixelRepresentation: 1,
          PixelData: [frames.buffer],
          _vrMap: { PixelData: 'OW' },
        });
      },
      reason: /not a CT slice: multi-frame image \(NumberOfFrames 2\)/,
    },
    {
      what: 'a pixel-less basic text SR',
      bytes: () =>
        nonImage('1.2.840.10008.5.1.4.1.1.88.11', 'SR', {
          ValueType: 'CONTAINER',
          ContentSequence: [
            { RelationshipType: 'CONTAINS', ValueType: 'TEXT', TextValue: 'no bleed' },
          ],
        }),
      reason:
        /not a CT slice: no pixel data \(7FE0,0010\) — a structured report \(SOPClassUID 1\.2\.840\.10008\.5\.1\.4\.1\.1\.88\.11, Modality SR\)/,
    },
    {
      what: 'an RT plan',
      bytes: () => nonImage('1.2.840.10008.5.1.4.1.1.481.5', 'RTPLAN', { RTPlanLabel: 'PLAN1' }),
      reason:
        /not a CT slice: no pixel data \(7FE0,0010\) — a RT plan \(SOPClassUID 1\.2\.840\.10008\.5\.1\.4\.1\.1\.481\.5, Modality RTPLAN\)/,
    },
    {
      what: 'a 12-lead ECG waveform',
      bytes: () =>
        nonImage('1.2.840.10008.5.1.4.1.1.9.1.1', 'ECG', {
          WaveformSequence: [
            {
              NumberOfWaveformChannels: 1,
              NumberOfWaveformSamples: 4,
              SamplingFrequency: 500,
              WaveformBitsAllocated: 16,
              WaveformSampleInterpretation: 'SS',
            },
          ],
        }),
      reason:
        /not a CT slice: no pixel data \(7FE0,0010\) — a waveform \(SOPClassUID 1\.2\.840\.10008\.5\.1\.4\.1\.1\.9\.1\.1, Modality ECG\)/,
    },
    {
      what: 'a PALETTE COLOR image',
      bytes: () =>
        encodeSlice(
          sliceSpec(ct, ct.ct(), { extra: { PhotometricInterpretation: 'PALETTE COLOR' } }),
        ),
      reason:
        /not a CT slice: PhotometricInterpretation PALETTE COLOR is not MONOCHROME1 or MONOCHROME2/,
    },
  ];

  it.each(cases)(
    '$what raises NotACtSliceError naming the file and the reason',
    async ({ what, bytes, reason }) => {
      const path = writeTemp(dir, `${what.replace(/\W+/g, '_')}.dcm`, bytes());
      const { err } = await failure(path);
      expect(err).toBeInstanceOf(NotACtSliceError);
      expect(err).toBeInstanceOf(DicomError);
      const e = err as NotACtSliceError;
      expect(e.file).toBe(path);
      expect(e.message.startsWith(`${path}: not a CT slice: `)).toBe(true);
      expect(e.message).toMatch(reason);
    },
  );

  it('the attributes of a pixel-less object can still be inspected without decoding pixels', () => {
    const a = readAttributes(nonImage('1.2.840.10008.5.1.4.1.1.88.11', 'SR'), 'sr.dcm');
    expect(a.modality).toBe('SR');
    expect(a.sopInstanceUid).toBe(IDS.sopInstanceUid);
    expect([a.rows, a.cols]).toEqual([0, 0]);
  });
});

describe('bad files', () => {
  it('an empty file raises DicomError "empty file (0 bytes)" naming it', async () => {
    const path = writeTemp(dir, 'empty.dcm', new Uint8Array(0));
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(DicomError);
    expect((err as Error).message).toBe(`${path}: empty file (0 bytes)`);
  });

  it('a missing file raises DicomError saying it cannot be read', async () => {
    const path = join(dir, 'no-such-file.dcm');
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(DicomError);
    expect((err as Error).message).toBe(`${path}: cannot read file: ENOENT`);
  });

  it('random garbage bytes raise DicomError "not a DICOM file", not a CT-slice complaint', async () => {
    const rng = new Rng(2019);
    const bytes = Uint8Array.from({ length: 4096 }, () => rng.int(0, 255));
    const path = writeTemp(dir, 'garbage.bin', bytes);
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(DicomError);
    expect(err).not.toBeInstanceOf(NotACtSliceError);
    expect((err as Error).message).toMatch(
      new RegExp(`^${escapeRegExp(path)}: not a DICOM file: `),
    );
  });

  it('500 random garbage buffers of 1 to 3000 bytes are each rejected as not DICOM', () => {
    const rng = new Rng(7);
    for (let k = 0; k < 500; k++) {
      const bytes = Uint8Array.from({ length: rng.int(1, 3000) }, () => rng.int(0, 255));
      let err: unknown;
      try {
        decodeSlice(bytes, `garbage-${k}`);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(DicomError);
      expect(err).not.toBeInstanceOf(NotACtSliceError);
      expect((err as DicomError).file).toBe(`garbage-${k}`);
    }
  });

  it.each([
    ['plain text', 'Patient notes: CT head, no acute haemorrhage.\n'.repeat(20)],
    ['JSON', '{"studies": [1, 2, 3]}'],
    ['CSV', 'ID,Label\nID_4d28912ba6_any,0\n'],
    ['a short text', 'hi\n'],
  ])('a %s file raises DicomError "not a DICOM file" naming it', async (_what, text) => {
    const path = writeTemp(dir, `${_what.replace(/\W+/g, '_')}.txt`, text);
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(DicomError);
    expect(err).not.toBeInstanceOf(NotACtSliceError);
    expect((err as Error).message).toMatch(new RegExp(`^${escapeRegExp(path)}: not a DICOM file`));
  });

  it.each([
    ['implicit VR little endian', IMPLICIT_VR_LE],
    ['explicit VR little endian', EXPLICIT_VR_LE],
    ['explicit VR big endian', EXPLICIT_VR_BE],
    ['RLE', RLE_LOSSLESS],
    ['JPEG-LS', JPEG_LS_LOSSLESS],
    ['JPEG 2000', JPEG2000_LOSSLESS],
    ['HTJ2K', HTJ2K_LOSSLESS],
  ])(
    'a %s file cut in the middle of its pixel data raises "truncated pixel data"',
    async (label, uid) => {
      const file = encodeSlice(sliceSpec(ct, ct.ct()), { transferSyntax: uid });
      const pixel = parseDicomBytes(file).dataSet.elements.x7fe00010!;
      const end = pixel.dataOffset + Math.floor((file.length - pixel.dataOffset) / 2);
      const path = writeTemp(
        dir,
        `cut-pixels-${label.replace(/\W+/g, '_')}.dcm`,
        file.slice(0, end),
      );
      const { err } = await failure(path);
      expect(err).toBeInstanceOf(DicomError);
      expect(err).not.toBeInstanceOf(NotACtSliceError);
      expect((err as Error).message).toMatch(
        new RegExp(`^${escapeRegExp(path)}: truncated pixel data: `),
      );
    },
  );

  it('a deflated file cut short raises DicomError saying the data set cannot be inflated', async () => {
    const file = encodeSlice(sliceSpec(ct, ct.random(3)), {
      transferSyntax: DEFLATED_EXPLICIT_VR_LE,
    });
    const path = writeTemp(dir, 'cut-deflated.dcm', file.slice(0, file.length - 200));
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(DicomError);
    expect((err as Error).message).toMatch(
      new RegExp(`^${escapeRegExp(path)}: deflated data set cannot be inflated: `),
    );
  });

  it('a file cut inside its file meta group raises "truncated file" with both sizes', async () => {
    const file = encodeSlice(sliceSpec(ct, ct.ct()));
    const path = writeTemp(dir, 'cut-meta.dcm', file.slice(0, 170));
    const metaEnd = 144 + new DataView(file.buffer).getUint32(140, true);
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(DicomError);
    expect((err as Error).message).toBe(
      `${path}: truncated file: the file meta group ends at byte ${metaEnd}, the file holds 170`,
    );
  });

  it.each([
    ['implicit VR little endian', IMPLICIT_VR_LE],
    ['explicit VR little endian', EXPLICIT_VR_LE],
    ['explicit VR big endian', EXPLICIT_VR_BE],
  ])(
    'a %s file cut inside a header element raises "truncated file" naming the element',
    async (label, uid) => {
      const file = encodeSlice(sliceSpec(ct, ct.ct()), { transferSyntax: uid });
      const sop = parseDicomBytes(file).dataSet.elements.x00080018!;
      const path = writeTemp(
        dir,
        `cut-header-${label.replace(/\W+/g, '_')}.dcm`,
        file.slice(0, sop.dataOffset + 3),
      );
      const { err } = await failure(path);
      expect(err).toBeInstanceOf(DicomError);
      expect((err as Error).message).toMatch(
        new RegExp(`^${escapeRegExp(path)}: truncated file: `),
      );
      if (uid === IMPLICIT_VR_LE) {
        // dicom-parser accepts the overrun in implicit VR; the reader's own check names it.
        expect((err as Error).message).toBe(
          `${path}: truncated file: (0008,0018) declares ${sop.length} bytes, the file holds 3`,
        );
      }
    },
  );

  it('an MPEG2 transfer syntax raises UnsupportedTransferSyntaxError naming the UID and MPEG2', async () => {
    const file = encodeSlice(sliceSpec(ct, ct.ct()), { transferSyntax: HTJ2K_LOSSLESS });
    // Both UIDs are 23 characters, so the patch keeps every length right.
    const mpeg2 = patchAscii(file, '1.2.840.10008.1.2.4.201', '1.2.840.10008.1.2.4.100');
    const path = writeTemp(dir, 'mpeg2.dcm', mpeg2);
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(UnsupportedTransferSyntaxError);
    const e = err as UnsupportedTransferSyntaxError;
    expect(e.uid).toBe('1.2.840.10008.1.2.4.100');
    expect(e.message).toMatch(
      new RegExp(
        `^${escapeRegExp(path)}: unsupported transfer syntax 1\\.2\\.840\\.10008\\.1\\.2\\.4\\.100 \\(MPEG2 Main Profile / Main Level\\)`,
      ),
    );
  });

  it('a deflated unsupported syntax (JPIP Referenced Deflate) is named, not reported as a parse error', async () => {
    const file = encodeSlice(sliceSpec(ct, ct.ct()), { transferSyntax: DEFLATED_EXPLICIT_VR_LE });
    const jpip = patchAscii(file, DEFLATED_EXPLICIT_VR_LE, '1.2.840.10008.1.2.4.95');
    const path = writeTemp(dir, 'jpip-deflate.dcm', jpip);
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(UnsupportedTransferSyntaxError);
    expect((err as Error).message).toContain(
      'unsupported transfer syntax 1.2.840.10008.1.2.4.95 (JPIP Referenced Deflate)',
    );
  });

  it('an unknown transfer syntax UID is named without a made-up name', async () => {
    const file = encodeSlice(sliceSpec(ct, ct.ct()));
    const path = writeTemp(
      dir,
      'unknown-ts.dcm',
      patchAscii(file, EXPLICIT_VR_LE, '1.2.840.99999.1.2.1'),
    );
    const { err } = await failure(path);
    expect(err).toBeInstanceOf(UnsupportedTransferSyntaxError);
    expect((err as Error).message).toContain(
      'unsupported transfer syntax 1.2.840.99999.1.2.1; supported: ',
    );
  });

  it('every kind of bad file above, large ones included, is rejected with a DicomError naming it', async () => {
    const file = encodeSlice(sliceSpec(ct, ct.ct()));
    const rng = new Rng(11);
    const bad: Array<[string, Uint8Array | string]> = [
      ['t-empty.dcm', new Uint8Array(0)],
      ['t-garbage.dcm', Uint8Array.from({ length: 100_000 }, () => rng.int(0, 255))],
      ['t-text.txt', 'not DICOM\n'.repeat(10_000)],
      ['t-cut-pixels.dcm', file.slice(0, file.length - 1000)],
      ['t-cut-meta.dcm', file.slice(0, 150)],
      [
        't-mpeg2.dcm',
        patchAscii(
          encodeSlice(sliceSpec(ct, ct.ct()), { transferSyntax: HTJ2K_LOSSLESS }),
          '1.2.840.10008.1.2.4.201',
          '1.2.840.10008.1.2.4.100',
        ),
      ],
    ];
    const paths = bad.map(([name, bytes]) => {
      const path = join(dir, name);
      writeFileSync(path, bytes);
      return path;
    });
    for (const path of paths) {
      const { err } = await failure(path);
      expect(err).toBeInstanceOf(DicomError);
      expect((err as Error).message.startsWith(`${path}: `)).toBe(true);
    }
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
