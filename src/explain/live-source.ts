// The explainer's config live: proxies from the control plane's `/debug/syncz`, identities from
// `/debug/registryz`, each proxy's config as pushed, from `/debug/config_dump?proxyID=`, and the
// PeerAuthentication deciding a port's mTLS mode from `/debug/authenticationz`.
import type { ResourcesByType } from './compiled-proxy.ts';
import { resourcesFromConfigDump } from './compiled-proxy.ts';
import { type ConfigSource, ExplainSourceError, pickProxy, type ServerMtlsPolicy } from './config-source.ts';
import type { ProxyIdentity } from './trace.ts';

interface SyncEntry {
  proxy: string;
  name: string;
  namespace: string;
  workload: string;
  generator?: string;
}

interface RegistryEntry {
  name: string;
  namespace: string;
  serviceAccount: string;
  address: string;
}

export type DebugFetch = (pathAndQuery: string) => Promise<unknown>;

/** A fetcher for a debug API at `host:port`, with a bound on each call. */
export function debugFetcher(address: string, timeoutMs = 10_000): DebugFetch {
  return async (pathAndQuery) => {
    let res: Response;
    try {
      res = await fetch(`http://${address}${pathAndQuery}`, { signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new ExplainSourceError('CP_UNREACHABLE', `cannot reach the control plane debug API at ${address}`, { cause: err });
    }
    const body: unknown = await res.json();
    if (!res.ok) throw new ExplainSourceError('CP_DEBUG_ERROR', `${pathAndQuery}: HTTP ${res.status} ${JSON.stringify(body)}`);
    return body;
  };
}

export class LiveSource implements ConfigSource {
  readonly mode = 'live';
  readonly #fetch: DebugFetch;
  readonly #trustDomain: string | undefined;
  #proxies: Promise<ProxyIdentity[]> | undefined;

  /** `trustDomain`: the mesh's, when known; otherwise read from the control plane (`/debug/configz`). */
  constructor(fetchDebug: DebugFetch, trustDomain?: string) {
    this.#fetch = fetchDebug;
    this.#trustDomain = trustDomain;
  }

  #list(): Promise<ProxyIdentity[]> {
    this.#proxies ??= (async () => {
      const td = this.#trustDomain ?? (await this.#meshTrustDomain());
      const sync = ((await this.#fetch('/debug/syncz')) as SyncEntry[]).filter((s) => s.generator !== 'grpc');
      const registry = (await this.#fetch('/debug/registryz')) as RegistryEntry[];
      return sync.map((s): ProxyIdentity => {
        const role = s.proxy.startsWith('router~') ? 'router' : 'sidecar';
        const pod = s.name.slice(0, s.name.length - s.namespace.length - 1);
        const w = registry.find((r) => r.namespace === s.namespace && r.name === pod);
        // Gateways are not registry workloads; the local runtime names their account `<name>-service-account`.
        const sa = w?.serviceAccount ?? (role === 'router' ? `${pod}-service-account` : 'default');
        const ip = w?.address ?? s.proxy.split('~')[1];
        return { name: s.name, role, namespace: s.namespace, workload: s.workload, principal: `spiffe://${td}/ns/${s.namespace}/sa/${sa}`, ...(ip ? { address: ip } : {}) };
      });
    })();
    return this.#proxies;
  }

  /** The trust domain identities are issued in, as the control plane reports it (`cluster.local` from one that does not). */
  async #meshTrustDomain(): Promise<string> {
    const configz = (await this.#fetch('/debug/configz').catch(() => ({}))) as { trustDomain?: unknown };
    return typeof configz.trustDomain === 'string' && configz.trustDomain ? configz.trustDomain : 'cluster.local';
  }

  async sourceProxy(from: string): Promise<ProxyIdentity> {
    return pickProxy(await this.#list(), from);
  }

  async workloadProxy(name: string, namespace: string): Promise<ProxyIdentity | undefined> {
    return (await this.#list()).find((p) => p.name === `${name}.${namespace}`);
  }

  async resources(proxy: ProxyIdentity): Promise<ResourcesByType> {
    return resourcesFromConfigDump(await this.#fetch(`/debug/config_dump?proxyID=${encodeURIComponent(proxy.name)}`));
  }

  /** The control plane's own verdict, as offline computes it from the files; undefined from one without the endpoint. */
  async serverMtls(proxy: ProxyIdentity, port: number): Promise<ServerMtlsPolicy | undefined> {
    const body = (await this.#fetch(`/debug/authenticationz?proxyID=${encodeURIComponent(proxy.name)}&port=${port}`).catch(() => undefined)) as Partial<ServerMtlsPolicy> | undefined;
    const modes: readonly string[] = ['STRICT', 'PERMISSIVE', 'DISABLE'];
    if (!body || typeof body.decidedBy !== 'string' || !modes.includes(String(body.mode))) return undefined;
    return { mode: body.mode as ServerMtlsPolicy['mode'], decidedBy: body.decidedBy };
  }
}
