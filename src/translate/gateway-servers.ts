// The Gateway servers a router proxy runs: gateways whose selector matches its labels, merged per
// port and bind as Istio merges them; and the VirtualService hosts bound to a server (host ×
// server-host intersection).
import type { Gateway, VirtualService } from '../config/resource.ts';
import type { Server } from '../config/types/networking.ts';
import { gatewayServesPod, ROUTE_SEMANTICS_ANNOTATION } from '../model/gateway-api/gateways.ts';
import { hostMatches, hostsIntersect, resolveHost } from '../model/host.ts';
import { matchesLabels } from '../model/labels.ts';
import { isHttp, type Protocol, parseProtocol } from '../model/protocol.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { objectKey, type MeshSnapshot } from '../model/snapshot.ts';
import { boundGateways, visibilityRank } from './virtual-service-routes.ts';

export interface GatewayServer {
  gateway: Gateway;
  /** `namespace/name` of the gateway. */
  key: string;
  server: Server;
  index: number;
}

/** Istio's default ingress gateway Service: port 80 → 8080, 443 → 8443 (the pod does not run as root). */
export const defaultGatewayTargetPorts: Readonly<Record<number, number>> = { 80: 8080, 443: 8443 };

/**
 * The port a gateway pod listens on for a Gateway server port: the targetPort of the gateway's own Service
 * when the manifests have one, else the default ingress gateway Service's mapping, else the port itself.
 */
export function gatewayListenerPort(snapshot: MeshSnapshot, scope: ProxyScope, serverPort: number): number {
  return podPortFor(snapshot, scope.proxy, serverPort);
}

type GatewayPod = { readonly namespace: string; readonly labels: Readonly<Record<string, string>> };

function podPortFor(snapshot: MeshSnapshot, pod: GatewayPod, serverPort: number): number {
  for (const svc of snapshot.services) {
    if (svc.source !== 'kubernetes' || svc.namespace !== pod.namespace || !svc.selector) continue;
    if (!matchesLabels(svc.selector, pod.labels)) continue;
    const p = svc.ports.find((x) => x.port === serverPort);
    if (p) return snapshot.targetPortFor(p, pod);
  }
  return defaultGatewayTargetPorts[serverPort] ?? serverPort;
}

/** Every port a gateway pod listens on for the Gateway servers that select it (what `up` must bind for it). */
export function gatewayPodPorts(snapshot: MeshSnapshot, pod: GatewayPod): number[] {
  const ports = new Set<number>();
  for (const gateway of snapshot.gateways) {
    if (!gatewayServesPod(gateway, pod)) continue;
    for (const server of gateway.spec.servers) ports.add(podPortFor(snapshot, pod, server.port.number));
  }
  return [...ports].sort((a, b) => a - b);
}

/** The servers of one router listener: those merged on a pod port and bind address (`''`: every address). */
export interface MergedServers {
  port: number;
  bind: string;
  servers: GatewayServer[];
}

/** A server mergeGateways leaves out: a TLS host another server on the port has, or a protocol the port cannot take. */
export interface DroppedServer {
  server: GatewayServer;
  port: number;
  /** route-name: an HTTPS server whose route configuration name (its port name) another has. */
  reason: 'duplicate-hosts' | 'protocol' | 'route-name';
  /** protocol: what holds the port (the protocol of its first plain-text server, or `TLS`). */
  heldBy?: string;
}

/**
 * The Gateway servers this router runs, merged per (pod port, bind) in Istio's order (mergeGateways):
 * a server with TLS settings whose hosts (any of them, as written) another server on the port and bind
 * already has is skipped whole (CheckDuplicates); a server on a port held by a plain-text one is taken
 * only when both are HTTP (canMergeProtocols), and a plain-text one on a TLS port only on a new bind.
 */
export function mergeGatewayServers(snapshot: MeshSnapshot, scope: ProxyScope): MergedServers[] {
  const gateways = snapshot.gateways.filter((g) => gatewayServesPod(g, scope.proxy));
  return mergeServers(gateways, (n) => gatewayListenerPort(snapshot, scope, n)).merged;
}

