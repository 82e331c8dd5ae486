// The iptables rules inside one pod's network namespace, as iptables-restore input:
// - OUTRIGGER-INBOUND (filter INPUT): app ports whose PeerAuthentication is STRICT refuse every
//   connection that does not come over loopback, i.e. from anyone but the pod's own sidecar; and
//   nothing from outside reaches 127.0.0.0/8 unless a DNAT below sent it there; when the workload is
//   STRICT, so does every other new TCP connection a DNAT below did not take (a published or captured
//   port), but those to the ports a port-level PERMISSIVE or DISABLE opens;
// - OUTRIGGER-INBOUND (nat PREROUTING): the other app ports the pod's services target are DNATed to the
//   sidecar's virtualInbound on 127.0.0.1, which reads where each was going (SO_ORIGINAL_DST), so
//   plaintext callers meet its authorization and telemetry as in Istio (needs route_localnet on eth0);
//   the sidecar's own connections to its pod address on those ports and the STRICT ones are
//   redirected there too (nat OUTPUT), as Istio's ISTIO_IN_REDIRECT sends the proxy's traffic over lo;
// - OUTRIGGER-EXPOSE (nat PREROUTING): the proxy binds loopback only, so its tunnel, health and gateway
//   ports are published on the pod address by DNAT to 127.0.0.1 (needs route_localnet on eth0); a
//   sidecar's ports are published to the pod's own connections too (nat OUTPUT);
// - OUTRIGGER-OUTBOUND (nat OUTPUT): connections to service addresses (what the mesh DNS answers) go to
//   the sidecar's outbound listener, which reads where each was going (SO_ORIGINAL_DST) and matches it
//   as Envoy's virtualOutbound does; the sidecar's own connections (gid 1337) are let through. In a pod
//   without a sidecar they go straight to one of the service's pods, as kube-proxy would send them.
import type { ServiceRoute } from './service-routes.ts';
import { run, runIn } from './system-command.ts';

export interface PodFirewall {
  podAddress: string;
  /** App (container) ports closed to plaintext from outside the pod. */
  strictPorts: readonly number[];
  /** Refuse like `strictPorts` every other TCP port not published, captured or in `openPorts`. */
  strictOthers?: boolean;
  /** App ports `strictOthers` spares (a port-level PERMISSIVE or DISABLE the sidecar has no chain for). */
  openPorts?: readonly number[];
  /** App ports whose connections from outside the pod go to the sidecar's `inboundPort`. */
  capturedPorts?: readonly number[];
  inboundPort?: number;
  /** Loopback ports of the proxy published on the pod address. */
  exposedPorts: readonly number[];
  /** Publish every TCP port but these (a gateway: its listeners are not known in advance). */
  exposeAllBut?: readonly number[];
  /** The service address range: captured to `outboundPort` (a sidecar), else routed by `serviceRoutes`. */
  serviceCidr?: string;
  outboundPort?: number;
  /** A pod without a sidecar: service address and port → one of the service's pods. */
  serviceRoutes?: readonly ServiceRoute[];
}

export const inboundChain = 'OUTRIGGER-INBOUND';
/** The group a pod's sidecar runs as; its traffic is not captured (Istio's proxy gid). */
export const proxyGid = 1337;
export const exposeChain = 'OUTRIGGER-EXPOSE';
export const outboundChain = 'OUTRIGGER-OUTBOUND';

