// `explain`: follows one request from its source proxy through routing, the cluster and its endpoints,
// the mTLS hop, and the destination sidecar's normalisation and authorization, to its outcome.
import type { EnvoyCluster } from '../proxy/config/envoy-shapes.ts';
import type { ConnectionInfo } from '../proxy/http/stream.ts';
import type { ChainQuery } from '../proxy/listener/select-chain.ts';
import { CompiledProxy } from './compiled-proxy.ts';
import type { ConfigSource } from './config-source.ts';
import { type HopResult, traceHop } from './hop-trace.ts';
import { authorityOf } from './parse-request.ts';
import type { ExplainRequest, ExplainTrace, HopTrace, Outcome, ProxyIdentity } from './trace.ts';
import { clientTlsFor, endpointsOf, secureNamingOf } from './upstream-trace.ts';
import { defaultGatewayTargetPorts } from '../translate/gateway-servers.ts';

export interface ExplainOptions {
  /** A workload (`podinfo-stable`, `podinfo-stable-0.podinfo`, `podinfo/podinfo-stable`) or `ingress`. */
  from: string;
  request: ExplainRequest;
  /** Draws in [0, 1) for weighted clusters, runtime fractions and faults; inject for a fixed answer. */
  random?: () => number;
}

/** Where a request from outside the mesh comes from, for policies that look at the source address. */
const OUTSIDE_CLIENT = '203.0.113.1';

function sourceListener(proxy: CompiledProxy, identity: ProxyIdentity, r: ExplainRequest, notes: string[]): { name: string; query: ChainQuery } {
  const query: ChainQuery = { destinationPort: r.port, transportProtocol: r.scheme === 'https' ? 'tls' : 'raw_buffer', ...(r.scheme === 'https' ? { serverName: r.host } : {}) };
  if (identity.role === 'sidecar') return { name: 'virtualOutbound', query };
  const names = proxy.listenerNames;
  const exact = names.find((n) => proxy.listener(n)?.port === r.port);
  if (exact) return { name: exact, query };
  // Istio's ingress Service: 80 and 443 lead to the pod's 8080 and 8443, where its listeners bind.
  const target = defaultGatewayTargetPorts[r.port];
  const behind = target !== undefined ? names.find((n) => proxy.listener(n)?.port === target) : undefined;
  if (behind) {
    notes.push(`port ${r.port} of the gateway's Service leads to its listener ${behind} (port ${target})`);
    return { name: behind, query: { ...query, destinationPort: target as number } };
  }
  const only = names.length === 1 ? names[0] : undefined;
  if (!only) return { name: names.join('|') || '(none)', query };
  const port = proxy.listener(only)?.port ?? r.port;
  notes.push(`the gateway has no listener on port ${r.port}; its only listener ${only} (port ${port}) is where the gateway Service's port leads`);
  return { name: only, query: { ...query, destinationPort: port } };
}

function replyOutcome(reply: { status: number; flag?: string; details?: string }, where: string): Outcome {
  return { status: reply.status, flag: reply.flag ?? '-', detail: `${where}: ${reply.details ?? 'local reply'}` };
}

function routeOutcome(hop: HopResult, where: string): Outcome | undefined {
  if (hop.reply) return replyOutcome(hop.reply, where);
  const d = hop.decision;
  if (d?.miss === 'no_virtual_host') return { status: 404, flag: 'NR', detail: `${where}: no virtual host for ${hop.request?.authority}` };
  if (d?.miss === 'no_route') return { status: 404, flag: 'NR', detail: `${where}: no route matched` };
  const route = d?.route;
  if (route?.kind === 'redirect' && route.redirect) return { status: route.redirect.status, flag: '-', detail: `${where}: redirect` };
  if (route?.kind === 'direct_response' && route.directResponse) return { status: route.directResponse.status, flag: '-', detail: `${where}: direct response` };
  return undefined;
}