/** mergeGatewayServers over the Gateways of one pod, in order, each server port taken to the pod port `portOf` says. */
export function mergeServers(gateways: readonly Gateway[], portOf: (serverPort: number) => number): { merged: MergedServers[]; dropped: DroppedServer[] } {
  const groups = new Map<string, MergedServers>();
  const dropped: DroppedServer[] = [];
  const ports = new Set<number>();
  const plainText = new Map<number, { bind: string; protocol: Protocol }>();
  const tlsBinds = new Map<number, Set<string>>();
  const tlsHosts = new Map<number, Map<string, string>>();
  const routeNames = new Set<string>();
  const add = (gs: GatewayServer, port: number, bind: string) => {
    const key = `${bind}_${port}`;
    const group = groups.get(key) ?? { port, bind, servers: [] };
    group.servers.push(gs);
    groups.set(key, group);
  };
  /** Takes the server into its listener, or says why not. */
  const place = (gs: GatewayServer, port: number): Pick<DroppedServer, 'reason' | 'heldBy'> | undefined => {
    const { server } = gs;
    const bind = server.bind ?? '';
    const protocol = parseProtocol(server.port.protocol);
    const routeName = gatewayRouteName(gs, port);
    if (server.tls) {
      // Two SNI filter chains with one name would have Envoy reject the listener.
      const known = tlsHosts.get(port) ?? new Map<string, string>();
      tlsHosts.set(port, known);
      const hosts = sanitizedHosts(gs);
      if (hosts.some((h) => known.get(h) === bind)) return { reason: 'duplicate-hosts' };
      for (const h of hosts) known.set(h, bind);
    }
    if (!ports.has(port)) {
      ports.add(port);
      if (!isTlsServer(server)) plainText.set(port, { bind, protocol });
      if (routeName) routeNames.add(routeName);
      add(gs, port, bind);
      return undefined;
    }
    const current = plainText.get(port);
    if (current) {
      // On another bind it is another listener, whatever the protocol.
      const sameBind = current.bind === bind;
      if (sameBind && (!canMergeProtocols(protocol, current.protocol) || !routeName)) return { reason: 'protocol', heldBy: current.protocol };
      if (routeName) routeNames.add(routeName);
      add(gs, port, bind);
      return undefined;
    }
    if (isHttpServer(server)) {
      // Port names are required and unique per Gateway, so an HTTPS route name repeats only across
      // Gateways whose dotted names meet (port `a` of `b.c`, port `a.b` of `c`): analyze reports OR2012.
      if (routeNames.has(routeName)) return protocol === 'HTTPS' ? { reason: 'route-name' } : { reason: 'protocol', heldBy: 'TLS' };
      routeNames.add(routeName);
    }
    const binds = tlsBinds.get(port) ?? new Set<string>();
    tlsBinds.set(port, binds);
    const newBind = !binds.has(bind);
    binds.add(bind);
    if (!server.tls && !newBind) return { reason: 'protocol', heldBy: 'TLS' };
    add(gs, port, bind);
    return undefined;
  };
  for (const gateway of gateways) {
    for (const [index, server] of gateway.spec.servers.entries()) {
      const gs: GatewayServer = { gateway, key: objectKey(gateway), server, index };
      const port = portOf(server.port.number);
      const refused = place(gs, port);
      if (refused) dropped.push({ server: gs, port, ...refused });
    }
  }
  const merged = [...groups.values()].sort((a, b) => a.port - b.port || a.bind.localeCompare(b.bind));
  return { merged, dropped };
}

/** Istio's canMergeProtocols: a server joins a plain-text port's first server when both are HTTP. */
function canMergeProtocols(server: Protocol, current: Protocol): boolean {
  return (isHttp(server) || server === current) && isHttp(current);
}

/** Istio's IsTLSServer: a non-HTTP server with TLS settings (terminated or passed through). */
function isTlsServer(server: Server): boolean {
  return server.tls !== undefined && !isHttp(parseProtocol(server.port.protocol));
}

/** Istio's IsPassThroughServer. */
function isPassthroughServer(server: Server): boolean {
  return server.tls?.mode === 'PASSTHROUGH' || server.tls?.mode === 'AUTO_PASSTHROUGH';
}

/** Istio's IsHTTPServer: HTTP, or HTTPS that terminates TLS. */
function isHttpServer(server: Server): boolean {
  const protocol = parseProtocol(server.port.protocol);
  return isHttp(protocol) || (protocol === 'HTTPS' && server.tls !== undefined && !isPassthroughServer(server));
}

