// `outrigger proxy-status`: per proxy and xDS type, whether it has what the control plane last sent
// (SYNCED), has not acknowledged it (STALE, with any NACK reason) or was never sent it (NOT SENT).
// `proxy-status PROXY` compares what the control plane sent that proxy with what the proxy runs, as
// istioctl's does: `Clusters Match`, `Listeners Match`, `Routes Match`, or a diff.
import { type Command, Option } from 'commander';
import type { ProxySync, TypeSync } from '../controlplane/sync-report.ts';
import type { MeshState } from '../runtime/state.ts';
import type { ConfigDump, TypeComparison } from './config-compare.ts';
import { formatTable } from './table.ts';

interface Flags {
  output: string;
  controlPlane?: string;
  dir?: string;
  namespace?: string;
}

export function define(program: Command): void {
  program
    .command('proxy-status')
    .description("xDS sync state of every connected proxy (SYNCED, STALE, NOT SENT) with NACK reasons; with PROXY, the control plane's config for it against the proxy's own")
    .argument('[proxy]', 'one proxy (pod.namespace, deploy/NAME or pod/NAME with -n, node id, or a unique prefix): diff its clusters, listeners and routes')
    .option('-n, --namespace <ns>', 'namespace of a proxy named without one')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml (the same data as json)').choices(['table', 'json', 'yaml']).default('table'))
    .option('--control-plane <address>', "debug API address, e.g. a standalone control plane's 127.0.0.1:15014 (default: the running mesh's)")
    .option('--dir <dir>', 'the state directory of the mesh (default .outrigger)')
    .addHelpText(
      'after',
      `
Examples:
  outrigger proxy-status                                   every proxy, per type; VERSION is the proxy's own version
  outrigger proxy-status podinfo-stable-0.podinfo          Clusters Match, Listeners Match, Routes Match, or a diff
  outrigger proxy-status deploy/istio-ingressgateway -n istio-system

A type's version (-o json: sentVersion) is the config version at which that type last changed for the
proxy; a SYNCED proxy holds all that the mesh's current config version (printed under the table, and by
outrigger status) produces for it.`,
    )
    .action(async (ref: string | undefined, flags: Flags) => {
      const { fetchDebug } = await import('../controlplane/debug-client.ts');
      const { asTyped, proxyQuery, readMeshState } = await import('./proxy-admin-address.ts');
      const { controlPlaneOf } = await import('./mesh-state.ts');
      const query = ref === undefined ? undefined : proxyQuery(ref, flags.namespace);
      // Outside the catch: no mesh here, or a --dir that is a file, ends the command as it ends `status`.
      const { address, state } = controlPlaneOf(flags.controlPlane, flags.dir);
      try {
        const proxies = await fetchDebug<ProxySync[]>(address, '/debug/syncz');
        if (ref !== undefined && query !== undefined) {
          const proxy = findProxy(proxies, query);
          const controlPlane = await fetchDebug<ConfigDump>(address, `/debug/config_dump?proxyID=${encodeURIComponent(proxy.proxy)}`);
          const own = await ownDump(proxy.name, state ?? readMeshState(process.cwd(), flags.dir));
          const { compareConfigDumps, renderComparison } = await import('./config-compare.ts');
          const types = compareConfigDumps(controlPlane, own);
          await print(flags.output, { proxy: proxy.name, types }, () => renderComparison(types));
          return;
        }
        const config = await fetchDebug<{ version: string }>(address, '/debug/configz').catch(() => undefined);
        await print(flags.output, proxies, () => renderProxyStatus(proxies, config?.version));
      } catch (err) {
        const message = (err as Error).message;
        process.stderr.write(`outrigger proxy-status: ${ref !== undefined && query !== undefined ? asTyped(message, ref, flags.namespace, query) : message}\n`);
        process.exitCode = 1;
      }
    });
}

async function print(output: string, data: ProxySync[] | { proxy: string; types: TypeComparison[] }, table: () => string): Promise<void> {
  if (output === 'yaml') {
    // Loaded only here: --help loads every command module.
    const { stringify } = await import('yaml');
    process.stdout.write(stringify(data));
  } else process.stdout.write(output === 'json' ? `${JSON.stringify(data, null, 2)}\n` : table());
}

