// `outrigger tls-check [WORKLOAD] [SERVICE]`: per service port, the client TLS mode against the server's
// mTLS mode and whether they conflict (what `istioctl authn tls-check` showed). Offline from files with
// `-f DIR` through the translate functions, or live from the control plane's pushed config.
import { type Command, Option } from 'commander';
import type { AnyResource, DestinationRule, PeerAuthentication } from '../config/resource.ts';
import { buildSnapshot, type MeshSnapshot, serviceKey } from '../model/snapshot.ts';
import { effectiveMtls, type EffectiveMtlsMode } from '../translate/peer-authentication.ts';
import { clientTlsFor } from '../explain/upstream-trace.ts';
import type { EnvoyCluster } from '../proxy/config/envoy-shapes.ts';
import { effectivePolicy } from '../translate/destination-policy.ts';
import { isHttp } from '../model/protocol.ts';

export interface TlsCheckRow {
  host: string;
  port: number;
  /** ISTIO_MUTUAL, DISABLE, SIMPLE, MUTUAL, or AUTO (auto mTLS decides per endpoint). */
  client: string;
  /** The server mode, or `mixed` when the workloads behind the service disagree. */
  server: EffectiveMtlsMode | 'mixed' | '-';
  conflict: boolean;
  authn: string;
  destinationRule: string;
}

function clientMode(rules: readonly DestinationRule[], port: number): { mode: string; rule: string } {
  for (const dr of rules) {
    // As translation merges it: a port-level entry for the port replaces the rule's level, tls included.
    const mode = effectivePolicy(dr, '', port).tls?.mode;
    if (mode) return { mode, rule: `${dr.metadata.namespace}/${dr.metadata.name}` };
  }
  return { mode: 'AUTO', rule: '-' };
}

/**
 * Whether a client mode and a server mode cannot talk (AUTO adapts, so it never conflicts). `httpSidecar`:
 * the port is declared HTTP and served by sidecars, whose inbound chains there take no TLS but the mesh's
 * (Istio's "plain TLS" passthrough is for TCP ports only), so SIMPLE and MUTUAL fail on any mode.
 */
export function conflicts(client: string, server: EffectiveMtlsMode, httpSidecar = false): boolean {
  if (client === 'AUTO') return false;
  if (client === 'ISTIO_MUTUAL') return server === 'DISABLE';
  if (httpSidecar && (client === 'SIMPLE' || client === 'MUTUAL')) return true;
  // Plaintext, or TLS with foreign certificates, cannot pass a STRICT mesh port.
  return server === 'STRICT';
}

/** Rows whose port is declared HTTP and served by sidecars (kept off the printed row). */
const httpSidecarRows = new WeakSet<TlsCheckRow>();

/** The table for a snapshot, optionally narrowed to services whose host contains `service`. */
export function computeTlsCheck(snapshot: MeshSnapshot, service?: string): TlsCheckRow[] {
  const policies = snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
  const rows: TlsCheckRow[] = [];
  for (const svc of snapshot.services) {
    if (service && !svc.hostname.startsWith(service) && `${svc.name}.${svc.namespace}` !== service) continue;
    const workloads = snapshot.endpointsByService.get(serviceKey(svc)) ?? [];
    const rules = snapshot.destinationRulesByHost.get(svc.hostname) ?? [];
    for (const p of svc.ports) {
      const modes = new Set<EffectiveMtlsMode>();
      const deciders = new Set<string>();
      // A host outside the mesh has no server side that PeerAuthentication selects: nothing to conflict with.
      const external = svc.location === 'MESH_EXTERNAL';
      for (const w of external ? [] : workloads) {
        const m = effectiveMtls(policies, { namespace: w.namespace, labels: w.labels, port: snapshot.targetPortFor(p, w) }, snapshot.mesh.rootNamespace);
        modes.add(m.mode);
        deciders.add(m.decidedBy.replace(/^PeerAuthentication /, ''));
      }
      if (workloads.length === 0 && !external) {
        const m = effectiveMtls(policies, { namespace: svc.namespace, labels: svc.selector ?? {}, port: p.targetPort }, snapshot.mesh.rootNamespace);
        modes.add(m.mode);
        deciders.add(m.decidedBy.replace(/^PeerAuthentication /, ''));
      }
      const server = modes.size === 1 ? [...modes][0]! : modes.size === 0 ? '-' : 'mixed';
      const client = clientMode(rules, p.port);
      const httpSidecar = !external && isHttp(p.protocol) && workloads.some((w) => w.tunnelAddress !== undefined);
      const conflict = [...modes].some((m) => conflicts(client.mode, m, httpSidecar));
      const row: TlsCheckRow = { host: svc.hostname, port: p.port, client: client.mode, server, conflict, authn: [...deciders].join(','), destinationRule: client.rule };
      if (httpSidecar) httpSidecarRows.add(row);
      rows.push(row);
    }
  }
  return rows;
}

/**
 * Client modes as pushed: each outbound cluster's transport socket, from the clusters section of a
 * config_dump (`dynamic_active_clusters` / `static_clusters`). Only clusters count: a route's weighted
 * clusters carry the same names and no TLS at all.
 */
