/**
 * JPEG Extended 12-bit (1.2.840.10008.1.2.4.51) against a real file and the reference values
 * pydicom's own tests assert for it (see test/fixtures/README.md for its provenance).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readAttributes, readSlice } from '../src/dicom/read.js';
import { JPEG_EXTENDED } from '../src/dicom/syntax.js';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'JPGExtended.dcm');

describe('the JPEG Extended 12-bit fixture from pydicom', () => {
  it('has the attributes pydicom lists for it', () => {
    const a = readAttributes(readFileSync(FIXTURE), FIXTURE);
    expect(a.transferSyntaxUid).toBe(JPEG_EXTENDED);
    expect([a.rows, a.cols]).toEqual([1024, 256]);
    expect([a.bitsAllocated, a.bitsStored, a.highBit, a.pixelRepresentation]).toEqual([
      16, 12, 11, 0,
    ]);
    expect(a.photometricInterpretation).toBe('MONOCHROME2');
    expect(a.samplesPerPixel).toBe(1);
    expect(a.numberOfFrames).toBe(1);
  });

  it('decodes to the values pydicom asserts: arr[420, 140] == 244 and arr[230, 120] == 95', async () => {
    // readSlice loads the codec WebAssembly itself; nothing else in this file has.
    const slice = await readSlice(FIXTURE, { rsnaFix: false });
    expect(slice.stored).toBeInstanceOf(Uint16Array);
    expect(slice.stored).toHaveLength(1024 * 256);
    expect(slice.stored[420 * 256 + 140]).toBe(244);
    expect(slice.stored[230 * 256 + 120]).toBe(95);
    // Slope 1 and intercept 0 are absent from the file and default; HU equal the stored values.
    expect([slice.rescaleSlope, slice.rescaleIntercept]).toEqual([1, 0]);
    expect(slice.hu[420 * 256 + 140]).toBe(244);
    expect(slice.hu[230 * 256 + 120]).toBe(95);
  });

  it('decodes to 12-bit values only', async () => {
    const slice = await readSlice(FIXTURE);
    let max = 0;
    for (const v of slice.stored) max = Math.max(max, v);
    expect(max).toBeGreaterThan(0);
    expect(max).toBeLessThanOrEqual(4095);
  });
});
