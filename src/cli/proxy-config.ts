// `outrigger proxy-config listener|route|cluster|endpoint|secret|all PROXY`: what the control plane
// sent one proxy, from its config dump, as istioctl-style tables or Envoy JSON (-o json). `secret` asks the
// proxy's own admin API first: the workload certificate is made inside the proxy, not by the control plane.
import type { Command } from 'commander';
import { proxyAdminAddress, readMeshState } from './proxy-admin-address.ts';
import { renderSecretTable } from './secret-table.ts';
import { formatTable } from './table.ts';

type Dump = { configs: Record<string, unknown>[] };
type Obj = Record<string, unknown>;
const kinds = ['listener', 'route', 'cluster', 'endpoint', 'secret', 'all'] as const;
const sectionOf: Record<string, string> = {
  cluster: 'ClustersConfigDump',
  listener: 'ListenersConfigDump',
  route: 'RoutesConfigDump',
  endpoint: 'EndpointsConfigDump',
  secret: 'SecretsConfigDump',
};

interface Flags {
  output: string;
  controlPlane?: string;
}

export function define(program: Command): void {
  program
    .command('proxy-config')
    .description('the xDS config the control plane sent one proxy: listener, route, cluster, endpoint, secret or all')
    .argument('<kind>', kinds.join('|'))
    .argument('<proxy>', 'proxy name (pod.namespace) or node id, or a unique prefix')
    .option('-o, --output <format>', 'table or json', 'table')
    .option('--control-plane <address>', 'debug API address (default: from .outrigger/state.json, else 127.0.0.1:15014)')
    .action(async (kind: string, proxy: string, flags: Flags) => {
      if (!(kinds as readonly string[]).includes(kind)) {
        process.stderr.write(`error: kind must be one of ${kinds.join(', ')}\n`);
        process.exitCode = 2;
        return;
      }
      const { fetchDebug, resolveDebugAddress } = await import('../controlplane/debug-client.ts');
      try {
        const fromProxy = kind === 'secret' ? await fetchProxyDump(proxy) : undefined;
        const dump = fromProxy ?? (await fetchDebug<Dump>(resolveDebugAddress(flags.controlPlane), `/debug/config_dump?proxyID=${encodeURIComponent(proxy)}`));
        process.stdout.write(renderProxyConfig(kind, dump, flags.output === 'json'));
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

/** The proxy's own /config_dump through its admin port in the local mesh state; undefined if unreachable. */
export async function fetchProxyDump(proxy: string, state = readMeshState()): Promise<Dump | undefined> {
  const address = state ? proxyAdminAddress(state, proxy) : undefined;
  if (!address) return undefined;
  try {
    const res = await fetch(`http://${address}/config_dump`, { signal: AbortSignal.timeout(5_000) });
    return res.ok ? ((await res.json()) as Dump) : undefined;
  } catch {
    return undefined; // the proxy is down or restarting: the control plane's view is the fallback
  }
}

function section(dump: Dump, kind: string): Obj {
  return dump.configs.find((c) => String(c['@type']).endsWith(`.${sectionOf[kind]}`)) ?? {};
}

const list = (o: Obj, key: string) => (Array.isArray(o[key]) ? (o[key] as Obj[]) : []);

export function renderProxyConfig(kind: string, dump: Dump, json: boolean, now = Date.now()): string {
  if (json) return `${JSON.stringify(kind === 'all' ? dump : section(dump, kind), null, 2)}\n`;
  if (kind === 'all') return ['cluster', 'listener', 'route', 'endpoint', 'secret'].map((k) => renderProxyConfig(k, dump, false)).join('\n');
  const s = section(dump, kind);
  switch (kind) {
    case 'cluster': {
      const rows = list(s, 'dynamic_active_clusters').map((e) => {
        const c = e['cluster'] as Obj;
        const name = String(c['name']);
        const [dir = '', port = '', subset = '', fqdn = ''] = name.includes('|') ? name.split('|') : ['', '', '', name];
        return [fqdn || name, port || '-', subset || '-', dir || '-', String(c['type'] ?? 'EDS')];
      });
      return `${formatTable(['SERVICE FQDN', 'PORT', 'SUBSET', 'DIRECTION', 'TYPE'], rows)}\n`;
    }
    case 'listener': {
      const rows = list(s, 'dynamic_listeners').map((e) => {
        const l = (e['active_state'] as Obj)['listener'] as Obj;
        const sa = ((l['address'] as Obj | undefined)?.['socket_address'] ?? {}) as Obj;
        const chains = list(l, 'filter_chains').length;
        return [String(l['name']), String(sa['address'] ?? '-'), String(sa['port_value'] ?? '-'), l['api_listener'] ? 'API' : `${chains} filter chains`];
      });
      return `${formatTable(['NAME', 'ADDRESS', 'PORT', 'TYPE'], rows)}\n`;
    }
    case 'route': {
      const rows = list(s, 'dynamic_route_configs').flatMap((e) => {
        const rc = e['route_config'] as Obj;
        return list(rc, 'virtual_hosts').map((vh) => [String(rc['name']), String(vh['name']), list(vh, 'domains').join(','), String(list(vh, 'routes').length)]);
      });
      return `${formatTable(['NAME', 'VIRTUAL SERVICE', 'DOMAINS', 'ROUTES'], rows)}\n`;
    }
    case 'endpoint': {
      const rows = list(s, 'dynamic_endpoint_configs').flatMap((e) => {
        const cla = e['endpoint_config'] as Obj;
        return list(cla, 'endpoints').flatMap((loc) =>
          list(loc, 'lb_endpoints').map((lb) => {
            const sa = (((lb['endpoint'] as Obj)['address'] as Obj)['socket_address'] ?? {}) as Obj;
            return [`${sa['address']}:${sa['port_value']}`, String(lb['health_status'] ?? 'HEALTHY'), String(cla['cluster_name'])];
          }),
        );
      });
      return `${formatTable(['ENDPOINT', 'STATUS', 'CLUSTER'], rows)}\n`;
    }
    default:
      return renderSecretTable(list(s, 'dynamic_active_secrets'), now);
  }
}
