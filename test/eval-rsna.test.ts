/**
 * The RSNA CSV format: a submission written and read back is the same, labels are read as
 * `prepare` reads them, and every malformed or incomplete submission is rejected with an
 * InputError naming the file, the line and the value received.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import {
  alignPredictions,
  formatProbability,
  formatSubmission,
  parseRsnaLabels,
  parseSubmission,
  readRsnaLabels,
  readSubmission,
  writeSubmission,
} from '../src/eval/rsna.js';

const SUBTYPES = [
  'epidural',
  'intraparenchymal',
  'intraventricular',
  'subarachnoid',
  'subdural',
  'any',
];

/** A CSV with six rows per image: `rows(['ID_a', [0,1,0,0,0,1]], …)`. */
function csv(...images: [string, (number | string)[]][]): string {
  const lines = ['ID,Label'];
  for (const [id, values] of images) {
    for (const [l, s] of SUBTYPES.entries()) lines.push(`${id}_${s},${values[l]}`);
  }
  return `${lines.join('\n')}\n`;
}

/** The message of the error `fn` throws, checked to be an InputError. */
function inputError(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return (err as Error).message;
  }
  throw new Error('expected an InputError');
}

describe('submission round trip', () => {
  it('writes six rows per image in LABEL_NAMES order and reads back the same values', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ichdet-rsna-'));
    const file = join(dir, 'sub.csv');
    const ids = ['ID_000aa', 'ID_0b1c2'];
    const p = Float32Array.of(0.1, 0.25, 1, 0, 1e-7, 0.3333333, 0.5, 0.123456789, 0.9, 0.01, 0, 1);
    await writeSubmission(file, ids, p);
    const s = await readSubmission(file);
    expect(s.imageIds).toEqual(ids);
    expect([...s.values].map((v) => Math.fround(v))).toEqual([...p]);
    expect([...s.lines]).toEqual([2, 8]);
    expect(formatSubmission(ids, p).split('\n').slice(0, 4)).toEqual([
      'ID,Label',
      'ID_000aa_epidural,0.1',
      'ID_000aa_intraparenchymal,0.25',
      'ID_000aa_intraventricular,1',
    ]);
  });

  it('writes float32 values with the fewest digits that read back exactly', () => {
    expect(formatProbability(Math.fround(0.1), true)).toBe('0.1');
    expect(formatProbability(Math.fround(0.123456789), true)).toBe('0.12345679');
    expect(formatProbability(Math.fround(1e-7), true)).toBe('1e-7');
    expect(formatProbability(0.1 + 0.2, false)).toBe('0.30000000000000004');
  });

  it('refuses to write a bad id, a repeated id, a value outside [0, 1] or a wrong length', () => {
    expect(() => formatSubmission(['ID_a_b'], [0, 0, 0, 0, 0, 0])).toThrow(
      'image id must be ID_ and one part without _ or ",", received "ID_a_b"',
    );
    expect(() => formatSubmission(['ID_a', 'ID_a'], new Array(12).fill(0))).toThrow(
      'image id ID_a is listed twice',
    );
    expect(() => formatSubmission(['ID_a'], [0, 0, 0, 0, 0, 1.5])).toThrow(
      'prediction for ID_a_any must be in [0, 1], received 1.5',
    );
    expect(() => formatSubmission(['ID_a'], [0, 0])).toThrow(
      'expected 1 × 6 = 6 predictions, received 2',
    );
  });

  it('reads CRLF line ends, a byte-order mark, blank lines and rows in any order', () => {
    const text =
      '\uFEFFID,Label\r\nID_b_any,0.5\r\n\r\n' +
      SUBTYPES.slice(0, 5)
        .map((s, l) => `ID_b_${s},0.${l}\r\n`)
        .join('') +
      'ID_a_epidural,1e-3\r\n' +
      SUBTYPES.slice(1)
        .map((s) => `ID_a_${s},.25\r\n`)
        .join('');
    const s = parseSubmission(text, 'sub.csv');
    expect(s.imageIds).toEqual(['ID_b', 'ID_a']);
    expect([...s.values]).toEqual([
      0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.001, 0.25, 0.25, 0.25, 0.25, 0.25,
    ]);
  });
});