/**
 * A server's hosts as mergeGateways compares them (sanitizeServerHostNamespace): namespace `.` becomes
 * the Gateway's, namespace `*` is dropped, and host `*` of namespace `*` stands for all of them.
 */
function sanitizedHosts(gs: GatewayServer): string[] {
  const out: string[] = [];
  for (const h of gs.server.hosts) {
    const slash = h.indexOf('/');
    if (slash < 0) out.push(h);
    else if (h.startsWith('./')) out.push(`${gs.gateway.metadata.namespace}${h.slice(1)}`);
    else if (h.startsWith('*/')) {
      if (h === '*/*') return ['*'];
      out.push(h.slice(2));
    } else out.push(h);
  }
  return out;
}

/**
 * Istio's gatewayRDSRouteName: `http.PORT` (the pod port) for HTTP, `https.NUMBER.PORT_NAME.GATEWAY.NAMESPACE`
 * (the server's own port) for HTTPS that terminates TLS, `.BIND` appended with a bind; '' for others.
 */
export function gatewayRouteName(gs: GatewayServer, port: number): string {
  const protocol = parseProtocol(gs.server.port.protocol);
  const bind = gs.server.bind ? `.${gs.server.bind}` : '';
  if (isHttp(protocol)) return `http.${port}${bind}`;
  const { gateway, server } = gs;
  if (protocol === 'HTTPS' && !isPassthroughServer(server)) return `https.${server.port.number}.${server.port.name ?? ''}.${gateway.metadata.name}.${gateway.metadata.namespace}${bind}`;
  return '';
}

/** The hosts of a server host entry `ns/host` (namespace `*` or `.` or a name), as [namespace, host]. */
function splitServerHost(entry: string, gatewayNs: string): [string, string] {
  const slash = entry.indexOf('/');
  if (slash < 0) return ['*', entry];
  const ns = entry.slice(0, slash);
  return [ns === '.' ? gatewayNs : ns, entry.slice(slash + 1)];
}

/** VirtualServices bound to the server's gateway, exported to the proxy, with the hosts they serve on it, in Istio's order. */
export function virtualServicesOn(snapshot: MeshSnapshot, scope: ProxyScope, gs: GatewayServer): { vs: VirtualService; hosts: string[] }[] {
  const out: { vs: VirtualService; hosts: string[] }[] = [];
  for (const vs of snapshot.virtualServices) {
    if (!boundGateways(vs).includes(gs.key) || !scope.visible(vs)) continue;
    // Istio's Names.Intersection: every pair that intersects yields its narrower host, once. A short
    // host is its FQDN first (resolveVirtualServiceShortnames); a Gateway API route's stays as written.
    const shortnames = vs.metadata.annotations[ROUTE_SEMANTICS_ANNOTATION] !== 'gateway';
    const hosts: string[] = [];
    for (const written of vs.spec.hosts ?? []) {
      const h = shortnames ? resolveHost(written, vs.metadata.namespace) : written;
      for (const entry of gs.server.hosts) {
        const [ns, sh] = splitServerHost(entry, gs.gateway.metadata.namespace);
        if (ns !== '*' && ns !== vs.metadata.namespace) continue;
        if (!hostsIntersect(sh, h)) continue;
        const narrower = hostMatches(sh, h) ? h : sh;
        if (!hosts.includes(narrower)) hosts.push(narrower);
      }
    }
    if (hosts.length > 0) out.push({ vs, hosts });
  }
  // Istio's VirtualServicesForGateway: private, exported by name, then public, oldest first in each.
  const rank = (vs: VirtualService) => visibilityRank(snapshot, vs, scope.proxy.namespace, 'gateway');
  return out.sort((a, b) => rank(a.vs) - rank(b.vs));
}

/** The hosts of a server without their namespace part (`ns/host` → `host`). */
export function serverHostNames(gs: GatewayServer): string[] {
  return gs.server.hosts.map((h) => splitServerHost(h, gs.gateway.metadata.namespace)[1]);
}

/** SNI names of a server (`*` drops the SNI constraint). */
export function serverNames(gs: GatewayServer): string[] {
  const names = serverHostNames(gs);
  return names.includes('*') ? [] : names;
}

