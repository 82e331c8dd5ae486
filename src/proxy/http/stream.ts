// The per-request view every HTTP stage shares: the downstream request after strict parsing and path
// normalisation (the one request that is authorised, routed and forwarded), its connection, and the
// stream info that telemetry reads at the end.

/** Lower-case header name → value; repeated headers keep every value. */
export type HeaderMap = Map<string, string | string[]>;

/** A header object as a map, without the entries arrays `new Map(Object.entries(h))` makes. */
export function headerMapOf(h: Readonly<Record<string, string | string[]>>): HeaderMap {
  const m: HeaderMap = new Map();
  for (const k in h) m.set(k, h[k] as string | string[]);
  return m;
}

export interface ConnectionInfo {
  remoteAddress: string;
  remotePort: number;
  /** The logical destination address and port (the service or target port, e.g. 9898), not a mapped port. */
  localAddress: string;
  localPort: number;
  /** The downstream connection is TLS (a mesh tunnel or a gateway TLS listener). */
  tls: boolean;
  sni?: string;
  /** The peer's SPIFFE ID when it presented a verified certificate with one: `spiffe://td/ns/NS/sa/SA`. */
  peerPrincipal?: string;
  /**
   * The peer is a mesh proxy: its certificate was verified against the mesh root (the tunnel, an
   * ISTIO_MUTUAL chain). Only then are its mesh headers (`x-outrigger-*`, `x-envoy-*`) trusted; a
   * client certificate from a gateway's own CA (MUTUAL) may carry a SPIFFE ID but is not a mesh peer.
   */
  meshPeer?: boolean;
  /** SHA-256 of that certificate (DER), lower-case hex: the `Hash` of the x-forwarded-client-cert element. */
  peerCertHash?: string;
  /**
   * The verified client certificate (DER) a listener's TLS took, SPIFFE ID or not: what a gateway's
   * forward_client_cert_details reports. (The tunnel's peers have peerPrincipal and peerCertHash only.)
   */
  peerCertificate?: Buffer;
  /** Source workload metadata from the tunnel (`x-outrigger-peer`), when the peer is a mesh sidecar. */
  peer?: { workload: string; namespace: string; labels: Readonly<Record<string, string>> };
  /**
   * The source learnt this workload's metadata from the answer to the CONNECT of the carrier the request
   * came on (a carried HTTP/1.1 connection): its responses need not carry `x-outrigger-peer` again.
   */
  peerAnswered?: boolean;
}

export interface DownstreamRequest {
  method: string;
  scheme: 'http' | 'https';
  /**
   * The request named no scheme (an HTTP/1.1 origin-form target, a CONNECT): `scheme` is the connection's
   * until connectionHeaders sets it from x-forwarded-proto, as Envoy's mutateRequestHeaders does.
   */
  schemeFromConnection?: boolean;
  /** `host[:port]`, lower-cased, as routed. */
  authority: string;
  /**
   * The authority as the client sent it, its case kept: HTTP/2's `:authority` (else its `host`), HTTP/1's
   * Host (an absolute-form target's authority as written, as Envoy's codec replaces Host with it). What Envoy's `getHostValue()` returns, e.g. for the jwt_authn realm.
   */
  sentAuthority: string;
  /** Normalised path, without query. */
  path: string;
  /** Raw query string without `?` ('' when none). */
  query: string;
  headers: HeaderMap;
  protocol: 'HTTP/1.1' | 'HTTP/2';
  connection: ConnectionInfo;
}

/** What the stream recorded, for access logs, metrics and traces. */
export interface StreamInfo {
  readonly startTime: number;
  /** Envoy response flags (`NR`, `UH`, `UF`, `UO`, `URX`, `UT`, `FI`, `DI`, `RBAC`, ...). */
  responseFlags: Set<string>;
  routeName?: string | undefined;
  clusterName?: string | undefined;
  upstreamHost?: string;
  /** The endpoint tried last is a mesh proxy behind the tunnel: only its metadata (`x-outrigger-peer`) is believed. */
  upstreamMesh?: boolean;
  /**
   * The last try's connection is made, and is the mesh's mutual TLS (Cluster.meshTls): false until its
   * pool is ready, on a connect failure or overflow, and over a plaintext or originated hop. What the
   * source's principals need (Istio reads them from the upstream's SSL connection).
   */
  upstreamTls?: boolean;
  /** The SPIFFE ID that answering mesh endpoint's certificate proved (its metadata's own claim is not taken). */
  upstreamPrincipal?: string | undefined;
  /**
   * The answering mesh endpoint's metadata (`x-outrigger-peer`) as its sidecar answered the CONNECT of
   * the carrier the try's connection runs on: what a carried HTTP/1.1 connection's responses go without.
   */
  upstreamPeer?: string | undefined;
  /** The chosen endpoint's `istio.workload` metadata (`name;namespace`): who the source tried, without an answer. */
  upstreamWorkload?: string | undefined;
  /** Envoy's attemptCount: the router's tries so far (`%UPSTREAM_REQUEST_ATTEMPT_COUNT%`); 0 (or unset) before the first. */
  attemptCount?: number;
  /** Why the proxy answered itself (`route_not_found`, `rbac_access_denied_matched_policy[ns[foo]-policy[bar]-rule[0]]`). */
  responseCodeDetails?: string;
  /** Why the last upstream connection failed (`%UPSTREAM_TRANSPORT_FAILURE_REASON%`): a refused connect, a TLS error. */
  upstreamTransportFailureReason?: string;
  /** Filters publish facts for later filters and telemetry (`jwt_authn` payloads, RBAC shadow results). */
  dynamicMetadata: Map<string, Record<string, unknown>>;
  /** The telemetry filter's per-stream state (trace, peer, response head): a slot, not a WeakMap entry per request. */
  telemetry?: unknown;
}