export async function explain(source: ConfigSource, opts: ExplainOptions): Promise<ExplainTrace> {
  const draw = opts.random ?? Math.random;
  const r = opts.request;
  const notes: string[] = [];
  const fromId = await source.sourceProxy(opts.from);
  const from = new CompiledProxy(await source.resources(fromId));
  const { name, query } = sourceListener(from, fromId, r, notes);
  const outside = fromId.role === 'router';
  const connection: ConnectionInfo = {
    remoteAddress: outside ? OUTSIDE_CLIENT : (fromId.address ?? '127.0.0.1'),
    remotePort: 40000,
    localAddress: r.host,
    localPort: query.destinationPort,
    tls: r.scheme === 'https',
  };
  const head = { method: r.method, target: r.target, authority: authorityOf(r), headers: r.headers.filter(([k]) => k !== 'host') };
  const hop = await traceHop(from, fromId, name, query, head, connection, draw);
  const trace: ExplainTrace = { request: r, source: hop.trace, endpoints: [], outcome: { status: 0, flag: '-', detail: '' }, notes };
  const where = `${fromId.name} (${fromId.role})`;
  if (hop.refused) return done(trace, { status: 503, flag: 'UF', detail: `${where}: no filter chain accepts ${hop.trace.chainMatch}` });
  const early = routeOutcome(hop, where);
  if (early) return done(trace, early);
  const clusterName = hop.tcpCluster ?? hop.decision?.choice?.name;
  if (!clusterName) return done(trace, { status: 503, flag: 'NC', detail: `${where}: the route names no cluster` });
  if (clusterName === 'PassthroughCluster') return done(trace, passthroughOutcome(r, where, hop.tcpCluster !== undefined));
  const cluster = from.clusters.get(clusterName);
  if (!cluster || clusterName === 'BlackHoleCluster') {
    return done(trace, { status: hop.decision?.route?.clusterNotFoundStatus ?? 503, flag: 'NC', detail: `${where}: cluster ${clusterName} ${cluster ? 'drops the request' : 'not found'}` });
  }
  if (cluster.type === 'ORIGINAL_DST') return done(trace, originalDstOutcome(trace, cluster, r, where, hop.tcpCluster !== undefined));
  trace.endpoints = endpointsOf(cluster, from.loadAssignments);
  const healthy = trace.endpoints.filter((e) => e.healthy);
  const endpoint = healthy[0];
  if (!endpoint) return done(trace, { status: 503, flag: 'UH', detail: `${where}: ${clusterName} has no healthy endpoint` });
  trace.endpoint = endpoint;
  if (healthy.length > 1) notes.push(`the load balancer (${cluster.lb_policy ?? 'ROUND_ROBIN'}) spreads requests over ${healthy.length} healthy endpoints; the first is followed`);
  const tls = clientTlsFor(cluster, endpoint);
  const [wlName, wlNs] = (endpoint.workload ?? '').split('.');
  const destId = endpoint.workload && wlName && wlNs ? await source.workloadProxy(wlName, wlNs) : undefined;
  // A DISABLE endpoint is reached through its sidecar too, as plaintext: traced into it like the rest.
  if (!destId || (endpoint.tlsMode !== 'istio' && !endpoint.viaTunnel)) {
    trace.mtls = { client: tls.mode, clientUses: tls.uses, conflict: false };
    return done(trace, { status: 200, flag: '-', detail: `forwarded to ${endpoint.address} (no sidecar there: the app answers)` });
  }
  // Secure naming: the source's tunnel client refuses a server whose identity the cluster does not name.
  const serverNames = secureNamingOf(cluster);
  if (serverNames.length > 0 && !serverNames.includes(destId.principal)) {
    trace.mtls = { client: tls.mode, clientUses: tls.uses, serverNames, conflict: true };
    return done(trace, { status: 503, flag: 'UF', detail: `${where}: ${destId.name} presents ${destId.principal}, not one of ${clusterName}'s accounts (secure naming)` });
  }
  const dest = new CompiledProxy(await source.resources(destId));
  const targetPort = endpoint.targetPort ?? 0;
  // The request is HTTP: offer what the tunnel (or http_inspector, in plaintext) reports, so an
  // undeclared port's detected-HTTP chain is chosen over its TCP chain. TLS the client originates
  // (SIMPLE, MUTUAL) is not the mesh's: the server sidecar takes it only where plaintext TCP would go
  // (`plain_tls`, tunnel-server.ts), never on an HTTP chain, as Istio's server has no chain for it there.
  const originated = tls.uses === 'tls';
  const destQuery: ChainQuery = { destinationPort: targetPort, transportProtocol: tls.uses === 'mtls' ? 'tls' : 'raw_buffer', alpn: tls.uses === 'mtls' ? ['istio-h2', 'h2c'] : originated ? [] : ['http/1.1'] };
  const headers = new Map<string, string | string[]>(hop.request?.headers ?? []);
  hop.decision?.route?.mutateRequestHeaders(headers, hop.decision.choice);
  headers.delete('host');
  const destHead = {
    method: r.method,
    target: hop.decision?.trace.upstreamPath ?? r.target,
    authority: hop.decision?.trace.upstreamAuthority ?? head.authority,
    headers: [...headers].flatMap(([k, v]) => (Array.isArray(v) ? v.map((x): [string, string] => [k, x]) : [[k, v] as [string, string]])),
  };
  const destConn: ConnectionInfo = {
    remoteAddress: fromId.address ?? '127.0.0.1',
    remotePort: 40000,
    localAddress: endpoint.address.replace(/:\d+$/, ''),
    localPort: targetPort,
    tls: tls.uses === 'mtls',
    ...(tls.uses === 'mtls' ? { peerPrincipal: fromId.principal } : {}),
  };
  const destHop = await traceHop(dest, destId, 'virtualInbound', destQuery, destHead, destConn, draw);
  trace.destination = destHop.trace;
  const policy = await source.serverMtls?.(destId, targetPort);
  const server = serverMode(destHop.trace) ?? policy?.mode;
  const conflict = destHop.refused === true || destHop.trace.filterChain === 'BlackHoleCluster' || (originated && destHop.tcpCluster === undefined);
  trace.mtls = { client: tls.mode, clientUses: tls.uses, ...(server ? { server } : {}), ...(policy ? { serverDecidedBy: policy.decidedBy } : {}), ...(serverNames.length ? { serverNames } : {}), conflict };
  const destWhere = `${destId.name} (sidecar)`;
  // TLS the server does not take fails its handshake (a connection failure, UF); plaintext it has no
  // chain for is accepted, then closed under the request (connection termination, UC).
  if (conflict) return done(trace, { status: 503, flag: tls.uses === 'plaintext' ? 'UC' : 'UF', detail: `${destWhere} refuses a ${tls.uses} connection on port ${targetPort}${server ? ` (PeerAuthentication ${server})` : ''}` });
  const late = routeOutcome(destHop, destWhere);
  if (late) return done(trace, late);
  return done(trace, { status: 200, flag: '-', detail: `forwarded to ${destId.name} port ${targetPort}: the app answers` });
}

