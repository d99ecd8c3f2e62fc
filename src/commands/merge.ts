/** `ichdet merge` as a library function (the work is in data/merge.ts). */
export { type MergeOptions, type MergeResult, mergeCaches as merge } from '../data/merge.js';

import type { MergeResult } from '../data/merge.js';

/** The one-line summary the CLI prints. */
export function mergeSummary(r: MergeResult): string {
  const dup =
    r.duplicates > 0 ? `; ${r.duplicates} duplicate image ids across partitions rejected` : '';
  return (
    `merged ${r.inputs} caches (${r.mode} mode) into ${r.out}: ${r.cached} slices, ` +
    `${r.rejected} rejected${dup} (${r.seconds.toFixed(1)} s)`
  );
}
