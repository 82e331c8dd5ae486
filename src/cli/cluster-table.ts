// `proxy-config cluster`: istioctl's cluster table, its filters (--fqdn, --port, --subset, --direction)
// and a wide view with each cluster's circuit breaker and outlier detection, as the proxy received them.
import { durationMs, formatDurationMs, type XdsDuration } from '../xds/duration.ts';
import { formatTable } from './table.ts';

type Obj = Record<string, unknown>;

export interface ClusterFilter {
  fqdn?: string;
  port?: string;
  subset?: string;
  direction?: string;
}

/** Istio writes 2^32 − 1 for every threshold a DestinationRule leaves unset: shown as no limit. */
const unlimited = 4294967295;

/** `outbound|9898|stable|podinfo...` → its parts; a name without `|` is all FQDN. */
export function clusterNameParts(name: string): { direction: string; port: string; subset: string; fqdn: string } {
  if (!name.includes('|')) return { direction: '', port: '', subset: '', fqdn: name };
  const [direction = '', port = '', subset = '', fqdn = ''] = name.split('|');
  return { direction, port, subset, fqdn };
}

export function matchesCluster(cluster: Obj, f: ClusterFilter): boolean {
  const p = clusterNameParts(String(cluster['name']));
  const fqdn = p.fqdn || String(cluster['name']);
  if (f.fqdn !== undefined && fqdn !== f.fqdn && !fqdn.startsWith(`${f.fqdn}.`)) return false;
  if (f.port !== undefined && p.port !== f.port) return false;
  if (f.subset !== undefined && p.subset !== f.subset) return false;
  if (f.direction !== undefined && p.direction !== f.direction) return false;
  return true;
}

/** A duration as people write it: 30s, 1m30s, 250ms. */
export function formatDuration(d: XdsDuration | undefined): string {
  return formatDurationMs(durationMs(d));
}

const wrapped = (v: unknown): number | undefined => {
  const n = (v as { value?: unknown } | undefined)?.value;
  return n === undefined ? undefined : Number(n);
};

/** The DEFAULT-priority thresholds and max_requests_per_connection: `key=value` pairs, unlimited ones left out. */
export function circuitBreakerText(cluster: Obj): string {
  const thresholds = ((cluster['circuit_breakers'] as Obj | undefined)?.['thresholds'] ?? []) as Obj[];
  const t = thresholds.find((x) => (x['priority'] ?? 'DEFAULT') === 'DEFAULT') ?? {};
  const parts: string[] = [];
  for (const key of ['max_connections', 'max_pending_requests', 'max_requests', 'max_retries']) {
    const n = wrapped(t[key]);
    if (n !== undefined && n !== unlimited) parts.push(`${key}=${n}`);
  }
  const options = (cluster['typed_extension_protocol_options'] as Obj | undefined)?.['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'] as Obj | undefined;
  const common = options?.['common_http_protocol_options'] as Obj | undefined;
  const perConnection = wrapped(common?.['max_requests_per_connection']);
  if (perConnection !== undefined) parts.push(`max_requests_per_connection=${perConnection}`);
  if (common?.['idle_timeout']) parts.push(`idle_timeout=${formatDuration(common['idle_timeout'] as XdsDuration)}`);
  return parts.join(' ') || '-';
}

/** The outlier detection fields that decide ejection: `key=value` pairs, or '-' without detection. */
export function outlierText(cluster: Obj): string {
  const o = cluster['outlier_detection'] as Obj | undefined;
  if (!o) return '-';
  const parts: string[] = [];
  for (const key of ['consecutive_5xx', 'consecutive_gateway_failure', 'consecutive_local_origin_failure']) {
    const n = wrapped(o[key]);
    const enforcing = wrapped(o[`enforcing_${key}`]);
    if (n !== undefined && enforcing !== 0) parts.push(`${key}=${n}`);
  }
  for (const key of ['interval', 'base_ejection_time', 'max_ejection_time']) {
    if (o[key]) parts.push(`${key}=${formatDuration(o[key] as XdsDuration)}`);
  }
  const maxPercent = wrapped(o['max_ejection_percent']);
  if (maxPercent !== undefined) parts.push(`max_ejection_percent=${maxPercent}%`);
  return parts.join(' ') || '-';
}

export const destinationRuleOf = (cluster: Obj): string => {
  const istio = ((cluster['metadata'] as Obj | undefined)?.['filter_metadata'] as Obj | undefined)?.['istio'] as Obj | undefined;
  // In memory the metadata is a plain object; after a proto round trip it is a Struct with `fields`.
  const config = (istio?.['config'] ?? ((istio?.['fields'] as Obj | undefined)?.['config'] as Obj | undefined)?.['stringValue']) as string | undefined;
  const m = config ? /\/namespaces\/([^/]+)\/destination-rule\/([^/]+)$/.exec(config) : null;
  return m ? `${m[2]}.${m[1]}` : '-';
};

/**
 * istioctl's cluster table, its DESTINATION RULE column (`name.namespace` from the cluster's
 * `istio.config` metadata, `-` for none) included; `wide` adds circuit breaker and outlier detection.
 */
export function renderClusterTable(clusters: readonly Obj[], wide: boolean): string {
  const rows = clusters.map((c) => {
    const name = String(c['name']);
    const p = clusterNameParts(name);
    const base = [p.fqdn || name, p.port || '-', p.subset || '-', p.direction || '-', String(c['type'] ?? 'EDS'), destinationRuleOf(c)];
    return wide ? [...base, circuitBreakerText(c), outlierText(c)] : base;
  });
  const header = ['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE', 'DESTINATION RULE'];
  return `${formatTable(wide ? [...header, 'CIRCUIT BREAKER', 'OUTLIER DETECTION'] : header, rows)}\n`;
}
