// `proxy-config endpoint`: istioctl's endpoint table (ENDPOINT, STATUS, OUTLIER CHECK, CLUSTER) and its
// filters (--cluster, --address, --port, --status), from the proxy's own admin `/clusters?format=json`
// when it can be reached, else from the EDS section of the control plane's config dump; -o json keeps
// only the EDS endpoints the filters name.
import { formatTable } from './table.ts';

type Obj = Record<string, unknown>;

export interface EndpointFilter {
  /** A cluster's full name (`outbound|9898|canary|podinfo.podinfo.svc.cluster.local`). */
  cluster?: string;
  address?: string;
  port?: string;
  /** HEALTHY, UNHEALTHY, ... (any case). */
  status?: string;
}

const list = (o: Obj, key: string) => (Array.isArray(o[key]) ? (o[key] as Obj[]) : []);

function socketOf(lb: Obj): Obj {
  return ((((lb['endpoint'] as Obj | undefined)?.['address'] as Obj | undefined)?.['socket_address'] as Obj | undefined) ?? {}) as Obj;
}

/**
 * The app's port behind a meshed endpoint: its socket is the workload's tunnel (15008, mapped), and
 * `filter_metadata.outrigger.target_port` the port the request is for.
 */
function targetPortOf(lb: Obj): string | undefined {
  const outrigger = ((lb['metadata'] as Obj | undefined)?.['filter_metadata'] as Obj | undefined)?.['outrigger'] as Obj | undefined;
  const plain = outrigger?.['target_port'];
  const struct = ((outrigger?.['fields'] as Obj | undefined)?.['target_port'] as Obj | undefined)?.['numberValue'];
  const port = plain ?? struct;
  return port === undefined ? undefined : String(port);
}

/** What EDS does not say is healthy: Envoy takes an endpoint without a health status as usable. */
const statusOf = (lb: Obj) => String(lb['health_status'] ?? 'HEALTHY');

function matches(lb: Obj, f: EndpointFilter): boolean {
  const sa = socketOf(lb);
  if (f.address !== undefined && String(sa['address']) !== f.address) return false;
  if (f.port !== undefined && String(sa['port_value']) !== f.port && targetPortOf(lb) !== f.port) return false;
  if (f.status !== undefined && statusOf(lb) !== f.status.toUpperCase()) return false;
  return true;
}

/** The EDS section with only the clusters and endpoints the filters name; a cluster left with none is dropped when an endpoint filter is given. */
export function filterEndpoints(section: Obj, f: EndpointFilter): Obj {
  const perEndpoint = f.address !== undefined || f.port !== undefined || f.status !== undefined;
  const configs = list(section, 'dynamic_endpoint_configs')
    .filter((e) => f.cluster === undefined || (e['endpoint_config'] as Obj | undefined)?.['cluster_name'] === f.cluster)
    .map((e) => {
      if (!perEndpoint) return e;
      const cla = e['endpoint_config'] as Obj;
      const endpoints = list(cla, 'endpoints')
        .map((loc) => ({ ...loc, lb_endpoints: list(loc, 'lb_endpoints').filter((lb) => matches(lb, f)) }))
        .filter((loc) => loc.lb_endpoints.length > 0);
      return { ...e, endpoint_config: { ...cla, endpoints } };
    })
    .filter((e) => !perEndpoint || list(e['endpoint_config'] as Obj, 'endpoints').length > 0);
  return { ...section, dynamic_endpoint_configs: configs };
}

/** A host in Envoy's admin `/clusters?format=json` (envoy.admin.v3.HostStatus), as far as the table reads it. */
interface HostStatus {
  address?: { socket_address?: { address?: string; port_value?: number } };
  health_status?: { eds_health_status?: string; failed_outlier_check?: boolean };
}

/** Envoy's admin `/clusters?format=json` (envoy.admin.v3.Clusters). */
export interface AdminClusters {
  cluster_statuses?: { name: string; host_statuses?: HostStatus[] }[];
}

type Row = { address: string; port: number; status: string; outlier: string; cluster: string };

const header = ['ENDPOINT', 'STATUS', 'OUTLIER CHECK', 'CLUSTER'];

/** istioctl's order: by address, then port, then cluster. */
function table(rows: Row[]): string {
  rows.sort((a, b) => (a.address === b.address ? (a.port === b.port ? (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0) : a.port - b.port) : a.address < b.address ? -1 : 1));
  return `${formatTable(header, rows.map((r) => [r.port ? `${r.address}:${r.port}` : r.address, r.status, r.outlier, r.cluster]))}\n`;
}

/**
 * The control plane's view (an EDS section, already filtered): it knows no outlier detection, which
 * runs in the proxy, so OUTLIER CHECK is `-`.
 */
export function renderEndpointTable(section: Obj): string {
  const rows = list(section, 'dynamic_endpoint_configs').flatMap((e) => {
    const cla = e['endpoint_config'] as Obj;
    return list(cla, 'endpoints').flatMap((loc) =>
      list(loc, 'lb_endpoints').map((lb) => {
        const sa = socketOf(lb);
        return { address: String(sa['address']), port: Number(sa['port_value'] ?? 0), status: statusOf(lb), outlier: '-', cluster: String(cla['cluster_name']) };
      }),
    );
  });
  return table(rows);
}

/** `cluster\0address:port` → the app port a meshed endpoint's tunnel carries, from the EDS section. */
function targetPorts(section: Obj): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of list(section, 'dynamic_endpoint_configs')) {
    const cla = e['endpoint_config'] as Obj;
    for (const loc of list(cla, 'endpoints')) {
      for (const lb of list(loc, 'lb_endpoints')) {
        const port = targetPortOf(lb);
        const sa = socketOf(lb);
        if (port !== undefined) out.set(`${String(cla['cluster_name'])}\0${sa['address']}:${sa['port_value']}`, port);
      }
    }
  }
  return out;
}

/**
 * istioctl's table from what the proxy itself holds (`/clusters?format=json`): STATUS its EDS health
 * (`UNKNOWN` when the proxy gives none, as istioctl prints proto3's omitted default),
 * OUTLIER CHECK `FAILED` while its outlier detection ejects the host, else `OK`. Filters as istioctl's
 * (address, cluster and status in any case); `--port` also matches the app port behind a meshed
 * endpoint's tunnel, read from the control plane's EDS section.
 */
export function renderLiveEndpointTable(clusters: AdminClusters, f: EndpointFilter, eds: Obj = {}): string {
  const apps = f.port !== undefined ? targetPorts(eds) : new Map<string, string>();
  const same = (a: string, b: string | undefined) => b === undefined || a.toLowerCase() === b.toLowerCase();
  const rows: Row[] = [];
  for (const c of clusters.cluster_statuses ?? []) {
    if (!same(c.name, f.cluster)) continue;
    for (const h of c.host_statuses ?? []) {
      const sa = h.address?.socket_address ?? {};
      const row = { address: sa.address ?? '', port: sa.port_value ?? 0, status: h.health_status?.eds_health_status ?? 'UNKNOWN', outlier: h.health_status?.failed_outlier_check ? 'FAILED' : 'OK', cluster: c.name };
      if (!same(row.address, f.address) || !same(row.status, f.status)) continue;
      if (f.port !== undefined && String(row.port) !== f.port && apps.get(`${c.name}\0${row.address}:${row.port}`) !== f.port) continue;
      rows.push(row);
    }
  }
  return table(rows);
}
