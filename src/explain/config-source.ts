// Where the explainer gets each proxy's config: translated offline from files, or as pushed by a
// running control plane. The trace is computed the same way from either.
import type { ResourcesByType } from './compiled-proxy.ts';
import type { ProxyIdentity } from './trace.ts';

export interface ServerMtlsPolicy {
  mode: 'STRICT' | 'PERMISSIVE' | 'DISABLE';
  decidedBy: string;
}

export interface ConfigSource {
  readonly mode: 'offline' | 'live';
  /** The proxy a request starts from: a workload (`name`, `name.namespace`, `namespace/name`) or `ingress`. */
  sourceProxy(from: string): Promise<ProxyIdentity>;
  /** The sidecar of the workload behind an endpoint (`podinfo-canary-0`, `podinfo`), if it has one. */
  workloadProxy(name: string, namespace: string): Promise<ProxyIdentity | undefined>;
  resources(proxy: ProxyIdentity): Promise<ResourcesByType>;
  /**
   * PeerAuthentication's verdict for a workload port and the policy that decided: computed from the
   * files offline, asked of the control plane live (`/debug/authenticationz`); undefined when unknown.
   */
  serverMtls?(proxy: ProxyIdentity, port: number): ServerMtlsPolicy | undefined | Promise<ServerMtlsPolicy | undefined>;
}

export class ExplainSourceError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/** Finds a proxy by `name`, `name.namespace`, `namespace/name` or the workload (Deployment) name. */
export function pickProxy(all: readonly ProxyIdentity[], query: string): ProxyIdentity {
  if (query === 'ingress' || query === 'ingressgateway') {
    const gw = all.filter((p) => p.role === 'router' && /ingress/.test(p.workload));
    if (gw[0]) return gw[0];
    // Else the mesh's one Gateway API gateway (`<name>-istio`), when there is exactly one.
    const deployed = all.filter((p) => p.role === 'router' && p.workload.endsWith('-istio'));
    if (deployed.length === 1) return deployed[0] as ProxyIdentity;
    const named = deployed.length ? ` (Gateway API gateways: ${deployed.map((p) => `${p.namespace}/${p.workload}`).join(', ')}: name one with --from)` : '';
    throw new ExplainSourceError('EXPLAIN_NO_INGRESS', `no ingress gateway in this mesh${named}`);
  }
  const [a, b] = query.includes('/') ? (query.split('/', 2) as [string, string]) : [undefined, query];
  const ns = a;
  const name = b;
  const candidates = all.filter((p) => {
    if (ns !== undefined && p.namespace !== ns) return false;
    const pod = p.name.slice(0, p.name.length - p.namespace.length - 1);
    return p.name === name || pod === name || p.workload === name || `${p.workload}.${p.namespace}` === name;
  });
  if (candidates.length === 0) {
    const known = all.map((p) => p.name).join(', ');
    throw new ExplainSourceError('EXPLAIN_NO_PROXY', `no proxy matches "${query}" (known: ${known || 'none'}); --from takes a gateway or a workload with a sidecar, as proxy-status names it (POD.NAMESPACE), NAMESPACE/POD, or its Deployment`);
  }
  const first = candidates[0] as ProxyIdentity;
  if (new Set(candidates.map((c) => c.workload)).size > 1) {
    throw new ExplainSourceError('EXPLAIN_AMBIGUOUS_PROXY', `"${query}" matches ${candidates.map((c) => c.name).join(', ')}; name one`);
  }
  return first;
}
