// Small Envoy value shapes translation emits everywhere: durations, percents, string matchers.
// int64 fields are emitted as numbers (`packAny` also takes decimal strings, as protobuf's JSON mapping writes them).
import type { StringMatch } from '../config/types/networking.ts';
import { parseDurationMs } from '../xds/duration.ts';

export interface Seconds {
  seconds: number;
  nanos?: number;
}

/** Milliseconds → google.protobuf.Duration. */
export function durationOf(ms: number): Seconds {
  const whole = Math.floor(ms / 1000);
  const nanos = Math.round((ms - whole * 1000) * 1e6);
  return nanos ? { seconds: whole, nanos } : { seconds: whole };
}

/** An Istio duration string → Duration; undefined when absent or invalid (validation reported it). */
export function istioDuration(text: string | undefined): Seconds | undefined {
  if (text === undefined) return undefined;
  const ms = parseDurationMs(text);
  return ms === undefined ? undefined : durationOf(ms);
}

/** Istio's double percent (0–100) → Envoy FractionalPercent per million, as Istio converts it. */
export function fractionalPercent(percent: number): { numerator: number; denominator: 'MILLION' } {
  return { numerator: Math.round(percent * 10_000), denominator: 'MILLION' };
}

/** Istio StringMatch → Envoy StringMatcher (RE2 regexes become safe_regex). */
export function stringMatcher(m: StringMatch, ignoreCase = false): Record<string, unknown> {
  const out: Record<string, unknown> =
    m.exact !== undefined
      ? { exact: m.exact }
      : m.prefix !== undefined
        ? { prefix: m.prefix }
        : m.regex !== undefined
          ? { safe_regex: { regex: m.regex } }
          : { prefix: '' };
  if (ignoreCase) out['ignore_case'] = true;
  return out;
}