export function clientModesFromConfigDump(dump: unknown): Map<string, string> {
  const out = new Map<string, string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const item of v) visit(item);
      return;
    }
    if (!v || typeof v !== 'object') return;
    const o = v as Record<string, unknown>;
    for (const key of ['dynamic_active_clusters', 'static_clusters']) {
      const list = o[key];
      if (!Array.isArray(list)) continue;
      for (const entry of list as { cluster?: Record<string, unknown> }[]) {
        const name = entry?.cluster?.['name'];
        if (typeof name === 'string' && name.startsWith('outbound|')) out.set(name, clientTlsFor(entry.cluster as unknown as EnvoyCluster, undefined).mode);
      }
    }
    for (const item of Object.values(o)) visit(item);
  };
  visit(dump);
  return out;
}

/**
 * The client side of each row from what was really pushed: the service port's own cluster
 * (`outbound|PORT||HOST`), not a subset's, whose rule may differ.
 */
export function applyPushedModes(rows: TlsCheckRow[], pushed: ReadonlyMap<string, string>): void {
  for (const r of rows) {
    const mode = pushed.get(`outbound|${r.port}||${r.host}`);
    if (!mode) continue;
    r.client = mode;
    r.conflict = r.server !== '-' && r.server !== 'mixed' && conflicts(mode, r.server, httpSidecarRows.has(r));
  }
}

function print(rows: readonly TlsCheckRow[], json: boolean, formatTable: (h: string[], r: string[][]) => string): void {
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  const body = rows.map((r) => [`${r.host}:${r.port}`, r.conflict ? 'CONFLICT' : 'OK', r.server, r.client, r.authn, r.destinationRule]);
  console.log(formatTable(['HOST:PORT', 'STATUS', 'SERVER', 'CLIENT', 'AUTHN POLICY', 'DESTINATION RULE'], body));
}

export function define(program: Command): void {
  program
    .command('tls-check')
    .description('client TLS mode vs server mTLS mode per service port, and whether they conflict')
    .argument('[workload]', 'the client proxy whose pushed config is read (live mode): POD.NAMESPACE, NAMESPACE/POD, or deploy/NAME or pod/NAME with -n')
    .argument('[service]', 'only this service (host prefix or NAME.NAMESPACE)')
    // Repeatable rather than variadic: `tls-check -f DIR SERVICE` keeps SERVICE an argument.
    .option('-f, --filename <path>', 'compute offline from this YAML file or directory (repeatable)', (v: string, prev: string[] | undefined) => [...(prev ?? []), v])
    .option('-n, --namespace <ns>', 'namespace of a workload named without one')
    .option('--dir <dir>', 'the state directory of the running mesh')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (workload: string | undefined, service: string | undefined, opts: { filename?: string[]; namespace?: string; dir?: string; output: string }) => {
      const { formatTable } = await import('./table.ts');
      const { loadPaths } = await import('../config/load.ts');
      if (opts.filename) {
        const { resources, diagnostics } = loadPaths(opts.filename);
        const errors = diagnostics.filter((d) => d.severity === 'error');
        for (const d of errors) console.error(`${d.span?.file ?? ''}: ${d.code} ${d.message}`);
        const filter = service ?? workload;
        const rows = computeTlsCheck(buildSnapshot(resources as AnyResource[], [], 'offline'), filter);
        // Files that did not load, or a filter nothing matches, are an answer of their own: not an empty table.
        if (errors.length) {
          console.error(`outrigger tls-check: ${errors.length} error(s) in the files (see \`outrigger analyze -f\`)`);
          process.exitCode = 1;
          if (rows.length === 0) return;
        }
        if (filter && rows.length === 0) return unmatched(filter, '; offline, give only the service');
        print(rows, opts.output === 'json', formatTable);
        // A conflict is what tls-check looks for: exit 1, as live mode does.
        if (rows.some((r) => r.conflict)) process.exitCode = 1;
        return;
      }
      const { runningMesh } = await import('./mesh-state.ts');
      const { state } = runningMesh(opts.dir);
      // The server side from the config the control plane serves (its directories, as it loads them);
      // the client side, below, from what was really pushed to the workload.
      const { resources } = loadPaths(state.configDirs);
      const rows = computeTlsCheck(buildSnapshot(resources, [], 'live'), service);
      if (service && rows.length === 0) return unmatched(service, '');
      if (workload) {
        // What was really pushed wins over what the files say for the client side. An unknown proxy is
        // the control plane's 404, said as it says it.
        const { fetchDebug } = await import('../controlplane/debug-client.ts');
        // As proxy-status and proxy-config name a proxy: `deploy/NAME -n NS` is its first pod, NAME-0.NS.
        const { asTyped, proxyQuery } = await import('./proxy-admin-address.ts');
        const proxy = proxyQuery(workload, opts.namespace);
        const dump = await fetchDebug<unknown>(state.controlPlane.debugAddress, `/debug/config_dump?proxyID=${encodeURIComponent(proxy)}`).catch((err: Error) => {
          console.error(`outrigger tls-check: ${asTyped(err.message, workload, opts.namespace, proxy)}`);
          return undefined;
        });
        if (dump === undefined) {
          process.exitCode = 1;
          return;
        }
        applyPushedModes(rows, clientModesFromConfigDump(dump));
      }
      print(rows, opts.output === 'json', formatTable);
      if (rows.some((r) => r.conflict)) process.exitCode = 1;
    });
}

/** A service filter nothing matches: said, exit 1, no empty table. */
function unmatched(filter: string, hint: string): void {
  console.error(`outrigger tls-check: no service matches "${filter}" (a host prefix, or NAME.NAMESPACE${hint})`);
  process.exitCode = 1;
}
