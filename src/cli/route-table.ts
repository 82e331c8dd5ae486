// `proxy-config route`: istioctl's route table (one row per virtual host), and a wide view with one row
// per route: its match, destination, timeout and retry policy, as the proxy received them.
import type { XdsDuration } from '../xds/duration.ts';
import { formatDuration } from './cluster-table.ts';
import { formatTable } from './table.ts';

type Obj = Record<string, unknown>;
const list = (o: Obj | undefined, key: string) => (o && Array.isArray(o[key]) ? (o[key] as Obj[]) : []);

function matchText(match: Obj | undefined): string {
  if (!match) return '-';
  const regex = (match['safe_regex'] as Obj | undefined)?.['regex'];
  const path = match['path'] !== undefined ? String(match['path']) : match['prefix'] !== undefined ? `${match['prefix']}*` : regex !== undefined ? `~${regex}` : '-';
  const headers = list(match, 'headers').map((h) => {
    const sm = (h['string_match'] ?? {}) as Obj;
    const re = (sm['safe_regex'] as Obj | undefined)?.['regex'];
    if (re !== undefined) return `${h['name']}~${re}`;
    if (sm['exact'] !== undefined) return `${h['name']}=${sm['exact']}`;
    if (sm['prefix'] !== undefined) return `${h['name']}=${sm['prefix']}*`;
    return String(h['name']);
  });
  return [path, ...headers].join(' ');
}

function destinationText(route: Obj | undefined, entry: Obj): string {
  if (!route) return entry['direct_response'] ? `direct ${(entry['direct_response'] as Obj)['status']}` : entry['redirect'] ? 'redirect' : '-';
  if (route['cluster']) return String(route['cluster']);
  const weighted = list(route['weighted_clusters'] as Obj | undefined, 'clusters');
  return weighted.map((c) => `${c['name']} ${(c['weight'] as Obj | undefined)?.['value'] ?? 0}%`).join(', ') || '-';
}

/** Envoy's route timeout: 15 s when absent, 0 disables it; a gRPC header maximum is shown beside it. */
export function timeoutText(route: Obj | undefined): string {
  if (!route) return '-';
  const t = route['timeout'] as XdsDuration | undefined;
  const base = t === undefined ? '15s' : formatDuration(t) === '0s' ? 'none' : formatDuration(t);
  const msd = route['max_stream_duration'] as Obj | undefined;
  const grpc = msd?.['grpc_timeout_header_max'] as XdsDuration | undefined;
  return grpc !== undefined ? `${base} grpc-timeout<=${formatDuration(grpc) === '0s' ? 'any' : formatDuration(grpc)}` : base;
}

/** `3 x 2s on 5xx,connect-failure,reset`, plus the host and priority predicates that steer retries. */
export function retryText(route: Obj | undefined): string {
  const rp = route?.['retry_policy'] as Obj | undefined;
  if (!rp) return '-';
  const n = Number((rp['num_retries'] as Obj | undefined)?.['value'] ?? 1);
  const perTry = rp['per_try_timeout'] ? ` x ${formatDuration(rp['per_try_timeout'] as XdsDuration)}` : '';
  const parts = [`${n}${perTry} on ${rp['retry_on'] ?? '-'}`];
  if (list(rp, 'retry_host_predicate').some((p) => p['name'] === 'envoy.retry_host_predicates.previous_hosts')) parts.push('other-host');
  const priority = rp['retry_priority'] as Obj | undefined;
  if (priority?.['name'] === 'envoy.retry_priorities.previous_priorities') parts.push('other-locality');
  return parts.join(' ');
}

/** `name.namespace` of the VirtualService a route came from (Istio's `istio.config` route metadata), else undefined. */
export function virtualServiceOf(route: Obj): string | undefined {
  const istio = ((route['metadata'] as Obj | undefined)?.['filter_metadata'] as Obj | undefined)?.['istio'] as Obj | undefined;
  // The dump carries the Struct as protobuf JSON (`fields.config.stringValue`) or as plain JSON (`config`).
  const config = ((istio?.['fields'] as Obj | undefined)?.['config'] as Obj | undefined)?.['stringValue'] ?? istio?.['config'];
  const m = typeof config === 'string' ? /\/namespaces\/([^/]+)\/virtual-service\/([^/]+)$/.exec(config) : null;
  return m ? `${m[2]}.${m[1]}` : undefined;
}

/** The virtual-host table (default) or one row per route (wide). */
export function renderRouteTable(routeConfigs: readonly Obj[], wide: boolean): string {
  if (!wide) {
    const rows = routeConfigs.flatMap((rc) =>
      list(rc, 'virtual_hosts').map((vh) => {
        const services = [...new Set(list(vh, 'routes').flatMap((r) => virtualServiceOf(r) ?? []))];
        return [String(rc['name']), String(vh['name']), list(vh, 'domains').join(','), String(list(vh, 'routes').length), services.join(',') || '-'];
      }),
    );
    return `${formatTable(['NAME', 'VIRTUAL HOST', 'DOMAINS', 'ROUTES', 'VIRTUAL SERVICE'], rows)}\n`;
  }
  const rows = routeConfigs.flatMap((rc) =>
    list(rc, 'virtual_hosts').flatMap((vh) =>
      list(vh, 'routes').map((r) => {
        const action = r['route'] as Obj | undefined;
        return [String(rc['name']), String(vh['name']), String(r['name'] ?? '-'), matchText(r['match'] as Obj | undefined), destinationText(action, r), timeoutText(action), retryText(action)];
      }),
    ),
  );
  return `${formatTable(['NAME', 'VIRTUAL HOST', 'ROUTE', 'MATCH', 'DESTINATION', 'TIMEOUT', 'RETRIES'], rows)}\n`;
}