/**
 * The proxy's own config dump (its admin API, where the mesh state says it is; in netns mode through a
 * forward into its pod, closed once read), or an error saying why there is none.
 */
async function ownDump(name: string, state: MeshState | undefined): Promise<ConfigDump> {
  const { fetchProxyDump } = await import('./proxy-config.ts');
  const dump = await fetchProxyDump(name, state);
  if (dump) return dump;
  const why = !state
    ? 'no mesh state here names its admin port (give --dir of the mesh it runs in)'
    : state.mode === 'netns' && process.getuid?.() !== 0
      ? "its admin API is on its pod's loopback, which only root can enter (netns mode)"
      : 'its admin API does not answer';
  throw Object.assign(new Error(`cannot read ${name}'s own config to compare: ${why}`), { code: 'PROXY_UNREACHABLE' });
}

/**
 * The connected proxy `query` names (a node id, `pod.namespace`, or a unique prefix of either, as the
 * debug API matches), or an error naming the known proxies.
 */
export function findProxy(proxies: readonly ProxySync[], query: string): ProxySync {
  const exact = proxies.filter((p) => p.proxy === query || p.name === query);
  if (exact.length) return exact.at(-1) as ProxySync;
  const prefixed = proxies.filter((p) => p.proxy.startsWith(query) || p.name.startsWith(query));
  const names = [...new Set(prefixed.map((p) => p.name))].sort();
  if (names.length === 1) return prefixed.at(-1) as ProxySync;
  if (names.length > 1) throw Object.assign(new Error(`"${query}" matches more than one proxy: ${names.join(', ')}; name one (pod.namespace)`), { code: 'PROXY_AMBIGUOUS' });
  const known = [...new Set(proxies.map((p) => p.name))].sort();
  throw Object.assign(new Error(`no connected proxy matches "${query}"; known: ${known.join(', ') || 'none'}`), { code: 'PROXY_NOT_FOUND' });
}

function age(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m`;
  return `${Math.floor(ms / 3_600_000)}h`;
}

function cell(t: TypeSync | undefined): string {
  if (!t) return 'NOT SENT';
  const status = t.status === 'STALE' && t.lastNack && t.lastNack.version === t.sentVersion ? 'STALE (NACK)' : t.status;
  return t.status === 'NOT SENT' ? status : `${status} (${age(t.sinceChangeMs)})`;
}

const types = ['CDS', 'LDS', 'EDS', 'RDS', 'SDS'];
const synced = (p: ProxySync) => types.every((t) => p.types[t]?.status !== 'STALE');

/**
 * istioctl's table: per type the sync state and the time since it last changed, and VERSION the
 * proxy's own version (as istioctl's VERSION column). Under it, the mesh's config version when known:
 * a type's version is the one at which it last changed for that proxy, often older than the mesh's
 * though the proxy is SYNCED, so the table says which version SYNCED refers to rather than show one.
 */
export function renderProxyStatus(proxies: readonly ProxySync[], configVersion?: string): string {
  const rows = [...proxies].sort((a, b) => a.name.localeCompare(b.name)).map((p) => [p.name, ...types.map((t) => cell(p.types[t])), p.proxyVersion ?? '-']);
  let out = `${formatTable(['NAME', ...types, 'VERSION'], rows)}\n`;
  if (configVersion !== undefined && proxies.length > 0) {
    const n = proxies.filter(synced).length;
    const waiting = n < proxies.length ? '; STALE types wait for an ACK' : '';
    out += `\nconfig version ${configVersion}: ${n} of ${proxies.length} prox${proxies.length === 1 ? 'y' : 'ies'} SYNCED to it${waiting}\n`;
  }
  const nacks = proxies.flatMap((p) => types.flatMap((t) => (p.types[t]?.lastNack ? [`${p.name} ${t} ${p.types[t]?.lastNack?.version}: ${p.types[t]?.lastNack?.message}`] : [])));
  if (nacks.length) out += `\nNACKs:\n${nacks.map((n) => `  ${n}`).join('\n')}\n`;
  return out;
}
