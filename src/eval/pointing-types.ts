/**
 * The results of the Grad-CAM pointing game as the reports read them: plain data, so eval/
 * (below infer/) can type them. infer/gradcam.ts and infer/pointing.ts compute them and
 * re-export these types.
 */

/** One label's pointing game over many slices. */
export interface PointingRow {
  label: string;
  /** Slices whose mask holds this label's lesion. */
  slices: number;
  /** Of those, how many had the map's maximum inside the lesion. */
  hits: number;
  /** hits / slices (null without slices). */
  rate: number | null;
  /** Expected rate of a uniformly random point: the mean lesion area fraction (null without slices). */
  chance: number | null;
}

/** The pointing game of one model on a split of a cache (`ichdet evaluate --masks`). */
export interface CachePointing {
  /** The Grad-CAM layer the maps came from. */
  layer: string;
  /**
   * A hit within this share of the slice's larger side of the lesion still counts (Zhang et
   * al.'s 15 px at 224); 0 or absent (reports made before it existed): strictly inside.
   */
  tolerance?: number;
  rows: PointingRow[];
}
