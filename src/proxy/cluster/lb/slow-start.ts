// Slow start (Istio `warmupDurationSecs` / `warmup`): a host that joined less than a window ago takes a
// growing share of its weight, `weight × max(minWeight, (age / window)^(1/aggression))`, as Envoy's
// EdfLoadBalancerBase::applySlowStartFactor (age in milliseconds, at least 1).
import { durationMs, type XdsDuration } from '../../../xds/duration.ts';
import { LbError } from './load-balancer.ts';

/** `SlowStartConfig` in Envoy's canonical JSON. */
export interface SlowStartJson {
  slow_start_window?: XdsDuration;
  aggression?: { default_value?: number; runtime_key?: string };
  min_weight_percent?: { value?: number };
}

export interface SlowStartConfig {
  readonly windowMs: number;
  readonly aggression: number;
  /** A fraction in [0, 1]; Envoy's default is 10%. */
  readonly minWeight: number;
}

export function compileSlowStart(json: SlowStartJson | undefined, where: string): SlowStartConfig | null {
  if (!json) return null;
  const windowMs = durationMs(json.slow_start_window);
  if (windowMs <= 0) return null;
  const aggression = json.aggression?.default_value ?? 1;
  if (!(aggression > 0)) throw new LbError('LB_CONFIG', `${where}.slow_start_config.aggression: must be greater than 0`);
  const minPercent = json.min_weight_percent?.value ?? 10;
  if (!(minPercent >= 0 && minPercent <= 100)) throw new LbError('LB_CONFIG', `${where}.slow_start_config.min_weight_percent: must be within 0..100`);
  return { windowMs, aggression, minWeight: minPercent / 100 };
}

/** The weight multiplier for a host that joined at `joinedAt` (1 once the window has passed). */
export function slowStartFactor(config: SlowStartConfig, joinedAt: number, now: number): number {
  const age = now - joinedAt;
  if (age >= config.windowMs) return 1;
  const timeFactor = Math.max(1, age) / config.windowMs;
  const ramp = config.aggression === 1 ? timeFactor : timeFactor ** (1 / config.aggression);
  return Math.max(config.minWeight, ramp);
}
