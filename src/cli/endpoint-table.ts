// `proxy-config endpoint`: istioctl's endpoint table and its filters (--cluster, --address, --port,
// --status), over the EDS section of a config dump; -o json keeps only the endpoints the filters name.
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

export function renderEndpointTable(section: Obj): string {
  const rows = list(section, 'dynamic_endpoint_configs').flatMap((e) => {
    const cla = e['endpoint_config'] as Obj;
    return list(cla, 'endpoints').flatMap((loc) =>
      list(loc, 'lb_endpoints').map((lb) => {
        const sa = socketOf(lb);
        return [`${sa['address']}:${sa['port_value']}`, statusOf(lb), String(cla['cluster_name'])];
      }),
    );
  });
  return `${formatTable(['ENDPOINT', 'STATUS', 'CLUSTER'], rows)}\n`;
}
