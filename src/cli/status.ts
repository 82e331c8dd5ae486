// `outrigger status`: what the local mesh runs, where, and how it is doing.
import { type Command, Option } from 'commander';
import { type Diagnostic, headline } from '../config/diagnostic.ts';
import type { HeldResource } from '../controlplane/config-store.ts';
import { fetchDebug } from '../controlplane/debug-client.ts';
import type { ProxySync } from '../controlplane/sync-report.ts';
import type { ComponentState } from '../runtime/state.ts';
import { gatewayApiLines } from '../runtime/gateway-api-urls.ts';
import { runningMesh } from './mesh-state.ts';
import { proxyName } from './proxy-admin-address.ts';
import { formatTable } from './table.ts';

export function define(program: Command): void {
  program
    .command('status')
    .description('show the running local mesh: control plane, gateways, workloads, their proxies, ports and health')
    .option('--dir <dir>', 'the state directory of the mesh', undefined)
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (opts: { dir?: string; output: string }) => {
      const { state } = runningMesh(opts.dir);
      const config = await configOf(state.controlPlane.debugAddress);
      if (opts.output === 'json') {
        console.log(JSON.stringify({ ...state, config }, (k, v) => (k === 'env' ? undefined : v), 2));
        return;
      }
      console.log(`mesh: running since ${state.startedAt} (pid ${state.pid}, ${state.mode} mode)`);
      console.log(`control plane: xDS ${state.controlPlane.xdsAddress}, debug http://${state.controlPlane.debugAddress}`);
      const cp = state.controlPlane;
      if (cp.xdsTlsAddress) console.log(`xDS over TLS: ${cp.xdsTlsAddress} for proxies on other hosts (--xds-tls --root-cert ${cp.rootCertFile ?? '.outrigger/ca/root-cert.pem'})`);
      if (state.ingressUrl) console.log(`ingress: ${state.ingressUrl}`);
      for (const line of gatewayApiLines(state)) console.log(line);
      if (state.controlPlane.dashboardUrl) console.log(`dashboard: ${state.controlPlane.dashboardUrl}`);
      console.log('');
      const absent = new Set(notConnected(state.components, config));
      const rows = state.components.map((c) => [
        c.name,
        c.kind,
        c.sidecar ? 'yes' : 'no',
        // A running component whose proxy the control plane does not see is not all running.
        c.status + (c.detail ? ` (${c.detail})` : absent.has(c.name) && c.status === 'running' ? ' (proxy not connected)' : ''),
        String(c.pid ?? '-'),
        // The proxy's process: its own under --proxy-processes per-proxy, else the proxy host all share.
        String(c.proxyPid ?? '-'),
        String(c.restarts),
        Object.entries(c.ports)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      ]);
      console.log(formatTable(['NAME', 'KIND', 'SIDECAR', 'STATUS', 'PID', 'PROXY PID', 'RESTARTS', 'PORTS'], rows));
      console.log('');
      for (const line of configLines(config, [...absent])) console.log(line);
    });
}

/**
 * What the control plane serves: its config version, the resources held at their last good version,
 * and how many connected proxies hold all that version produces for them (every type SYNCED or NOT SENT).
 */
type ConfigStatus =
  | { version: string; resources: number; held: HeldResource[]; rejected?: Diagnostic[]; proxies?: { connected: number; synced: number; names?: string[] } }
  | { error: string };

/**
 * The gateways and sidecars the state says run whose proxy the control plane has no stream from (it
 * quit, or is restarting): `istio-system/istio-egressgateway-0`. None when the control plane is not asked.
 */
function notConnected(components: readonly ComponentState[], c: ConfigStatus): string[] {
  if ('error' in c || !c.proxies?.names) return [];
  const connected = new Set(c.proxies.names);
  return components
    .filter((x) => (x.kind === 'gateway' || (x.kind === 'workload' && x.sidecar)) && x.status !== 'completed' && x.status !== 'failed' && x.status !== 'stopped')
    .filter((x) => !connected.has(proxyName(x.name)))
    .map((x) => x.name);
}

async function configOf(debugAddress: string): Promise<ConfigStatus> {
  try {
    const c = await fetchDebug<{ version: string; resources: unknown[]; held: HeldResource[]; diagnostics?: Diagnostic[] }>(debugAddress, '/debug/configz');
    const sync = await fetchDebug<ProxySync[]>(debugAddress, '/debug/syncz').catch(() => undefined);
    const proxies = sync && { connected: sync.length, synced: sync.filter((p) => Object.values(p.types).every((t) => t.status !== 'STALE')).length, names: sync.map((p) => p.name) };
    const rejected = rejectedErrors(c.held, c.diagnostics ?? []);
    return { version: c.version, resources: c.resources.length, held: c.held, ...(rejected.length ? { rejected } : {}), ...(proxies ? { proxies } : {}) };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/**
 * The proxies against the config version. A proxy's own per-type versions (proxy-status -o json) are
 * those at which each type last changed for it, often older than the mesh's: said here so that an
 * older version there does not read as out of sync.
 */
function proxiesLine(c: { version: string; proxies?: { connected: number; synced: number } }, absent: readonly string[]): string[] {
  if (!c.proxies) return [];
  const { connected, synced } = c.proxies;
  const missing = absent.length > 0 ? `; not connected: ${absent.join(', ')}` : '';
  if (connected === 0) return [`proxies: none connected${missing}`];
  const state = synced === connected ? `all SYNCED to config version ${c.version}` : `${synced} SYNCED to config version ${c.version}, ${connected - synced} waiting to ACK (outrigger proxy-status)`;
  return [`proxies: ${connected} connected, ${state}${missing}`];
}

/**
 * A resource whose edit does not validate keeps serving its last good version: the mesh runs on, but
 * not on what the file now says, so status names each with the errors that hold it.
 */
export function configLines(c: ConfigStatus, absent: readonly string[] = []): string[] {
  if ('error' in c) return [`config: unknown (${c.error})`];
  const head = `config: version ${c.version}, ${c.resources} resource${c.resources === 1 ? '' : 's'}`;
  const rejected = c.rejected ?? [];
  if (c.held.length === 0 && rejected.length === 0) return [`${head}, all as written`, ...proxiesLine(c, absent)];
  const lines = [c.held.length ? `${head}; ${c.held.length} held at the last version that validated (fix the file, it reloads by itself):` : `${head}; not all as written:`];
  for (const h of c.held) {
    lines.push(`  ${h.key} (from ${h.file})`);
    for (const d of h.diagnostics.filter((x: Diagnostic) => x.severity === 'error')) lines.push(`    ${headline(d)}`);
  }
  // Invalid from their first version (a new resource, a file that never parsed): nothing of them is served.
  if (rejected.length) lines.push(`  not served, invalid with no earlier version that validated (fix the file, it reloads by itself):`);
  for (const d of rejected) lines.push(`    ${headline(d)}`);
  return [...lines, ...proxiesLine(c, absent)];
}

/** The errors that hold no resource at its last good version: what they name is not served at all. */
function rejectedErrors(held: readonly HeldResource[], diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const holding = new Set(held.flatMap((h) => h.diagnostics.map(headline)));
  return diagnostics.filter((d) => d.severity === 'error' && !holding.has(headline(d)));
}
