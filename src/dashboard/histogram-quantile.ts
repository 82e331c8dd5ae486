// Prometheus' histogram_quantile over cumulative buckets: linear interpolation inside the bucket that
// holds the rank, the lower bound of the +Inf bucket when the rank falls there.

/** `buckets`: upper bound → cumulative count (must include +Inf). Returns undefined when empty. */
export function histogramQuantile(q: number, buckets: ReadonlyMap<number, number>): number | undefined {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const last = sorted.at(-1);
  if (!last || last[0] !== Number.POSITIVE_INFINITY || sorted.length < 2) return undefined;
  const total = last[1];
  if (!(total > 0)) return undefined;
  if (q <= 0) return 0;
  if (q >= 1) return sorted.at(-2)?.[0];
  const rank = q * total;
  let prevBound = 0;
  let prevCount = 0;
  for (const [bound, count] of sorted) {
    if (count >= rank) {
      if (bound === Number.POSITIVE_INFINITY) return prevBound;
      const inBucket = count - prevCount;
      if (inBucket <= 0) return bound;
      return prevBound + (bound - prevBound) * ((rank - prevCount) / inBucket);
    }
    prevBound = bound;
    prevCount = count;
  }
  return prevBound;
}
