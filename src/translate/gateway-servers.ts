// The Gateway servers a router proxy runs: gateways whose selector matches its labels, grouped by
// port; and the VirtualService hosts bound to a server (host × server-host intersection).
import type { Gateway, VirtualService } from '../config/resource.ts';
import type { Server } from '../config/types/networking.ts';
import { gatewaySelectsPod } from '../model/gateway-api/gateways.ts';
import { hostMatches, hostsIntersect } from '../model/host.ts';
import { matchesLabels } from '../model/labels.ts';
import type { ProxyScope } from '../model/proxy-scope.ts';
import { objectKey, type MeshSnapshot } from '../model/snapshot.ts';
import { boundGateways } from './virtual-service-routes.ts';

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
    if (!gatewaySelectsPod(gateway, pod)) continue;
    for (const server of gateway.spec.servers) ports.add(podPortFor(snapshot, pod, server.port.number));
  }
  return [...ports].sort((a, b) => a - b);
}

/** Gateway servers selecting this router, keyed by the port its listener binds (see gatewayListenerPort). */
export function gatewayServersByPort(snapshot: MeshSnapshot, scope: ProxyScope): Map<number, GatewayServer[]> {
  const out = new Map<number, GatewayServer[]>();
  for (const gateway of snapshot.gateways) {
    if (!gatewaySelectsPod(gateway, scope.proxy)) continue;
    gateway.spec.servers.forEach((server, index) => {
      const port = gatewayListenerPort(snapshot, scope, server.port.number);
      const list = out.get(port) ?? [];
      list.push({ gateway, key: objectKey(gateway), server, index });
      out.set(port, list);
    });
  }
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/** The hosts of a server host entry `ns/host` (namespace `*` or `.` or a name), as [namespace, host]. */
function splitServerHost(entry: string, gatewayNs: string): [string, string] {
  const slash = entry.indexOf('/');
  if (slash < 0) return ['*', entry];
  const ns = entry.slice(0, slash);
  return [ns === '.' ? gatewayNs : ns, entry.slice(slash + 1)];
}

/** VirtualServices bound to the server's gateway, exported to the proxy, with the hosts they serve on it. */
export function virtualServicesOn(snapshot: MeshSnapshot, scope: ProxyScope, gs: GatewayServer): { vs: VirtualService; hosts: string[] }[] {
  const out: { vs: VirtualService; hosts: string[] }[] = [];
  for (const vs of snapshot.virtualServices) {
    if (!boundGateways(vs).includes(gs.key) || !scope.exported(vs.spec.exportTo, vs.metadata.namespace)) continue;
    // Istio's Names.Intersection: every pair that intersects yields its narrower host, once.
    const hosts: string[] = [];
    for (const h of vs.spec.hosts ?? []) {
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
  return out;
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

/** Istio's name for the route configuration of a TLS-terminating server. */
export function httpsRouteName(gs: GatewayServer): string {
  return `https.${gs.server.port.number}.${gs.server.name ?? gs.index}.${gs.gateway.metadata.name}.${gs.gateway.metadata.namespace}`;
}
