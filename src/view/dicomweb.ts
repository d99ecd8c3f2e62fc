/**
 * The DICOM JSON Model (PS3.18 F.2) of what `ichdet view` serves over DICOMweb: the QIDO-RS
 * result attributes of studies, series and instances (PS3.18 10.6.3, Table 10.6.3-3/4/5), and
 * the full metadata of an instance for WADO-RS `/metadata`, with pixel data as a BulkDataURI.
 */
import { randomUUID } from 'node:crypto';
import dcmjs from 'dcmjs';
import { parseDicomBytes } from '../dicom/parse.js';
import type { ViewInstance, ViewSeries, ViewStudy } from './folder.js';

export type DicomJson = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;

function el(vr: string, value: string | number | null | undefined): DicomJson[string] {
  if (value === null || value === undefined || value === '') return { vr };
  if (vr === 'PN') return { vr, Value: [{ Alphabetic: String(value) }] };
  return { vr, Value: [value] };
}

export function studyJson(st: ViewStudy): DicomJson {
  const instances = st.series.reduce((n, s) => n + s.instances.length, 0);
  const modalities = [...new Set(st.series.map((s) => s.modality).filter((m) => m !== ''))];
  return {
    '00080020': el('DA', st.studyDate),
    '00080050': el('SH', st.accession),
    '00080061': modalities.length ? { vr: 'CS', Value: modalities } : { vr: 'CS' },
    '00081030': el('LO', st.description),
    '00100010': el('PN', st.patientName),
    '00100020': el('LO', st.patientId),
    '0020000D': el('UI', st.studyInstanceUid),
    '00201206': el('IS', st.series.length),
    '00201208': el('IS', instances),
  };
}

export function seriesJson(st: ViewStudy, se: ViewSeries): DicomJson {
  return {
    '00080060': el('CS', se.modality),
    '0008103E': el('LO', se.description),
    '0020000D': el('UI', st.studyInstanceUid),
    '0020000E': el('UI', se.seriesInstanceUid),
    '00200011': el('IS', se.seriesNumber),
    '00201209': el('IS', se.instances.length),
  };
}

export function instanceJson(st: ViewStudy, se: ViewSeries, i: ViewInstance): DicomJson {
  return {
    '00080016': el('UI', i.sopClassUid),
    '00080018': el('UI', i.sopInstanceUid),
    '0020000D': el('UI', st.studyInstanceUid),
    '0020000E': el('UI', se.seriesInstanceUid),
    '00200013': el('IS', i.instanceNumber),
    '00280010': el('US', i.rows),
    '00280011': el('US', i.cols),
  };
}

const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);

/**
 * The whole data set of a Part 10 file as DICOM JSON: binary values become a BulkDataURI
 * (`bulkUri` + the tag) except pixel data, which points at the instance's frame 1 URL.
 */
export function metadataJson(bytes: Uint8Array, instanceUrl: string): DicomJson {
  const buf = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength);
  const dict = dcmjs.data.DicomMessage.readFile(buf as ArrayBuffer, { ignoreErrors: true }).dict;
  const out = convert(dict, instanceUrl);
  // dcmjs drops the characters a UID may not hold; RSNA's `ID_…` identifiers are kept as written.
  const ds = parseDicomBytes(bytes, '<metadata>').dataSet;
  for (const [tag, v] of Object.entries(out)) {
    if (v.vr !== 'UI') continue;
    const raw = ds.string(`x${tag.toLowerCase()}`);
    if (raw !== undefined && raw !== '') {
      v.Value = raw
        .replace(/\0/g, '')
        .split('\\')
        .map((u) => u.trim());
    }
  }
  return out;
}

function convert(
  dict: Record<string, { vr: string; Value?: unknown[] }>,
  instanceUrl: string,
): DicomJson {
  const out: DicomJson = {};
  for (const [tag, v] of Object.entries(dict)) {
    const t = tag.toUpperCase();
    if (BINARY_VRS.has(v.vr)) {
      out[t] = {
        vr: v.vr,
        BulkDataURI: t === '7FE00010' ? `${instanceUrl}/frames/1` : `${instanceUrl}/bulk/${t}`,
      };
    } else if (v.vr === 'SQ') {
      out[t] = {
        vr: 'SQ',
        Value: (v.Value ?? []).map((item) =>
          convert(item as Record<string, { vr: string; Value?: unknown[] }>, instanceUrl),
        ),
      };
    } else if (v.Value === undefined || v.Value.length === 0) {
      out[t] = { vr: v.vr };
    } else {
      out[t] = { vr: v.vr, Value: v.Value };
    }
  }
  return out;
}

/** A multipart/related body of Part 10 files (PS3.18 8.7.3.1), and its Content-Type. */
export function multipartDicom(parts: readonly Uint8Array[]): {
  body: Buffer;
  contentType: string;
} {
  const boundary = `ichdet-${randomUUID()}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`));
    chunks.push(Buffer.from(p.buffer, p.byteOffset, p.byteLength));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return {
    body: Buffer.concat(chunks),
    contentType: `multipart/related; type="application/dicom"; boundary=${boundary}`,
  };
}
