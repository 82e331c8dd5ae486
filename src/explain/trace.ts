// The decision trace of one request through the mesh, as data: what `outrigger explain -o json`
// prints and what the text formatter reads. Every field is a fact the proxy's own code decided.

export interface ExplainRequest {
  method: string;
  scheme: 'http' | 'https';
  /** Host as written in the URL (lower-cased), without port. */
  host: string;
  port: number;
  /** Path and query as sent (before normalisation). */
  target: string;
  /** Lower-case header name → value, in the order given (`host` included when overridden). */
  headers: [string, string][];
}

export interface ProxyIdentity {
  /** `pod.namespace`, as `proxy-status` names it. */
  name: string;
  role: 'sidecar' | 'router';
  namespace: string;
  workload: string;
  /** SPIFFE ID of the proxy's workload certificate. */
  principal: string;
  /** The workload's address, when known. */
  address?: string;
}

export interface RouteMiss {
  route: string;
  /** The first condition that failed, in the proxy's order: path, headers, query, grpc, fraction. */
  failed: string;
}

export interface ClusterOption {
  name: string;
  weight: number;
  /** Chance of this cluster, in percent. */
  probability: number;
}

export interface FaultTrace {
  delay?: { ms: number; percent: number; applied: boolean };
  abort?: { status: number; percent: number; applied: boolean };
}

export interface RouteTrace {
  routeConfiguration: string;
  virtualHost?: string;
  route?: string;
  kind?: 'forward' | 'redirect' | 'direct_response' | 'non_forwarding';
  /** Routes tried before the one that matched (or all of them when none did). */
  skipped: RouteMiss[];
  clusters: ClusterOption[];
  cluster?: string;
  timeoutMs?: number;
  retries?: { attempts: number; perTryTimeoutMs: number; retryOn: string };
  fault?: FaultTrace;
  /** The path and authority the route matched on (after normalisation), and those sent upstream, after rewrites. */
  downstreamPath?: string;
  downstreamAuthority?: string;
  upstreamPath?: string;
  upstreamAuthority?: string;
}

export interface EndpointTrace {
  address: string;
  /** `name.namespace` of the workload behind it, when the endpoint is a mesh workload. */
  workload?: string;
  /** `istio` when the endpoint has a sidecar (reached through its mTLS tunnel). */
  tlsMode?: string;
  targetPort?: number;
  /** Reached through its sidecar's tunnel as plaintext (a PeerAuthentication DISABLE port). */
  viaTunnel?: boolean;
  healthy: boolean;
}

export interface MtlsTrace {
  /** The client's mode from its cluster: ISTIO_MUTUAL, AUTO (per endpoint), SIMPLE, MUTUAL, DISABLE. */
  client: string;
  /** What the client really does for the chosen endpoint. */
  clientUses: 'mtls' | 'plaintext' | 'tls';
  /** The server's PeerAuthentication mode for the target port. */
  server?: 'STRICT' | 'PERMISSIVE' | 'DISABLE';
  /** The PeerAuthentication that decided (offline from the files, live from the control plane), or `default`. */
  serverDecidedBy?: string;
  /** Secure naming: the identities the client accepts from the tunnel's server (none listed: any mesh identity). */
  serverNames?: string[];
  conflict: boolean;
}

export interface FilterStep {
  filter: string;
  /** What the filter did: `allowed`, `denied`, `logged`, `skipped`, `not evaluated`, `passed`. */
  result: string;
  detail: string;
}

export interface AuthorizationTrace {
  steps: FilterStep[];
  decision: 'allowed' | 'denied' | 'unknown';
  /** `ns/name rule i` of the deciding policy, `no ALLOW policy matched`, or `no policy`. */
  decidedBy: string;
}

export interface HopTrace {
  proxy: ProxyIdentity;
  listener: string;
  filterChain: string;
  /** How the chain was chosen: destination port and transport. */
  chainMatch: string;
  /** The transport the chosen chain is limited to (`tls`, `raw_buffer`), absent when it takes both. */
  serverTransport?: string;
  pathNormalization: string;
  /** The path after normalisation (what authorization and routing see). */
  normalizedPath: string;
  authorization?: AuthorizationTrace;
  route?: RouteTrace;
}

export interface Outcome {
  /**
   * The response status; absent when the request is passed through to its original destination
   * (PassthroughCluster), where whatever answers there decides it, and explain cannot know what.
   */
  status?: number;
  /** Envoy response flag (NR, NC, UH, UF, FI, RBAC, ...) or `-` when the app answers. */
  flag: string;
  detail: string;
  /** A passthrough: what the source proxy does when nothing accepts the connection at the original destination. */
  ifUnanswered?: { status?: number; flag: string; detail: string };
}

export interface ExplainTrace {
  request: ExplainRequest;
  source: HopTrace;
  endpoints: EndpointTrace[];
  endpoint?: EndpointTrace;
  mtls?: MtlsTrace;
  destination?: HopTrace;
  outcome: Outcome;
  notes: string[];
}
