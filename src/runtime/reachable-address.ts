// Where a port of a running component answers from the host, read from the mesh state: what verify, the
// dashboard's scrape targets and the Prometheus configuration connect to. One answer for both modes.
import { PodPortForward } from './netns/pod-port-forward.ts';
import type { ComponentState, MeshState } from './state.ts';

export interface HostPort {
  host: string;
  port: number;
}

/**
 * The proxy ports a pod keeps on its own loopback in netns mode (admin, outbound, inbound): its
 * firewall publishes the others on the pod address, never these. Anyone who reached 15001 could send
 * requests with the pod's identity.
 */
export const podLoopbackProxyPorts: readonly number[] = [15000, 15001, 15006];

/**
 * `name` is a port as the state names it (`proxy:15090`, `app:9898`, `host:8080`). Process mode maps
 * every port to one on 127.0.0.1. Netns mode: `host:` ports are the host's forwarders on 127.0.0.1, the
 * others live in the pod, on its address; undefined for a port kept on the pod's loopback (see
 * `podLoopbackProxyPorts`), and for a port the component does not list.
 */
export function reachableAddress(mode: MeshState['mode'], c: Pick<ComponentState, 'ports' | 'address'>, name: string): HostPort | undefined {
  const port = c.ports[name];
  if (port === undefined) return undefined;
  if (mode !== 'netns' || name.startsWith('host:')) return { host: '127.0.0.1', port };
  if (c.address === undefined) return undefined;
  if (name.startsWith('proxy:') && podLoopbackProxyPorts.includes(Number(name.slice('proxy:'.length)))) return undefined;
  return { host: c.address, port };
}

/** `host:port`, as Prometheus targets and error messages write it. */
export function formatHostPort(a: HostPort): string {
  return `${a.host}:${a.port}`;
}

export interface OpenedAddress extends HostPort {
  /** Where the port really is, for messages: `127.0.0.1:15001 in pod or-1a2b-3` when forwarded. */
  label: string;
  close(): Promise<void>;
}

/**
 * Like `reachableAddress`, for a caller that must get through: a port kept on a netns pod's loopback is
 * forwarded to a free port of the host's 127.0.0.1 for as long as the caller needs it (`close()`).
 */
export async function openAddress(mode: MeshState['mode'], c: Pick<ComponentState, 'ports' | 'address' | 'netns'>, name: string, connections?: number): Promise<OpenedAddress | undefined> {
  const direct = reachableAddress(mode, c, name);
  if (direct) return { ...direct, label: formatHostPort(direct), close: async () => {} };
  const port = c.ports[name];
  if (mode !== 'netns' || port === undefined || c.netns === undefined) return undefined;
  const forward = new PodPortForward({ netns: c.netns, port, ...(connections !== undefined ? { connections } : {}) });
  return { host: '127.0.0.1', port: await forward.listen(), label: `127.0.0.1:${port} in pod ${c.netns}`, close: () => forward.close() };
}
