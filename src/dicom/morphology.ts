/**
 * Binary morphology on row-major masks, with scipy.ndimage's semantics for the default (cross)
 * structuring element, so statistics defined with scipy give the same pixels here.
 *
 * Iterating a cross n times is the city-block ball of radius n, so each operation is one exact
 * two-pass city-block distance transform instead of n passes:
 * - dilation (border value 0): pixels within distance n of a set pixel;
 * - erosion (border value 0): pixels farther than n from an unset pixel, the outside counting as
 *   unset (so a mask touching the border erodes from it, as scipy's does).
 */

const FAR = 1 << 30;

/** Two-pass city-block distance transform in place: d holds 0 at the seeds, bounds elsewhere. */
function cityBlock(d: Int32Array, rows: number, cols: number): void {
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let c = 0; c < cols; c++) {
      let v = d[o + c]!;
      if (v === 0) continue;
      if (r > 0) v = Math.min(v, d[o - cols + c]! + 1);
      if (c > 0) v = Math.min(v, d[o + c - 1]! + 1);
      d[o + c] = v;
    }
  }
  for (let r = rows - 1; r >= 0; r--) {
    const o = r * cols;
    for (let c = cols - 1; c >= 0; c--) {
      let v = d[o + c]!;
      if (v === 0) continue;
      if (r < rows - 1) v = Math.min(v, d[o + cols + c]! + 1);
      if (c < cols - 1) v = Math.min(v, d[o + c + 1]! + 1);
      d[o + c] = v;
    }
  }
}

/** `scipy.ndimage.binary_dilation(mask, iterations=n)`: 1 within city-block distance n of mask. */
export function dilate(mask: Uint8Array, rows: number, cols: number, n: number): Uint8Array {
  const d = new Int32Array(rows * cols);
  for (let i = 0; i < d.length; i++) d[i] = mask[i] ? 0 : FAR;
  cityBlock(d, rows, cols);
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! <= n ? 1 : 0;
  return out;
}

/** `scipy.ndimage.binary_erosion(mask, iterations=n)`: the outside of the image counts as 0. */
export function erode(mask: Uint8Array, rows: number, cols: number, n: number): Uint8Array {
  const d = new Int32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const i = r * cols + c;
      d[i] = mask[i] ? Math.min(r + 1, c + 1, rows - r, cols - c) : 0;
    }
  }
  cityBlock(d, rows, cols);
  const out = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = d[i]! > n ? 1 : 0;
  return out;
}

/** `scipy.ndimage.binary_closing(mask, iterations=n)`: dilation, then erosion. */
export function close(mask: Uint8Array, rows: number, cols: number, n: number): Uint8Array {
  return erode(dilate(mask, rows, cols, n), rows, cols, n);
}

/**
 * `scipy.ndimage.binary_fill_holes(mask)`: unset pixels not 4-connected to the image border
 * through unset pixels are set.
 */
export function fillHoles(mask: Uint8Array, rows: number, cols: number): Uint8Array {
  const n = rows * cols;
  const reached = new Uint8Array(n);
  const stack = new Int32Array(n);
  let top = 0;
  const push = (i: number): void => {
    if (!mask[i] && !reached[i]) {
      reached[i] = 1;
      stack[top++] = i;
    }
  };
  for (let c = 0; c < cols; c++) {
    push(c);
    push((rows - 1) * cols + c);
  }
  for (let r = 0; r < rows; r++) {
    push(r * cols);
    push(r * cols + cols - 1);
  }
  while (top > 0) {
    const i = stack[--top]!;
    const r = (i / cols) | 0;
    const c = i - r * cols;
    if (r > 0) push(i - cols);
    if (r < rows - 1) push(i + cols);
    if (c > 0) push(i - 1);
    if (c < cols - 1) push(i + 1);
  }
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = reached[i] ? 0 : 1;
  return out;
}