describe('malformed submissions', () => {
  const good = csv(['ID_a', [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]], ['ID_b', [0, 0, 0, 0, 0, 1]]);
  const bad = (line: number, replacement: string): string => {
    const lines = good.split('\n');
    lines[line - 1] = replacement;
    return lines.join('\n');
  };

  it.each([
    [
      'a bad header',
      'id,label\nID_a_any,0.5\n',
      'sub.csv line 1: expected the header "ID,Label", received "id,label"',
    ],
    [
      'a row without a comma',
      bad(3, 'ID_a_intraparenchymal 0.2'),
      'sub.csv line 3: expected "ID_<image>_<subtype>,<probability>" (2 fields), received "ID_a_intraparenchymal 0.2"',
    ],
    [
      'a bad id',
      bad(4, 'XX_a_intraventricular,0.3'),
      'sub.csv line 4: expected an id ID_<image>_<subtype>, received "XX_a_intraventricular"',
    ],
    [
      'an unknown subtype',
      bad(5, 'ID_a_subarachnoidal,0.4'),
      'sub.csv line 5: unknown subtype "subarachnoidal" in ID_a_subarachnoidal, expected one of epidural, intraparenchymal, intraventricular, subarachnoid, subdural, any',
    ],
    [
      'a value that is not a number',
      bad(6, 'ID_a_subdural,nan'),
      'sub.csv line 6: ID_a_subdural has a prediction that is not a number: "nan"',
    ],
    [
      'an empty value',
      bad(6, 'ID_a_subdural,'),
      'sub.csv line 6: ID_a_subdural has a prediction that is not a number: ""',
    ],
    [
      'a value above 1',
      bad(7, 'ID_a_any,1.2'),
      'sub.csv line 7: ID_a_any has a prediction outside [0, 1]: 1.2',
    ],
    [
      'a negative value',
      bad(8, 'ID_b_epidural,-0.01'),
      'sub.csv line 8: ID_b_epidural has a prediction outside [0, 1]: -0.01',
    ],
    ['a duplicate row', bad(9, 'ID_b_epidural,0'), 'sub.csv line 9: ID_b_epidural repeats line 8'],
    [
      'an image missing one of its six rows',
      bad(10, ''),
      'sub.csv line 8: ID_b has no row for intraventricular',
    ],
    ['no row at all', 'ID,Label\n', 'sub.csv: no prediction row after the header'],
  ])('rejects %s, naming the row', (_, text, message) => {
    expect(inputError(() => parseSubmission(text, 'sub.csv'))).toBe(message);
  });

  it('counts the other images that miss rows', () => {
    const text = csv(['ID_a', [0, 0, 0, 0, 0, 0]], ['ID_b', [0, 0, 0, 0, 0, 0]])
      .split('\n')
      .filter((l) => !l.endsWith('_any,0'))
      .join('\n');
    expect(inputError(() => parseSubmission(text, 'sub.csv'))).toBe(
      'sub.csv line 2: ID_a has no row for any (and 1 more images missing rows)',
    );
  });

  it('rejects a submission that misses labelled images, naming the first and the count', () => {
    const labels = parseRsnaLabels(
      csv(['ID_a', [0, 0, 0, 0, 0, 0]], ['ID_c', [0, 0, 0, 0, 0, 0]], ['ID_d', [1, 0, 0, 0, 0, 1]]),
      'labels.csv',
    );
    const preds = parseSubmission(csv(['ID_a', [0, 0, 0, 0, 0, 0]]), 'sub.csv');
    expect(inputError(() => alignPredictions(labels, preds))).toBe(
      'sub.csv: 2 of the 3 images in labels.csv have no prediction, first ID_c',
    );
  });

  it('rejects a submission that predicts images without a label, naming the line', () => {
    const labels = parseRsnaLabels(csv(['ID_b', [0, 0, 0, 0, 0, 0]]), 'labels.csv');
    const preds = parseSubmission(good, 'sub.csv');
    expect(inputError(() => alignPredictions(labels, preds))).toBe(
      'sub.csv line 2: ID_a is not in labels.csv (1 image predicted without a label)',
    );
  });

  it('puts the predictions in the order of the labels', () => {
    const labels = parseRsnaLabels(
      csv(['ID_b', [0, 0, 0, 0, 0, 0]], ['ID_a', [0, 0, 0, 0, 0, 0]]),
      'labels.csv',
    );
    const p = alignPredictions(labels, parseSubmission(good, 'sub.csv'));
    expect([...p]).toEqual([0, 0, 0, 0, 0, 1, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
  });
});

describe('labels for scoring', () => {
  it('reads 0/1 labels in image order, dropping exact duplicate rows as prepare does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ichdet-rsna-'));
    const file = join(dir, 'labels.csv');
    const text = `${csv(['ID_a', [0, 1, 0, 0, 0, 1]], ['ID_b', [0, 0, 0, 0, 0, 0]])}ID_a_any,1\n`;
    writeFileSync(file, text);
    const l = await readRsnaLabels(file);
    expect(l.imageIds).toEqual(['ID_a', 'ID_b']);
    expect([...l.y]).toEqual([0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
    expect(l.report.exactDuplicates.count).toBe(1);
  });

  it('rejects a malformed label row and an image without all six labels', () => {
    const text = csv(['ID_a', [0, 1, 0, 0, 0, 2]]);
    expect(inputError(() => parseRsnaLabels(text, 'dir/labels.csv'))).toBe(
      'labels labels.csv line 7: expected ID_<image>_<subtype>,<0 or 1> with subtype one of ' +
        'epidural|intraparenchymal|intraventricular|subarachnoid|subdural|any, received "ID_a_any,2"',
    );
    const short = csv(['ID_a', [0, 1, 0, 0, 0, 1]]).replace('ID_a_subdural,0\n', '');
    expect(inputError(() => parseRsnaLabels(short, 'labels.csv'))).toBe(
      'labels labels.csv: 1 image without all six labels, first ID_a has no row for subdural',
    );
    expect(inputError(() => parseRsnaLabels('ID,Label\n', 'labels.csv'))).toBe(
      'labels labels.csv: no label row after the header',
    );
  });
});
