/** The pool task of `ichdet synth`: one patient per item (see `util/pool.ts`). */
import { generatePatient, type ImageRow, type PatientJob } from './generate.js';

export function runTask(job: PatientJob): ImageRow[] {
  return generatePatient(job);
}
