/**
 * Where a slice lies in its series. The Image Plane Module (PS3.3 C.7.6.2) gives each slice the
 * position of its first pixel (ImagePositionPatient) and the direction cosines of its rows and
 * columns (ImageOrientationPatient); the slice normal is their cross product, and a slice's
 * position along that normal — IPP · (row × column), PS3.3 C.7.6.2.1.1 — orders a series
 * correctly for gantry-tilted and oblique acquisitions too, where sorting by the z coordinate
 * alone would not.
 */

/**
 * The unit normal of a slice: row cosines × column cosines; null when the orientation is
 * absent or degenerate.
 */
export function sliceNormal(iop: readonly number[] | undefined): [number, number, number] | null {
  if (!iop || iop.length < 6) return null;
  const [a, b, c, d, e, f] = iop as [number, number, number, number, number, number];
  const n: [number, number, number] = [b * f - c * e, c * d - a * f, a * e - b * d];
  const len = Math.hypot(...n);
  if (!(len > 0) || !Number.isFinite(len)) return null;
  return [n[0] / len, n[1] / len, n[2] / len];
}

/**
 * Position of a slice along its series normal, in mm: ImagePositionPatient · (row × column
 * direction cosines) (PS3.3 C.7.6.2.1.1); the z coordinate when the orientation is absent;
 * null when the position is absent.
 */
export function slicePosition(
  ipp: readonly number[] | undefined,
  iop: readonly number[] | undefined,
): number | null {
  if (!ipp || ipp.length < 3) return null;
  const [x, y, z] = ipp as [number, number, number];
  if (!iop || iop.length < 6) return Number.isFinite(z) ? z : null;
  const [a, b, c, d, e, f] = iop as [number, number, number, number, number, number];
  const nx = b * f - c * e;
  const ny = c * d - a * f;
  const nz = a * e - b * d;
  const v = x * nx + y * ny + z * nz;
  return Number.isFinite(v) ? v : null;
}
