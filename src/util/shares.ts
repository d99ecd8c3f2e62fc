/**
 * Splitting a batch between workers: rows [0, n) of an n × `per` array into `k` contiguous
 * shares, sizes differing by at most one (the first n mod k get one more), each a copy that can
 * be transferred to its worker. The training engine and the inference runtime split alike.
 */
export function shareRows(
  x: Float32Array,
  n: number,
  k: number,
  per: number,
): { x: Float32Array; n: number }[] {
  const shares: { x: Float32Array; n: number }[] = [];
  for (let i = 0, start = 0; i < k; i++) {
    const m = Math.floor(n / k) + (i < n % k ? 1 : 0);
    shares.push({ x: x.slice(start * per, (start + m) * per), n: m });
    start += m;
  }
  return shares;
}
