// Small statistics for benchmark samples: exact percentiles from sorted samples, median and spread
// across repetitions.

/** The q-quantile (0..1) of ascending samples, nearest-rank. */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function median(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite).sort((a, b) => a - b);
  return quantile(finite, 0.5);
}

/** Spread across repetitions as (max - min) / median, in percent. */
export function spreadPct(values: readonly number[]): number {
  const finite = values.filter(Number.isFinite);
  if (finite.length < 2) return 0;
  const m = median(finite);
  return m === 0 ? 0 : ((Math.max(...finite) - Math.min(...finite)) / Math.abs(m)) * 100;
}