/** The server's mode as its inbound chain shows it: a chain only for `tls` is STRICT, only for `raw_buffer` DISABLE. */
function serverMode(hop: HopTrace): 'STRICT' | 'PERMISSIVE' | 'DISABLE' | undefined {
  if (hop.filterChain === '-' || hop.filterChain === 'BlackHoleCluster') return undefined;
  return hop.serverTransport === 'tls' ? 'STRICT' : hop.serverTransport === 'raw_buffer' ? 'DISABLE' : 'PERMISSIVE';
}

/**
 * A passthrough leaves the mesh's services: the answer is whatever answers at the original destination,
 * which no config says. What the config does say is the source proxy's reply when nothing accepts the
 * connection there, as Envoy's PassthroughCluster gives it: 503 UF over HTTP, a closed connection over TCP.
 */
function passthroughOutcome(r: ExplainRequest, where: string, tcp: boolean): Outcome {
  return { flag: '-', detail: `${where}: passed through to the original destination ${r.host}:${r.port}, outside the mesh's services`, ifUnanswered: unanswered(where, tcp) };
}

function unanswered(where: string, tcp: boolean): NonNullable<Outcome['ifUnanswered']> {
  return tcp
    ? { flag: 'UF', detail: `${where} closes the downstream connection` }
    : { status: 503, flag: 'UF', detail: `${where}: upstream connect error (connection failure)` };
}

/**
 * A service's ORIGINAL_DST cluster (resolution NONE, or a PASSTHROUGH load balancer) has no endpoints to
 * follow: the proxy connects to the original destination itself, never through a tunnel, so without the
 * mesh's mTLS (the cluster's own TLS origination, if any, still applies), and what answers there decides.
 */
function originalDstOutcome(trace: ExplainTrace, cluster: EnvoyCluster, r: ExplainRequest, where: string, tcp: boolean): Outcome {
  const tls = clientTlsFor(cluster, undefined);
  const uses = tls.uses === 'tls' ? 'tls' : 'plaintext';
  trace.mtls = { client: tls.mode, clientUses: uses, conflict: false };
  return { flag: '-', detail: `${where}: ${cluster.name} sends to the original destination ${r.host}:${r.port} (${uses})`, ifUnanswered: unanswered(where, tcp) };
}

function done(trace: ExplainTrace, outcome: Outcome): ExplainTrace {
  trace.outcome = outcome;
  return trace;
}
