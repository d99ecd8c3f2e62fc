/**
 * The triage result as a DICOM Comprehensive SR (PS3.3 §A.35.3), written with dcmjs, in the
 * source study as a new series. Content in the manner of TID 1500 (an imaging measurement
 * report: observation context, then measurement groups of NUM items with their image
 * references), without claiming the template:
 *
 *     CONTAINER (18748-4, LN, "Diagnostic imaging report")
 *       TEXT   (121071, DCM, "Finding")                 "Intracranial haemorrhage suspected…"
 *       TEXT   (121106, DCM, "Comment")                 "UNVERIFIED AI triage… not for diagnostic use"
 *       TEXT   (121106, DCM, "Comment")                 "Key image: …heatmap…" (when given)
 *       CONTAINER (125007, DCM, "Measurement Group")
 *         NUM  (<label>, 99ICHDET, "Probability of …")  p, unit (1, UCUM, "no units")
 *         …    one per label; FloatingPointValue holds the exact value
 *       CONTAINER (121180, DCM, "Key Images")
 *         IMAGE (99ICHDET KEYSLICE)                     the slices most likely positive
 *       TEXT   (111001, DCM, "Algorithm Name") / (111003, DCM, "Algorithm Version")
 *
 * VerificationFlag UNVERIFIED, CompletionFlag COMPLETE; the source's patient and study
 * attributes are copied, so the report files under the same study and patient.
 */
import dcmjs from 'dcmjs';
import { encodeDataset } from '../dicom/write.js';

export const COMPREHENSIVE_SR_STORAGE = '1.2.840.10008.5.1.4.1.1.88.33';

/** The source study's identity, copied into every result (PS3.3 Patient and General Study). */
export interface StudyContext {
  studyUid: string;
  patientId: string;
  patientName: string;
  patientBirthDate: string;
  patientSex: string;
  studyDate: string;
  studyTime: string;
  studyId: string;
  accessionNumber: string;
  referringPhysicianName: string;
  studyDescription: string;
}

export interface SliceReference {
  sopClassUid: string;
  sopInstanceUid: string;
  /** The slice's `any` probability. */
  any: number;
}

export interface TriageFindings {
  labels: readonly string[];
  /** Study-level probability per label (the maximum over the slices; `any`: the decision score). */
  probabilities: readonly number[];
  /** The decision's score, compared with the threshold. */
  any: number;
  threshold: number;
  flag: boolean;
  /** The series read. */
  seriesUid: string;
  /** Every slice predicted (the evidence). */
  evidence: readonly SliceReference[];
  /** The slices most likely positive, highest first. */
  keySlices: readonly SliceReference[];
  /** e.g. `ichdet 0.1.0`. */
  algorithm: string;
  /** Architecture, model hash, runtime. */
  algorithmVersion: string;
  /** What the key image shows (its heatmap, or why it has none): a Comment when given. */
  keyImageNote?: string;
}

export interface ResultUids {
  seriesUid: string;
  instanceUid: string;
}

const DISCLAIMER =
  'UNVERIFIED AI triage result (ichdet): not for diagnostic use. It never replaces the reading of the images by a radiologist.';

/** DICOM DA and TM of a date (UTC). */
export function dicomDateTime(d: Date): { date: string; time: string } {
  const iso = d.toISOString();
  return {
    date: iso.slice(0, 10).replaceAll('-', ''),
    time: iso.slice(11, 19).replaceAll(':', ''),
  };
}

const code = (value: string, scheme: string, meaning: string) => [
  { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning },
];

/** A DS value: at most 16 characters (PS3.5 §6.2). */
function ds(x: number): string {
  return x.toFixed(6).slice(0, 16);
}

/** The human sentence of the finding. */
export function findingText(f: Pick<TriageFindings, 'any' | 'threshold' | 'flag'>): string {
  return f.flag
    ? `Intracranial haemorrhage suspected: any ${f.any.toFixed(3)} >= threshold ${f.threshold.toFixed(3)}`
    : `No intracranial haemorrhage flagged: any ${f.any.toFixed(3)} < threshold ${f.threshold.toFixed(3)}`;
}

/** Patient, General Study and SOP Common attributes shared by the SR and the key image. */
export function commonAttributes(ctx: StudyContext, now: Date): Record<string, unknown> {
  const { date, time } = dicomDateTime(now);
  return {
    SpecificCharacterSet: 'ISO_IR 192',
    InstanceCreationDate: date,
    InstanceCreationTime: time,
    PatientName: ctx.patientName,
    PatientID: ctx.patientId,
    PatientBirthDate: ctx.patientBirthDate,
    PatientSex: ctx.patientSex,
    StudyInstanceUID: ctx.studyUid,
    StudyDate: ctx.studyDate,
    StudyTime: ctx.studyTime,
    StudyID: ctx.studyId,
    AccessionNumber: ctx.accessionNumber,
    ReferringPhysicianName: ctx.referringPhysicianName,
    ...(ctx.studyDescription !== '' && { StudyDescription: ctx.studyDescription }),
    Manufacturer: 'ichdet',
    ManufacturerModelName: 'ichdet watch',
  };
}

