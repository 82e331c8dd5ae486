// Where a local proxy's admin API listens, from the mesh state (`.outrigger/state.json`, port
// `proxy:15000`), in either mode: proxy-status and proxy-config read what only the proxy knows there.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { type OpenedAddress, openAddress } from '../runtime/reachable-address.ts';
import type { ComponentState, MeshState } from '../runtime/state.ts';

/**
 * What a person names a proxy by, as the control plane and the admin lookup match it (`pod.namespace`,
 * a node id, or a unique prefix): istioctl's forms too, `deploy/NAME` (its first pod, as istioctl
 * resolves it: `NAME-0` here, a gateway's `istio-ingressgateway-0` too) and `pod/NAME`, with
 * `-n NAMESPACE` for a name without one.
 */
export function proxyQuery(ref: string, namespace?: string): string {
  const m = /^(deploy|deployment|deployments|pod|pods|job|jobs)\/(.+)$/.exec(ref);
  // `NAMESPACE/POD`, as logs and exec take it.
  const slashed = !m && !ref.includes('~') ? /^([a-z0-9-]+)\/([^/]+)$/.exec(ref) : null;
  if (slashed) return `${slashed[2]}.${slashed[1]}`;
  const name = m ? (m[2] as string) : ref;
  // `deploy/NAME.NAMESPACE` is `NAME-0.NAMESPACE`, the replica before the namespace.
  if (ref.includes('~') || name.includes('.') || namespace === undefined) return m && /^(deploy|job)/.test(m[1] as string) ? name.replace(/^([^.]+)/, '$1-0') : name;
  return m && /^(deploy|job)/.test(m[1] as string) ? `${name}-0.${namespace}` : `${name}.${namespace}`;
}

/**
 * A lookup error about `query` said with the name the person typed too, when `proxyQuery` changed it:
 * `no connected proxy matches "podinfo-0.podinfo" (deploy/podinfo -n podinfo)`.
 */
export function asTyped(message: string, ref: string, namespace: string | undefined, query: string): string {
  if (ref === query) return message;
  return message.replace(`"${query}"`, `"${query}" (${ref}${namespace !== undefined ? ` -n ${namespace}` : ''})`);
}

/** `pod.namespace` of a component (`namespace/pod` in the state), as node ids spell it. */
export const proxyName = (component: string): string => {
  const slash = component.indexOf('/');
  return slash < 0 ? component : `${component.slice(slash + 1)}.${component.slice(0, slash)}`;
};

/**
 * The component whose proxy `proxy` names: `pod.namespace`, a node id naming it, or a unique prefix;
 * undefined when the state has no such proxy, or more than one.
 */
export function findProxyComponent<C extends Pick<ComponentState, 'name' | 'ports'>>(state: { components: readonly C[] }, proxy: string): C | undefined {
  const candidates = state.components.filter((c) => c.ports['proxy:15000'] !== undefined);
  const named = (c: C) => proxyName(c.name);
  const wanted = proxy.includes('~') ? (proxy.split('~')[2] ?? '') : proxy;
  const exact = candidates.filter((c) => named(c) === wanted);
  const matches = exact.length > 0 ? exact : candidates.filter((c) => named(c).startsWith(wanted));
  return matches.length === 1 ? matches[0] : undefined;
}

/**
 * The admin API of the proxy `proxy` names (see `findProxyComponent`), opened for the caller, who closes
 * it: in process mode its port on 127.0.0.1; in netns mode, where it stays on the pod's loopback, a
 * forward into the pod as `kubectl port-forward` makes (`openAddress`). Undefined when the state names
 * no such proxy.
 */
export async function openProxyAdmin(state: Pick<MeshState, 'mode' | 'components'>, proxy: string): Promise<OpenedAddress | undefined> {
  const c = findProxyComponent(state, proxy);
  // One request per open: in netns mode the forward then takes no other local user's connection.
  return c && (await openAddress(state.mode, c, 'proxy:15000', 1));
}

/** The local mesh state, or undefined when there is none. */
export function readMeshState(cwd = process.cwd(), stateDir = path.join(cwd, '.outrigger')): MeshState | undefined {
  try {
    return JSON.parse(readFileSync(path.join(stateDir, 'state.json'), 'utf8')) as MeshState;
  } catch {
    return undefined;
  }
}
