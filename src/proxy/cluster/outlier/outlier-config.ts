// Cluster `outlier_detection` (Envoy canonical JSON) → the settings the detector runs with, Envoy's
// defaults filled in. Istio writes consecutive_5xx with enforcing 100 and enforcing_success_rate 0.
import { durationMs, type XdsDuration } from '../../../xds/duration.ts';
import { LbError } from '../lb/load-balancer.ts';

interface UInt32 {
  value?: number;
}

export interface OutlierDetectionJson {
  consecutive_5xx?: UInt32;
  consecutive_gateway_failure?: UInt32;
  consecutive_local_origin_failure?: UInt32;
  split_external_local_origin_errors?: boolean;
  interval?: XdsDuration;
  base_ejection_time?: XdsDuration;
  max_ejection_time?: XdsDuration;
  max_ejection_time_jitter?: XdsDuration;
  max_ejection_percent?: UInt32;
  always_eject_one_host?: { value?: boolean } | boolean;
  enforcing_consecutive_5xx?: UInt32;
  enforcing_consecutive_gateway_failure?: UInt32;
  enforcing_consecutive_local_origin_failure?: UInt32;
  enforcing_success_rate?: UInt32;
  success_rate_minimum_hosts?: UInt32;
  success_rate_request_volume?: UInt32;
  success_rate_stdev_factor?: UInt32;
}

export interface OutlierConfig {
  readonly consecutive5xx: number;
  readonly consecutiveGatewayFailure: number;
  readonly consecutiveLocalOriginFailure: number;
  readonly splitExternalLocalOriginErrors: boolean;
  readonly intervalMs: number;
  readonly baseEjectionTimeMs: number;
  readonly maxEjectionTimeMs: number;
  readonly maxEjectionTimeJitterMs: number;
  readonly maxEjectionPercent: number;
  readonly alwaysEjectOneHost: boolean;
  /** Percent chance that a detection really ejects (Envoy's `enforcing_*`). */
  readonly enforcing: Readonly<Record<EjectionType, number>>;
  readonly successRateMinimumHosts: number;
  readonly successRateRequestVolume: number;
  /** Divided by 1000: 1900 means 1.9 standard deviations. */
  readonly successRateStdevFactor: number;
}

export type EjectionType = 'consecutive_5xx' | 'consecutive_gateway_failure' | 'consecutive_local_origin_failure' | 'success_rate';

export function compileOutlierDetection(json: OutlierDetectionJson, where = 'outlier_detection'): OutlierConfig {
  const errors: string[] = [];
  const num = (field: keyof OutlierDetectionJson, v: UInt32 | undefined, fallback: number, max = Number.MAX_SAFE_INTEGER) => {
    const n = v?.value ?? fallback;
    if (!(Number.isInteger(n) && n >= 0 && n <= max)) errors.push(`${where}.${field}: ${n} must be an integer within 0..${max}`);
    return n;
  };
  const ms = (field: keyof OutlierDetectionJson, v: XdsDuration | undefined, fallback: number, min = 0) => {
    const n = v ? durationMs(v) : fallback;
    if (!(n >= min)) errors.push(`${where}.${field}: must be at least ${min} ms`);
    return n;
  };
  const always = json.always_eject_one_host;
  const config: OutlierConfig = {
    consecutive5xx: num('consecutive_5xx', json.consecutive_5xx, 5),
    consecutiveGatewayFailure: num('consecutive_gateway_failure', json.consecutive_gateway_failure, 5),
    consecutiveLocalOriginFailure: num('consecutive_local_origin_failure', json.consecutive_local_origin_failure, 5),
    splitExternalLocalOriginErrors: json.split_external_local_origin_errors === true,
    intervalMs: ms('interval', json.interval, 10_000, 1),
    baseEjectionTimeMs: ms('base_ejection_time', json.base_ejection_time, 30_000, 1),
    // Unset: 300 s or base_ejection_time, whichever is larger (Envoy).
    maxEjectionTimeMs: ms('max_ejection_time', json.max_ejection_time, Math.max(300_000, json.base_ejection_time ? durationMs(json.base_ejection_time) : 0), 1),
    maxEjectionTimeJitterMs: ms('max_ejection_time_jitter', json.max_ejection_time_jitter, 0),
    maxEjectionPercent: Math.min(100, num('max_ejection_percent', json.max_ejection_percent, 10)),
    alwaysEjectOneHost: typeof always === 'boolean' ? always : always?.value === true,
    enforcing: {
      consecutive_5xx: num('enforcing_consecutive_5xx', json.enforcing_consecutive_5xx, 100, 100),
      // Envoy's default: gateway failures are detected and counted, but eject nobody.
      consecutive_gateway_failure: num('enforcing_consecutive_gateway_failure', json.enforcing_consecutive_gateway_failure, 0, 100),
      consecutive_local_origin_failure: num('enforcing_consecutive_local_origin_failure', json.enforcing_consecutive_local_origin_failure, 100, 100),
      success_rate: num('enforcing_success_rate', json.enforcing_success_rate, 100, 100),
    },
    successRateMinimumHosts: num('success_rate_minimum_hosts', json.success_rate_minimum_hosts, 5),
    successRateRequestVolume: num('success_rate_request_volume', json.success_rate_request_volume, 100),
    successRateStdevFactor: num('success_rate_stdev_factor', json.success_rate_stdev_factor, 1900),
  };
  if (config.maxEjectionTimeMs < config.baseEjectionTimeMs && json.max_ejection_time) {
    errors.push(`${where}.max_ejection_time: must not be less than base_ejection_time`);
  }
  if (errors.length > 0) throw new LbError('OUTLIER_CONFIG', errors.join('; '));
  return config;
}