/** The SR's bytes (a Part 10 file, explicit VR little endian). */
export function buildSr(
  ctx: StudyContext,
  f: TriageFindings,
  uids: ResultUids,
  now: Date,
  seriesNumber = 9901,
): Uint8Array {
  const { date, time } = dicomDateTime(now);
  const text = (concept: ReturnType<typeof code>, value: string) => ({
    RelationshipType: 'CONTAINS',
    ValueType: 'TEXT',
    ConceptNameCodeSequence: concept,
    TextValue: value,
  });
  const nums = f.labels.map((label, i) => {
    const p = f.probabilities[i]!;
    return {
      RelationshipType: 'CONTAINS',
      ValueType: 'NUM',
      ConceptNameCodeSequence: code(label.toUpperCase(), '99ICHDET', `Probability of ${label}`),
      MeasuredValueSequence: [
        {
          MeasurementUnitsCodeSequence: code('1', 'UCUM', 'no units'),
          NumericValue: ds(p),
          FloatingPointValue: p,
        },
      ],
    };
  });
  const images = f.keySlices.map((s) => ({
    RelationshipType: 'CONTAINS',
    ValueType: 'IMAGE',
    ConceptNameCodeSequence: code('KEYSLICE', '99ICHDET', `Key slice, any ${s.any.toFixed(3)}`),
    ReferencedSOPSequence: [
      { ReferencedSOPClassUID: s.sopClassUid, ReferencedSOPInstanceUID: s.sopInstanceUid },
    ],
  }));
  const ds0: Record<string, unknown> = {
    ...commonAttributes(ctx, now),
    SOPClassUID: COMPREHENSIVE_SR_STORAGE,
    SOPInstanceUID: uids.instanceUid,
    Modality: 'SR',
    SeriesInstanceUID: uids.seriesUid,
    SeriesNumber: seriesNumber,
    SeriesDescription: 'ichdet AI triage report - UNVERIFIED, not for diagnostic use',
    ReferencedPerformedProcedureStepSequence: [],
    InstanceNumber: 1,
    ContentDate: date,
    ContentTime: time,
    CompletionFlag: 'COMPLETE',
    VerificationFlag: 'UNVERIFIED',
    PerformedProcedureCodeSequence: [],
    CurrentRequestedProcedureEvidenceSequence: [
      {
        StudyInstanceUID: ctx.studyUid,
        ReferencedSeriesSequence: [
          {
            SeriesInstanceUID: f.seriesUid,
            ReferencedSOPSequence: f.evidence.map((s) => ({
              ReferencedSOPClassUID: s.sopClassUid,
              ReferencedSOPInstanceUID: s.sopInstanceUid,
            })),
          },
        ],
      },
    ],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: code('18748-4', 'LN', 'Diagnostic imaging report'),
    ContinuityOfContent: 'SEPARATE',
    ContentSequence: [
      text(code('121071', 'DCM', 'Finding'), findingText(f)),
      text(code('121106', 'DCM', 'Comment'), DISCLAIMER),
      ...(f.keyImageNote !== undefined
        ? [text(code('121106', 'DCM', 'Comment'), f.keyImageNote)]
        : []),
      {
        RelationshipType: 'CONTAINS',
        ValueType: 'CONTAINER',
        ConceptNameCodeSequence: code('125007', 'DCM', 'Measurement Group'),
        ContinuityOfContent: 'SEPARATE',
        ContentSequence: nums,
      },
      ...(images.length > 0
        ? [
            {
              RelationshipType: 'CONTAINS',
              ValueType: 'CONTAINER',
              ConceptNameCodeSequence: code('121180', 'DCM', 'Key Images'),
              ContinuityOfContent: 'SEPARATE',
              ContentSequence: images,
            },
          ]
        : []),
      text(code('111001', 'DCM', 'Algorithm Name'), f.algorithm),
      text(code('111003', 'DCM', 'Algorithm Version'), f.algorithmVersion),
    ],
  };
  return encodeDataset(ds0);
}

/** The probabilities of an SR written by `buildSr`, by label (its FloatingPointValues). */
export function readSrProbabilities(bytes: Uint8Array): Record<string, number> {
  const dict = dcmjs.data.DicomMessage.readFile(
    bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer,
  );
  const ds = dcmjs.data.DicomMetaDictionary.naturalizeDataset(dict.dict) as {
    ContentSequence?: Record<string, unknown>[];
  };
  const out: Record<string, number> = {};
  const walk = (items: Record<string, unknown>[] | undefined) => {
    for (const it of items ?? []) {
      if (it.ValueType === 'NUM') {
        const name = (it.ConceptNameCodeSequence as { CodeValue: string }[] | undefined)?.[0];
        const mv = (it.MeasuredValueSequence as { FloatingPointValue?: number }[] | undefined)?.[0];
        if (name !== undefined && mv?.FloatingPointValue !== undefined) {
          out[name.CodeValue.toLowerCase()] = Number(mv.FloatingPointValue);
        }
      }
      walk(it.ContentSequence as Record<string, unknown>[] | undefined);
    }
  };
  walk(ds.ContentSequence);
  return out;
}
