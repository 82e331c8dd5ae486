// `outrigger proxy-config listener|route|cluster|endpoint|secret|all PROXY`: what the control plane
// sent one proxy, from its config dump, as istioctl-style tables or Envoy JSON or YAML (-o json|yaml). `secret` asks the
// proxy's own admin API first: the workload certificate is made inside the proxy, not by the control plane;
// the endpoint table too: outlier detection (OUTLIER CHECK) runs in the proxy.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { type ClusterFilter, matchesCluster, renderClusterTable } from './cluster-table.ts';
import { type AdminClusters, type EndpointFilter, filterEndpoints, renderEndpointTable, renderLiveEndpointTable } from './endpoint-table.ts';
import { EXIT_USAGE } from './exit-codes.ts';
import { formatHostPort } from '../runtime/reachable-address.ts';
import type { MeshState } from '../runtime/state.ts';
import { envoyJson } from '../xds/envoy-json.ts';
import { asTyped, openProxyAdmin, proxyQuery, readMeshState } from './proxy-admin-address.ts';
import { renderRouteTable } from './route-table.ts';
import { renderSecretTable } from './secret-table.ts';
import { formatTable } from './table.ts';

type Dump = { configs: Record<string, unknown>[] };
type Obj = Record<string, unknown>;
const kinds = ['listener', 'route', 'cluster', 'endpoint', 'secret', 'all'] as const;
/** istioctl's plurals and short names for each kind (`listeners`, `l`, `ep`, ...). */
const kindAliases: Record<string, (typeof kinds)[number]> = {
  listeners: 'listener', l: 'listener',
  routes: 'route', r: 'route',
  clusters: 'cluster', c: 'cluster',
  endpoints: 'endpoint', ep: 'endpoint',
  secrets: 'secret', s: 'secret',
  a: 'all',
};

/** The kind a user typed, as one of `kinds` (istioctl's aliases accepted), or undefined. */
export function parseProxyConfigKind(text: string): (typeof kinds)[number] | undefined {
  const k = text.toLowerCase();
  return (kinds as readonly string[]).includes(k) ? (k as (typeof kinds)[number]) : kindAliases[k];
}

const sectionOf: Record<string, string> = {
  cluster: 'ClustersConfigDump',
  listener: 'ListenersConfigDump',
  route: 'RoutesConfigDump',
  endpoint: 'EndpointsConfigDump',
  secret: 'SecretsConfigDump',
};

interface Flags extends ClusterFilter, EndpointFilter {
  output: string;
  controlPlane?: string;
  name?: string;
}

/** How to render: `table`, `wide` (cluster limits, route retries and timeouts) or `json`, and which items (-o yaml is the JSON's data). */
export interface RenderOptions extends ClusterFilter, EndpointFilter {
  output: 'table' | 'wide' | 'json';
  /** A route configuration's name (`9898`, `http.8080`). */
  name?: string;
  /** The proxy's own `/clusters?format=json`: the endpoint table is then built from it, with OUTLIER CHECK. */
  live?: AdminClusters;
}