export function buildPodRules(f: PodFirewall): string {
  const lines = ['*filter', `:${inboundChain} - [0:0]`, `-A INPUT -j ${inboundChain}`, `-A ${inboundChain} -i lo -j RETURN`];
  // route_localnet (for the DNATs below) would also let a neighbour that routes 127.0.0.0/8 to this pod
  // reach its loopback-only ports (the proxy admin, 15006, and the apps behind the sidecar) directly:
  // only what a rule here DNATed may arrive for loopback (CVE-2020-8558's pattern, kube-proxy's fix).
  lines.push(`-A ${inboundChain} -d 127.0.0.0/8 -m conntrack ! --ctstate DNAT -p tcp -j REJECT --reject-with tcp-reset`);
  lines.push(`-A ${inboundChain} -d 127.0.0.0/8 -m conntrack ! --ctstate DNAT -j DROP`);
  for (const port of [...f.strictPorts].sort((a, b) => a - b)) {
    // A TCP reset, so a client sees "connection refused" at once instead of waiting for a timeout.
    lines.push(`-A ${inboundChain} -p tcp -m tcp --dport ${port} -j REJECT --reject-with tcp-reset`);
  }
  if (f.strictOthers) {
    // Istio captures every inbound port, and its passthrough chains refuse plaintext under STRICT: an app
    // port nobody declared (metrics on 9090) must not answer in plaintext either. What the nat rules
    // below published or captured arrives DNATed; replies to the pod's own connections are not NEW.
    for (const port of [...(f.openPorts ?? [])].sort((a, b) => a - b)) lines.push(`-A ${inboundChain} -p tcp -m tcp --dport ${port} -j RETURN`);
    lines.push(`-A ${inboundChain} -p tcp -m conntrack --ctstate NEW -m conntrack ! --ctstate DNAT -j REJECT --reject-with tcp-reset`);
  }
  if (f.serviceCidr) {
    // What no rule above took (a port the service lacks, a service without pods): refused at once.
    lines.push(`:${outboundChain} - [0:0]`, `-A OUTPUT -j ${outboundChain}`);
    lines.push(`-A ${outboundChain} -d ${f.serviceCidr} -p tcp -j REJECT --reject-with tcp-reset`, `-A ${outboundChain} -d ${f.serviceCidr} -j REJECT`);
  }
  lines.push('COMMIT', '*nat', `:${exposeChain} - [0:0]`, `:${inboundChain} - [0:0]`, `:${outboundChain} - [0:0]`);
  lines.push(`-A PREROUTING -j ${exposeChain}`, `-A PREROUTING -j ${inboundChain}`, `-A OUTPUT -j ${outboundChain}`);
  const dest = `-d ${f.podAddress}/32 -p tcp -m tcp`;
  if (f.inboundPort !== undefined) {
    // Only what arrives from outside: the sidecar reaches the app over lo, and the app's own calls to
    // its pod address take OUTPUT, so neither comes back here.
    for (const port of [...(f.capturedPorts ?? [])].sort((a, b) => a - b)) {
      lines.push(`-A ${inboundChain} ${dest} --dport ${port} -j DNAT --to-destination 127.0.0.1:${f.inboundPort}`);
    }
    // The sidecar's own connections to its pod address (a passthrough to this pod's IP) take OUTPUT and
    // lo, past both rules above: sent to its inbound listener instead, as Istio's ISTIO_IN_REDIRECT does
    // for the proxy's traffic over lo, so a STRICT port refuses the plaintext and the others meet their
    // authorization and telemetry. The app's own calls to its address stay direct, as in Istio.
    for (const port of [...new Set([...f.strictPorts, ...(f.capturedPorts ?? [])])].sort((a, b) => a - b)) {
      lines.push(`-A ${outboundChain} ${dest} --dport ${port} -m owner --gid-owner ${proxyGid} -j REDIRECT --to-ports ${f.inboundPort}`);
    }
  }
  for (const port of [...f.exposedPorts].sort((a, b) => a - b)) {
    lines.push(`-A ${exposeChain} ${dest} --dport ${port} -j DNAT --to-destination 127.0.0.1:${port}`);
    // The pod's own connections take OUTPUT, not PREROUTING: without this, its sidecar's mTLS to its own
    // pod (a service whose endpoints include this pod) would find nothing on the pod address's 15008.
    // As on Kubernetes, where the sidecar listens on every address, these ports answer there too.
    lines.push(`-A ${outboundChain} ${dest} --dport ${port} -j DNAT --to-destination 127.0.0.1:${port}`);
  }
  if (f.inboundPort !== undefined && f.strictOthers) {
    // Under a STRICT workload the sidecar's passthrough to its own pod address on any other port (but the
    // published ones just above and the open ones) meets its inbound listener too, which refuses it.
    for (const port of [...(f.openPorts ?? [])].sort((a, b) => a - b)) lines.push(`-A ${outboundChain} ${dest} --dport ${port} -m owner --gid-owner ${proxyGid} -j RETURN`);
    lines.push(`-A ${outboundChain} -d ${f.podAddress}/32 -p tcp -m owner --gid-owner ${proxyGid} -j REDIRECT --to-ports ${f.inboundPort}`);
  }
  if (f.exposeAllBut) {
    for (const port of f.exposeAllBut) lines.push(`-A ${exposeChain} ${dest} --dport ${port} -j RETURN`);
    lines.push(`-A ${exposeChain} -d ${f.podAddress}/32 -p tcp -j DNAT --to-destination 127.0.0.1`);
  }
  if (f.serviceCidr && f.outboundPort !== undefined) {
    // The sidecar's own connections are never captured (Istio's --gid-owner 1337): a passthrough to a
    // service address without that port would otherwise come straight back to 15001, forever.
    lines.push(`-A ${outboundChain} -m owner --gid-owner ${proxyGid} -j RETURN`);
    lines.push(`-A ${outboundChain} -d ${f.serviceCidr} -p tcp -j REDIRECT --to-ports ${f.outboundPort}`);
  }
  for (const r of f.serviceRoutes ?? []) {
    const match = `-d ${r.serviceAddress}/32 -p tcp -m tcp --dport ${r.port}`;
    r.backends.forEach((b, i) => {
      // Rule i of n takes 1/(n-i) of what is left, so each backend gets 1/n (kube-proxy's scheme).
      const left = r.backends.length - i;
      const pick = left > 1 ? ` -m statistic --mode random --probability ${(1 / left).toFixed(5)}` : '';
      lines.push(`-A ${outboundChain} ${match}${pick} -j DNAT --to-destination ${b.address}:${b.port}`);
    });
  }
  lines.push('COMMIT', '');
  return lines.join('\n');
}

/** Installs the rules in `netns` (a fresh namespace: nothing to flush but our own chains). */
export async function applyPodFirewall(netns: string, f: PodFirewall): Promise<void> {
  if (f.exposedPorts.length || f.exposeAllBut || (f.inboundPort !== undefined && f.capturedPorts?.length)) {
    // DNAT to 127.0.0.1 of packets that arrived on eth0 is dropped as martian without this.
    await run('ip', ['netns', 'exec', netns, 'sysctl', '-qw', 'net.ipv4.conf.eth0.route_localnet=1']);
  }
  await runIn(netns, 'iptables-restore', ['--noflush'], { input: buildPodRules(f) });
}
