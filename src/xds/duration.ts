// google.protobuf.Duration in Outrigger's xDS shape: `{ seconds: string, nanos: number }` (int64 as a
// string, as proto-loader decodes it with `longs: String`). Istio durations are strings like "1.5s".

export interface XdsDuration {
  seconds?: string;
  nanos?: number;
}

/** Milliseconds → xDS Duration. */
export function duration(ms: number): XdsDuration {
  const whole = Math.floor(ms / 1000);
  const nanos = Math.round((ms - whole * 1000) * 1e6);
  return nanos ? { seconds: String(whole), nanos } : { seconds: String(whole) };
}

/** xDS Duration → milliseconds (0 when absent). */
export function durationMs(d: XdsDuration | undefined | null): number {
  if (!d) return 0;
  return Number(d.seconds ?? 0) * 1000 + (d.nanos ?? 0) / 1e6;
}

const unitMs: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001, µs: 0.001, ns: 1e-6 };
const durationPattern = /^(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)/;

/** Parses an Istio/Go duration string ("1h", "1.5s", "100ms", "1m30s") to milliseconds; undefined if invalid. */
export function parseDurationMs(text: string): number | undefined {
  if (!text) return undefined;
  let rest = text;
  let total = 0;
  while (rest.length > 0) {
    const m = durationPattern.exec(rest);
    if (!m) return undefined;
    total += Number(m[1]) * (unitMs[m[2] as string] ?? Number.NaN);
    rest = rest.slice(m[0].length);
  }
  return Number.isFinite(total) ? total : undefined;
}

/** `48h`, `1h30m`, `90s`, `250ms`: a duration as Istio's settings write it (Go's, without zero parts). */
export function formatDurationMs(ms: number): string {
  if (ms === 0) return '0s';
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