export function define(program: Command): void {
  program
    .command('proxy-config')
    .description('the xDS config the control plane sent one proxy: listener, route, cluster, endpoint, secret or all')
    .argument('<kind>', `${kinds.join('|')} (plurals accepted)`)
    .argument('<proxy>', 'proxy name (pod.namespace, deploy/NAME or pod/NAME with -n) or node id, or a unique prefix')
    .option('-n, --namespace <ns>', 'namespace of a proxy named without one')
    .addOption(
      new Option('-o, --output <format>', "table (istioctl's short), wide (cluster circuit breakers and outlier detection, route timeouts and retries), json or yaml (Envoy's config_dump shape)")
        .choices(['table', 'short', 'wide', 'json', 'yaml'])
        .default('table'),
    )
    .option('--fqdn <host>', 'cluster: only this service FQDN')
    .option('--port <port>', 'cluster: only this service port; endpoint: only endpoints on this port', (v: string) => {
      if (!/^\d+$/.test(v) || Number(v) > 65535) throw new InvalidArgumentError('must be a port number');
      return v;
    })
    .option('--cluster <name>', 'endpoint: only this cluster (its full name, outbound|9898|canary|podinfo.podinfo.svc.cluster.local)')
    .option('--address <ip>', 'endpoint: only endpoints at this address')
    .option('--status <status>', 'endpoint: only endpoints in this health status (HEALTHY, UNHEALTHY, ...)')
    .option('--subset <name>', 'cluster: only this subset')
    .addOption(new Option('--direction <dir>', 'cluster: only inbound or outbound').choices(['inbound', 'outbound']))
    .option('--name <name>', 'route: only this route configuration')
    .option('--control-plane <address>', "debug API address, e.g. a standalone control plane's 127.0.0.1:15014 (default: the running mesh's)")
    .option('--dir <dir>', 'the state directory of the mesh (default .outrigger)')
    .addHelpText(
      'after',
      `
secret, all and the endpoint table read the proxy's own admin API where the mesh state says it is (in
netns mode through a forward into its pod, closed once read). The endpoint table is istioctl's,
ENDPOINT STATUS OUTLIER CHECK CLUSTER, from the proxy's /clusters: OUTLIER CHECK is FAILED while its
outlier detection ejects the endpoint, else OK. Where the proxy cannot be reached, and with
--control-plane, it is the endpoints the control plane sent, OUTLIER CHECK -.`,
    )
    .action(async (kindText: string, ref: string, { namespace, dir, ...flags }: Flags & { namespace?: string; dir?: string }) => {
      const kind = parseProxyConfigKind(kindText);
      if (!kind) {
        process.stderr.write(`outrigger proxy-config: kind must be one of ${kinds.join(', ')} (or istioctl's listeners, routes, clusters, endpoints, secrets), not "${kindText}"\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const { fetchDebug } = await import('../controlplane/debug-client.ts');
      const { controlPlaneOf } = await import('./mesh-state.ts');
      // `deploy/NAME` is its first pod, `NAME-0` (a gateway's too: istio-ingressgateway-0).
      const proxy = proxyQuery(ref, namespace);
      // Outside the catch: no mesh here, or a --dir that is a file, ends the command as it ends `status`.
      const { address, state } = controlPlaneOf(flags.controlPlane, dir);
      try {
        // An explicit --control-plane asks for what that control plane sent.
        const fromProxy = (kind === 'secret' || kind === 'all') && !flags.controlPlane ? await fetchProxyDump(proxy, state) : undefined;
        const dump = fromProxy ?? (await fetchDebug<Dump>(address, `/debug/config_dump?proxyID=${encodeURIComponent(proxy)}`));
        // Only once the proxy is known: for a name no proxy has, the error alone says what is wrong.
        if (kind === 'secret' && !fromProxy) process.stderr.write("note: the proxy's own admin API is not reachable from here; showing what the control plane sent (ROOTCA), not the proxy's certificate\n");
        const { controlPlane: _, output, ...filter } = flags;
        if (output === 'yaml') {
          // The same data as -o json; the YAML library is loaded only here (--help loads every command module).
          const { stringify } = await import('yaml');
          process.stdout.write(stringify(proxyConfigData(kind, dump, filter)));
          return;
        }
        const format = output === 'json' || output === 'wide' ? output : 'table';
        // The endpoint table as istioctl's, from the proxy's own /clusters; an explicit --control-plane asks for its view.
        const live = format !== 'json' && (kind === 'endpoint' || kind === 'all') && !flags.controlPlane ? await fetchProxyClusters(proxy, state) : undefined;
        if (kind === 'endpoint' && format !== 'json' && !flags.controlPlane && !live) {
          process.stderr.write("note: the proxy's own admin API is not reachable from here; showing the endpoints the control plane sent (OUTLIER CHECK -: outlier detection runs in the proxy)\n");
        }
        process.stdout.write(renderProxyConfig(kind, dump, { output: format, ...filter, ...(live ? { live } : {}) }));
      } catch (err) {
        process.stderr.write(`outrigger proxy-config: ${asTyped((err as Error).message, ref, namespace, proxy)}\n`);
        process.exitCode = 1;
      }
    });
}

/** The proxy's own /config_dump through its admin port in the local mesh state; undefined if unreachable. */
export function fetchProxyDump(proxy: string, state = readMeshState()): Promise<Dump | undefined> {
  return fetchProxyAdmin<Dump>(proxy, state, '/config_dump');
}

/** The proxy's own /clusters?format=json through its admin port in the local mesh state; undefined if unreachable. */
export function fetchProxyClusters(proxy: string, state = readMeshState()): Promise<AdminClusters | undefined> {
  return fetchProxyAdmin<AdminClusters>(proxy, state, '/clusters?format=json');
}

/** One GET of the proxy's admin API, through a forward into its pod in netns mode, closed before returning. */
async function fetchProxyAdmin<T>(proxy: string, state: MeshState | undefined, urlPath: string): Promise<T | undefined> {
  const admin = state ? await openProxyAdmin(state, proxy).catch(() => undefined) : undefined;
  if (!admin) return undefined;
  try {
    const res = await fetch(`http://${formatHostPort(admin)}${urlPath}`, { signal: AbortSignal.timeout(5_000) });
    return res.ok ? ((await res.json()) as T) : undefined;
  } catch {
    return undefined; // the proxy is down or restarting, or its pod cannot be entered: the control plane's view is the fallback
  } finally {
    await admin.close();
  }
}

function section(dump: Dump, kind: string): Obj {
  return dump.configs.find((c) => String(c['@type']).endsWith(`.${sectionOf[kind]}`)) ?? {};
}

const list = (o: Obj, key: string) => (Array.isArray(o[key]) ? (o[key] as Obj[]) : []);

/** A section with only the clusters / route configurations the filters name. */
function filtered(kind: string, s: Obj, o: RenderOptions): Obj {
  if (kind === 'cluster') return { ...s, dynamic_active_clusters: list(s, 'dynamic_active_clusters').filter((e) => matchesCluster(e['cluster'] as Obj, o)) };
  if (kind === 'route' && o.name !== undefined) return { ...s, dynamic_route_configs: list(s, 'dynamic_route_configs').filter((e) => (e['route_config'] as Obj)['name'] === o.name) };
  if (kind === 'endpoint') return filterEndpoints(s, o);
  return s;
}

/**
 * What -o json and -o yaml print: the whole dump for `all`, else the kind's section with only the items
 * the filters name; metadata and other Struct values as plain JSON, as Envoy's config_dump prints them.
 */
export function proxyConfigData(kind: string, dump: Dump, filter: Omit<RenderOptions, 'output'>): unknown {
  return envoyJson(kind === 'all' ? dump : filtered(kind, section(dump, kind), { output: 'json', ...filter }));
}

/** `options`: `true` for JSON, `false` for tables, or the full render options. */
export function renderProxyConfig(kind: string, dump: Dump, options: boolean | RenderOptions, now = Date.now()): string {
  const o: RenderOptions = typeof options === 'boolean' ? { output: options ? 'json' : 'table' } : options;
  if (o.output === 'json') return `${JSON.stringify(proxyConfigData(kind, dump, o), null, 2)}\n`;
  if (kind === 'all') return ['cluster', 'listener', 'route', 'endpoint', 'secret'].map((k) => renderProxyConfig(k, dump, { ...o }, now)).join('\n');
  const s = filtered(kind, section(dump, kind), o);
  switch (kind) {
    case 'cluster':
      return renderClusterTable(
        list(s, 'dynamic_active_clusters').map((e) => e['cluster'] as Obj),
        o.output === 'wide',
      );
    case 'listener': {
      const rows = list(s, 'dynamic_listeners').map((e) => {
        const l = (e['active_state'] as Obj)['listener'] as Obj;
        const sa = ((l['address'] as Obj | undefined)?.['socket_address'] ?? {}) as Obj;
        const chains = list(l, 'filter_chains').length;
        return [String(l['name']), String(sa['address'] ?? '-'), String(sa['port_value'] ?? '-'), l['api_listener'] ? 'API' : `${chains} filter chains`];
      });
      return `${formatTable(['NAME', 'ADDRESS', 'PORT', 'TYPE'], rows)}\n`;
    }
    case 'route':
      return renderRouteTable(
        list(s, 'dynamic_route_configs').map((e) => e['route_config'] as Obj),
        o.output === 'wide',
      );
    case 'endpoint':
      return o.live ? renderLiveEndpointTable(o.live, o, section(dump, 'endpoint')) : renderEndpointTable(s);
    default:
      return renderSecretTable(list(s, 'dynamic_active_secrets'), now);
  }
}
