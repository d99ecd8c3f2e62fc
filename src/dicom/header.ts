/**
 * Header-only reading for `ichdet index`: a file's attributes and every reason it could not be
 * cached, without reading its pixels. Only a prefix of the file is read (16 KiB, four times more
 * while the elements before Pixel Data do not fit), parsed up to Pixel Data's header
 * (parse.ts, header-only), and put through the same checks, in the same order, as the cache's
 * decoder (`readWindowedUint8` / `decodeSlice` with `ctOnly`): the object must be a single-frame
 * greyscale CT image, its native pixel data complete, its bit layout consistent and its rescale
 * numeric. The reasons are the same strings. What only decoding the pixels can show (an
 * encapsulated frame that is empty or does not decode) is left to `prepare`.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { needsRsnaFix } from './hu.js';
import { NeedMoreBytes, parseDicomBytes } from './parse.js';
import { checkBitLayout, checkPixelHeader } from './pixels.js';
import { checkRescale, ctSliceLayout, requireCtImage, sliceAttributes } from './read.js';
import type { SliceAttributes } from './slice.js';

/** What a header gives: the attributes the cache's index records, as the decoder returns them. */
export type HeaderAttributes = SliceAttributes & {
  rows: number;
  cols: number;
  /** Whether the decoder would apply the RSNA 12-bit fix (with `rsnaFix` on). */
  rsnaFixApplied: boolean;
};

export const FIRST_PREFIX_BYTES = 16 * 1024;

/**
 * Reads file prefixes into one buffer per reader (one per worker), so indexing allocates
 * nothing per file.
 */
export class HeaderReader {
  #buffer = new Uint8Array(FIRST_PREFIX_BYTES);
  /** Bytes read by this reader (for benchmarks). */
  bytesRead = 0;

  /**
   * The header attributes of the DICOM file at `path`.
   *
   * @throws DicomError (or a subclass) with the same reason `prepare` gives; a Node error when
   *   the file cannot be opened.
   */
  read(path: string, opts: { rsnaFix: boolean }): HeaderAttributes {
    const fd = openSync(path, 'r');
    try {
      const size = fstatSync(fd).size;
      let want = Math.min(size, FIRST_PREFIX_BYTES);
      let have = 0;
      for (;;) {
        if (want > this.#buffer.length) {
          const grown = new Uint8Array(want);
          grown.set(this.#buffer.subarray(0, have));
          this.#buffer = grown;
        }
        while (have < want) {
          const got = readSync(fd, this.#buffer, have, want - have, have);
          if (got === 0) break;
          have += got;
        }
        this.bytesRead += have;
        // A file that shrank under us is parsed as what could be read.
        const fileSize = have < want ? have : size;
        try {
          return headerAttributes(this.#buffer.subarray(0, have), path, fileSize, opts);
        } catch (err) {
          if (!(err instanceof NeedMoreBytes) || have >= fileSize) throw err;
          want = Math.min(fileSize, want * 4);
        }
      }
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * The header checks on a prefix of a `fileSize`-byte file.
 *
 * @throws NeedMoreBytes when the prefix is too short; DicomError as `prepare` would.
 */
export function headerAttributes(
  prefix: Uint8Array,
  source: string,
  fileSize: number,
  opts: { rsnaFix: boolean },
): HeaderAttributes {
  const parsed = parseDicomBytes(prefix, source, { fileSize });
  const a = sliceAttributes(parsed);
  const layout = ctSliceLayout(parsed.dataSet, a, source);
  requireCtImage(parsed.dataSet, a, source);
  checkPixelHeader(parsed.dataSet, parsed.syntax, layout, source, parsed.end);
  checkBitLayout(layout, source);
  checkRescale(a, source);
  return {
    ...a,
    rows: layout.rows,
    cols: layout.cols,
    rsnaFixApplied: opts.rsnaFix && needsRsnaFix(a),
  };
}
