import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatLabelsReport, labelCoverage, parseLabels, readLabels } from '../src/data/labels.js';
import { InputError } from '../src/errors.js';

const SUBTYPES = ['epidural', 'intraparenchymal', 'intraventricular', 'subarachnoid', 'subdural'];

/** The six rows of one image; `pos` lists the positive subtypes; `any` defaults to their OR. */
function image(id: string, pos: string[] = [], any?: 0 | 1): string[] {
  const rows = SUBTYPES.map((s) => `${id}_${s},${pos.includes(s) ? 1 : 0}`);
  rows.push(`${id}_any,${any ?? (pos.length > 0 ? 1 : 0)}`);
  return rows;
}

function csv(...rows: string[]): string {
  return `${['ID,Label', ...rows].join('\n')}\n`;
}

describe('parseLabels', () => {
  it('reads six rows per image into labels in LABEL_NAMES order', () => {
    const t = parseLabels(csv(...image('ID_aa', ['subdural']), ...image('ID_bb')), 'l.csv');
    expect(t.labels.get('ID_aa')).toEqual([0, 0, 0, 0, 1, 1]);
    expect(t.labels.get('ID_bb')).toEqual([0, 0, 0, 0, 0, 0]);
    expect(t.report.rows).toBe(12);
    expect(t.report.images).toBe(2);
    for (const f of ['malformed', 'exactDuplicates', 'conflicts', 'missingSubtypes'] as const) {
      expect(t.report[f].count).toBe(0);
    }
  });

  it('accepts CRLF line ends and a byte order mark', () => {
    const text = `\uFEFF${csv(...image('ID_aa', ['epidural'])).replaceAll('\n', '\r\n')}`;
    expect(parseLabels(text, 'l.csv').labels.get('ID_aa')).toEqual([1, 0, 0, 0, 0, 1]);
  });

  it('rejects a file whose header is not ID,Label', () => {
    expect(() => parseLabels('id,label\nID_aa_any,1\n', 'labels.csv')).toThrow(InputError);
    expect(() => parseLabels('id,label\n', 'labels.csv')).toThrow(
      'labels.csv line 1: expected the header "ID,Label", received "id,label"',
    );
  });

  it('skips malformed rows and names file, line and row', () => {
    const rows = [
      ...image('ID_aa'),
      'ID_abc_epidural,2', // line 8
      'ID_abc_haemorrhage,1', // unknown subtype
      'ID_abc_epidural', // no label
      'abc_epidural,0', // no ID_ prefix
      'ID_a_b_epidural,1', // underscore inside the image id
    ];
    const t = parseLabels(csv(...rows), 'dir/labels.csv');
    expect(t.report.malformed.count).toBe(5);
    expect(t.report.malformed.examples[0]).toBe(
      'labels.csv line 8: expected ID_<image>_<subtype>,<0 or 1> with subtype one of ' +
        'epidural|intraparenchymal|intraventricular|subarachnoid|subdural|any, received "ID_abc_epidural,2"',
    );
    expect(t.report.malformed.examples[1]).toContain('line 9');
    expect(t.labels.has('ID_abc')).toBe(false);
    expect(t.report.images).toBe(1);
  });

  it('removes exact duplicate rows and counts them', () => {
    const t = parseLabels(
      csv(...image('ID_aa', ['subdural']), ...image('ID_aa', ['subdural'])),
      'l.csv',
    );
    expect(t.report.exactDuplicates.count).toBe(6);
    expect(t.report.conflicts.count).toBe(0);
    expect(t.labels.get('ID_aa')).toEqual([0, 0, 0, 0, 1, 1]);
    expect(t.report.exactDuplicates.examples[0]).toBe(
      'l.csv line 8: ID_aa_epidural,0 repeats an earlier row',
    );
  });

  it('keeps the positive label of a conflicting duplicate, in either order, and reports it', () => {
    const t = parseLabels(
      csv(
        ...image('ID_aa'),
        'ID_aa_subdural,1',
        ...image('ID_bb', ['epidural']),
        'ID_bb_epidural,0',
      ),
      'l.csv',
    );
    expect(t.report.conflicts.count).toBe(2);
    expect(t.labels.get('ID_aa')?.[4]).toBe(1);
    expect(t.labels.get('ID_bb')?.[0]).toBe(1);
    expect(t.report.conflicts.examples[0]).toBe(
      'l.csv line 8: ID_aa subdural is 1 here and 0 on an earlier row; kept 1',
    );
    // ID_aa now has subdural 1 but any 0: the disagreement is reported, the value kept.
    expect(t.report.anyDisagrees.count).toBe(1);
    expect(t.labels.get('ID_aa')?.[5]).toBe(0);
  });

  it('reports images missing subtypes and leaves those labels unknown (-1)', () => {
    const t = parseLabels(csv('ID_cc_any,1', 'ID_cc_subdural,1', ...image('ID_dd')), 'l.csv');
    expect(t.report.missingSubtypes.count).toBe(1);
    expect(t.report.missingSubtypes.examples[0]).toBe(
      'ID_cc has no row for epidural, intraparenchymal, intraventricular, subarachnoid',
    );
    expect(t.labels.get('ID_cc')).toEqual([-1, -1, -1, -1, 1, 1]);
    // any vs subtypes is only judged when all five subtypes are known.
    expect(t.report.anyDisagrees.count).toBe(0);
  });

  it('reports any disagreeing with the OR of the subtypes both ways and keeps the values', () => {
    const t = parseLabels(
      csv(
        ...image('ID_ee', ['subarachnoid'], 0),
        ...image('ID_ff', [], 1),
        ...image('ID_gg', ['subdural']),
      ),
      'l.csv',
    );
    expect(t.report.anyDisagrees.count).toBe(2);
    expect(t.report.anyDisagrees.examples).toEqual([
      'ID_ee: any is 0 but the OR of its subtypes is 1; kept as given',
      'ID_ff: any is 1 but the OR of its subtypes is 0; kept as given',
    ]);
    expect(t.labels.get('ID_ee')?.[5]).toBe(0);
    expect(t.labels.get('ID_ff')?.[5]).toBe(1);
  });

  it('keeps five examples per finding but counts every case', () => {
    const rows: string[] = [];
    for (let i = 0; i < 8; i++) rows.push(`bad row ${i}`);
    const t = parseLabels(csv(...rows), 'l.csv');
    expect(t.report.malformed.count).toBe(8);
    expect(t.report.malformed.examples).toHaveLength(5);
    expect(formatLabelsReport(t.report)).toContain('… and 3 more');
  });
});

describe('labelCoverage', () => {
  it('lists labelled images with no file and files with no labels', () => {
    const t = parseLabels(csv(...image('ID_aa'), ...image('ID_bb')), 'l.csv');
    const c = labelCoverage(t.labels.keys(), new Set(['ID_bb', 'ID_zz']), t.labels);
    expect(c.labelsWithoutFile).toEqual({ count: 1, examples: ['ID_aa'] });
    expect(c.filesWithoutLabels).toEqual({ count: 1, examples: ['ID_zz'] });
    const text = formatLabelsReport(t.report, c);
    expect(text).toContain(
      'labelled images not cached (no file, or its file was rejected: see rejects.csv): 1',
    );
    expect(text).toContain('image files with no labels: 1');
  });
});

describe('readLabels', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ichdet-labels-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads a file, and names a missing one', async () => {
    const p = join(dir, 'l.csv');
    writeFileSync(p, csv(...image('ID_aa', ['intraventricular'])));
    expect((await readLabels(p)).labels.get('ID_aa')).toEqual([0, 0, 1, 0, 0, 1]);
    await expect(readLabels(join(dir, 'missing.csv'))).rejects.toThrow(
      /cannot read labels .*missing\.csv/,
    );
  });
});
