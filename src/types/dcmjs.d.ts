/** The small part of dcmjs (which ships no type declarations) that ichdet uses to write DICOM. */
declare module 'dcmjs' {
  export interface DicomTagValue {
    vr: string;
    Value?: unknown[];
  }
  export type DenaturalizedDataset = Record<string, DicomTagValue>;
  namespace data {
    class DicomDict {
      constructor(meta: DenaturalizedDataset);
      meta: DenaturalizedDataset;
      dict: DenaturalizedDataset;
      write(options?: {
        allowInvalidVRLength?: boolean;
        fragmentMultiframe?: boolean;
      }): ArrayBuffer;
    }
    class DicomMessage {
      static readFile(
        buffer: ArrayBuffer,
        options?: { ignoreErrors?: boolean; untilTag?: string },
      ): DicomDict;
    }
    const DicomMetaDictionary: {
      denaturalizeDataset(ds: Record<string, unknown>): DenaturalizedDataset;
      naturalizeDataset(ds: DenaturalizedDataset): Record<string, unknown>;
      uid(): string;
    };
  }
  const dcmjs: { data: typeof data };
  export default dcmjs;
}
