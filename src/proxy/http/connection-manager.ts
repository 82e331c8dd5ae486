// The HTTP connection manager stage: strict parse → strip mesh headers → route → HTTP filters →
// router, for HTTP/1.1 and HTTP/2 requests alike (the raw codecs' request and response objects, h1-server.ts
// and h2-server.ts).
import { randomUUID, X509Certificate } from 'node:crypto';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import { REMOTE_IP_METADATA } from '../filters/rbac/rbac-input.ts';
import type { HttpChain } from '../listener/compile-listener.ts';
import type { H2CodecStat } from '../listener/h2-codec-stats.ts';
import { LocalReplies } from '../local-reply.ts';
import { certificateHash } from '../tunnel/mesh-tls.ts';
import { PROTOCOL_HEADER } from '../upstream/h2-connection.ts';
import type { OutgoingHeaders, UpstreamHead } from '../upstream/upstream.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type LocalReply, type RequestContext, type RouteView } from './filter.ts';
import type { ChainedFilter } from './filter-registry.ts';
import { appendForwardedFor, forwardedAddresses, trustedClientAddress } from './forwarded-for.ts';
import { isGrpcRequest } from './grpc-status.ts';
import { H1Request, ownField } from './h1-server.ts';
import type { H2Request } from './h2-server.ts';
import { type DownstreamReq, type DownstreamRes, forwardableTrailers, HttpStream, hopByHop } from './http-stream.ts';
import { grpcDeadline, StreamTimeouts, type TimedStream, toGrpcTimeout } from './stream-timeouts.ts';
import { stripMeshHeaders } from './mesh-headers.ts';
import type { PathNormalizer } from './normalize-path.ts';
import { parseRequest, type RawHead } from './parse-request.ts';
import type { ClusterChoice, MatchedRoute, RouteTable } from './route/index.ts';
import { headerValue } from './route/request-headers.ts';
import { portOf, stripPort } from './route/virtual-host-selector.ts';
import type { Timers } from './router.ts';
import { forward, grpcRouteTimeoutMs, realTimers } from './router.ts';
import { type ConnectionInfo, type DownstreamRequest, type HeaderMap, headerMapOf, type StreamInfo } from './stream.ts';
import { newRequestId } from '../../telemetry/tracing/ids.ts';

export interface HcmRuntime {
  readonly clusters: ClusterManager;
  routeTable(name: string): RouteTable | undefined;
  /** The default normaliser (BASE); chains carry their own from their HCM config. */
  readonly normalize: PathNormalizer;
  /** This proxy's SPIFFE ID, the `By=` of the x-forwarded-client-cert it sets for mesh peers. */
  readonly localPrincipal?: string;
  readonly random: () => number;
  readonly timers?: Timers;
  readonly now: () => number;
  /** Draining: answer with `Connection: close` (HTTP/1) so clients move away. */
  draining(): boolean;
  /** Downstream HTTP/2 flood counters (`http2.*`). */
  readonly codecStats?: { inc(stat: H2CodecStat): void };
  /** Counts a stream in flight; the returned function ends it (drain waits for zero). */
  track?(): () => void;
}

export { forwardableTrailers } from './http-stream.ts';

/**
 * The upstream request's headers: hop-by-hop and mesh-internal fields dropped, proto and request id set
 * (`generateRequestId`: the HCM's generate_request_id, an x-request-id for a request without one).
 */
export function toUpstreamHeaders(req: DownstreamRequest, generateRequestId = true): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  // Mesh-internal headers end at this proxy; the upstream never sees them. (forEach: no entry arrays.)
  req.headers.forEach((v, k) => {
    if (hopByHop.has(k) || k.startsWith('x-outrigger-')) return;
    // `__proto__` would set the object's prototype (to an array, for a repeated field), not a field.
    if (k === '__proto__') ownField(out, k, v);
    else out[k] = v;
  });
  if (req.headers.get('te') === 'trailers') out['te'] = 'trailers';
  if (out['x-forwarded-proto'] === undefined) out['x-forwarded-proto'] = req.connection.tls ? 'https' : 'http';
  if (generateRequestId && !out['x-request-id']) out['x-request-id'] = randomUUID();
  return out;
}

/** The same as a map, for header mutations. */
export function upstreamHeaderMap(req: DownstreamRequest, generateRequestId = true): HeaderMap {
  return headerMapOf(toUpstreamHeaders(req, generateRequestId));
}

function toObject(m: HeaderMap): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  m.forEach((v, k) => {
    if (k === '__proto__') ownField(out, k, v);
    else out[k] = v;
  });
  return out;
}

/** A downstream that may send trailers: HTTP/2 with a body, or an HTTP/1.1 chunked body. */
function requestTrailers(req: DownstreamReq): (() => OutgoingHeaders) | undefined {
  if (!('stream' in req) && req.headers['transfer-encoding'] === undefined) return undefined;
  return () => forwardableTrailers(req.trailers);
}

const TRAILERS = /(^|,)\s*trailers\s*(;|,|$)/i;

/** HTTP/1.1 clients get response trailers only when they asked for them (`TE: trailers`). */
function acceptsTrailers(te: string | string[] | undefined): boolean {
  return te !== undefined && TRAILERS.test(Array.isArray(te) ? te.join(',') : te);
}

/**
 * The client's protocol: a tunnelled request names the one its source client spoke (the tunnel is
 * HTTP/2 whatever that was); mesh headers from outside the mesh are already stripped.
 */
function downstreamProtocol(request: DownstreamRequest): 'HTTP/1.1' | 'HTTP/2' {
  const carried = request.headers.get(PROTOCOL_HEADER);
  return carried === 'HTTP/1.1' || carried === 'HTTP/2' ? carried : request.protocol;
}

function hasBody(req: DownstreamReq): boolean {
  if (req instanceof H1Request) return req.body !== null;
  if ('stream' in req) return !req.stream.endAfterHeaders;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

export function newStreamInfo(now: number): StreamInfo {
  // The fields the router writes per try, present from the start: every stream keeps one shape.
  return { startTime: now, responseFlags: new Set(), dynamicMetadata: new Map(), telemetry: undefined, upstreamTls: false, attemptCount: 0 };
}

const settled: Promise<void> = Promise.resolve();
const noop = (): void => {};

/**
 * Handles one request on an HTTP filter chain. `chain` may be chosen per request (forward proxy).
 * Synchronous filters take a synchronous path; the returned promise is pending only while a filter's
 * verdict is (jwt_authn, ext_authz, fault delays). A throw becomes a rejection, as from an async function.
 */
export function handleHttp(rt: HcmRuntime, chain: HttpChain | ((req: DownstreamRequest) => HttpChain | undefined), connection: ConnectionInfo, req: DownstreamReq, res: DownstreamRes): Promise<void> {
  try {
    return start(rt, chain, connection, req, res) ?? settled;
  } catch (err) {
    return Promise.reject(err);
  }
}

function start(rt: HcmRuntime, chain: HttpChain | ((req: DownstreamRequest) => HttpChain | undefined), connection: ConnectionInfo, req: DownstreamReq, res: DownstreamRes): Promise<void> | undefined {
  const info = newStreamInfo(rt.now());
  const h2 = 'stream' in req;
  const s = new HttpStream(res, h2, isGrpcRequest(req.headers['content-type']), info, rt.now, rt.track?.());
  if (typeof chain !== 'function') s.server = chain.serverHeader;
  res.on('error', noop);
  req.on('error', noop);
  const input: RawHead = { method: req.method ?? '', target: req.url ?? '', protocol: h2 ? 'HTTP/2' : 'HTTP/1.1', rawHeaders: req.rawHeaders, h2: h2 ? req.headers : undefined, lowerCaseNames: req instanceof H1Request };
  // The chain's own mode (meshConfig.pathNormalization via the HCM). The forward proxy picks its chain per
  // request from the parsed Host: it parses with the default first, and again when the chain's mode differs.
  let parsed = parseRequest(input, connection, typeof chain === 'function' ? rt.normalize : chain.normalize);
  if (!parsed.ok) {
    if (!h2) res.setHeader('connection', 'close');
    s.localReply(parsed.reply);
    return;
  }
  const hc = typeof chain === 'function' ? chain(parsed.request) : chain;
  if (!hc) {
    s.localReply(LocalReplies.routeNotFound);
    return;
  }
  s.server = hc.serverHeader;
  s.envoyHeaders = !hc.suppressEnvoyHeaders;
  if (typeof chain === 'function' && hc.normalize !== rt.normalize) {
    parsed = parseRequest(input, connection, hc.normalize);
    if (!parsed.ok) {
      if (!h2) res.setHeader('connection', 'close');
      s.localReply(parsed.reply);
      return;
    }
  }
  const request = parsed.request;
  if (!h2 && refusesHttpsUrl(hc, request)) {
    res.setHeader('connection', 'close');
    s.localReply(LocalReplies.httpsInPlaintext);
    return;
  }
  // For Istio's request bytes, the head as it came (before the proxy edits it) and, counted when the
  // stream ends, a chunked body's framing (HTTP/1.1) or the trailers' fields (HTTP/2).
  if (req instanceof H1Request || h2) s.codecRequest = req as H1Request | H2Request;
  connectionHeaders(rt, hc, request, info);
  // generate_request_id: set before the filters, as Envoy's mutateRequestHeaders, so a request a filter
  // answers is logged and traced with it too. A version-4 UUID from the proxy's random source, as the
  // tracer made it before: crypto.randomUUID allocated its buffered randomness per request.
  if (hc.generateRequestId && !request.headers.has('x-request-id')) request.headers.set('x-request-id', newRequestId(rt.random));
  const table = hc.inlineRoutes ?? (hc.rdsName ? rt.routeTable(hc.rdsName) : undefined);
  const route = matchRoute(rt, s, table, request, info);
  if (route) info.routeName = route.name;
  s.ctx = { request, info, route };
  s.filters = hc.filters;
  s.route = route;
  s.choice = routeCluster(rt, s, route, request.headers, info);
  const verdict = requestFilters(s, hc.filters, s.ctx, 0, rt, table);
  if (isPromise(verdict)) return verdict.then((v) => proceed(rt, s, req, v, hc));
  proceed(rt, s, req, verdict, hc);
  return undefined;
}

/** The stream's route in `table` (none without one), matched with the stream's draw (FilterStream). */
export function matchRoute(rt: HcmRuntime, s: FilterStream, table: RouteTable | undefined, request: DownstreamRequest, info: StreamInfo): MatchedRoute | null {
  if (table === undefined) return null;
  if (Number.isNaN(s.matchDraw)) s.matchDraw = rt.random();
  return table.match(request, s.matchDraw, info.dynamicMetadata);
}

/**
 * The route's cluster, chosen as the route is resolved, before any filter runs (Envoy's
 * ActiveStream::refreshCachedRoute: route matching returns the weighted cluster's entry, drawn then, or
 * the cluster_header's as the headers stand then; setRoute records the cluster's info on the stream).
 * So a request a filter answers (FI, a rate limit, an authz denial) is labelled with the route's
 * service, as Istio's stats filter reads it from upstreamClusterInfo. Recorded only for a cluster the
 * proxy has, as Envoy's (NC leaves it unset); the router sends to this choice. Made once per request,
 * and again only when a filter clears the route cache (clearRouteCache).
 */
export function routeCluster(rt: HcmRuntime, s: FilterStream, route: MatchedRoute | null, headers: HeaderMap, info: StreamInfo): ClusterChoice | null {
  if (route?.kind !== 'forward') return null;
  if (Number.isNaN(s.pickDraw)) s.pickDraw = rt.random();
  const choice = route.pickCluster(s.pickDraw, headers);
  if (choice && rt.clusters.get(choice.name)) info.clusterName = choice.name;
  return choice;
}

/**
 * An edge HCM's HTTP/1.1 codec validates the scheme (Envoy's handlePath; use_remote_address with no
 * trusted hops): an https absolute-form URL on a plaintext connection is refused, 403
 * http1.https_url_on_plaintext_connection, before any filter or upgrade. Only such a URL makes an
 * HTTP/1.1 request's :scheme https on a plaintext connection.
 */
export function refusesHttpsUrl(hc: HttpChain, request: DownstreamRequest): boolean {
  return hc.useRemoteAddress && hc.xffTrustedHops === 0 && request.scheme === 'https' && !request.connection.tls;
}

/**
 * What the connection manager sets from the connection before routing, for every request and upgrade:
 * a non-mesh client's mesh headers dropped, x-forwarded-client-cert, x-forwarded-proto, and at the
 * edge x-forwarded-for with the client address policies read.
 */
export function connectionHeaders(rt: HcmRuntime, hc: HttpChain, request: DownstreamRequest, info: StreamInfo | undefined): void {
  const connection = request.connection;
  const fcc = hc.forwardClientCert;
  // What the client sent, for the modes that may pass it on: read before the mesh headers go.
  const sent = fcc?.keepsSent ? request.headers.get('x-forwarded-client-cert') : undefined;
  stripMeshHeaders(request.headers, connection.meshPeer === true);
  if (fcc) forwardClientCert(fcc, rt, connection, request.headers, sent);
  else if (connection.peerPrincipal) {
    // The app learns the verified caller, never a forged value (a client's own is stripped above), in
    // Istio's element: By, Hash, Subject (a workload certificate's is empty), URI.
    request.headers.set('x-forwarded-client-cert', xfcc(rt.localPrincipal ?? '', connection.peerCertHash ?? '', connection.peerPrincipal));
  }
  // Envoy's x-forwarded-proto: an edge HCM (use_remote_address, Istio's gateways) sets it from the
  // connection unless a trusted hop sent one; any other (sidecars) keeps what it got and only fills in a
  // missing one. So the app behind a plain-HTTP ingress learns `http`, though the mesh hop was mTLS.
  // From the connection's TLS, never the request's :scheme (an absolute-form URL's, an HTTP/2 client's).
  if (hc.useRemoteAddress ? hc.xffTrustedHops === 0 || !request.headers.has('x-forwarded-proto') : !request.headers.has('x-forwarded-proto')) {
    request.headers.set('x-forwarded-proto', connection.tls ? 'https' : 'http');
  }
  // A request that named no scheme (HTTP/1.1 origin-form) takes x-forwarded-proto's as it stands now (the
  // connection's at the edge, a sidecar's client's own), when it is http or https: Envoy's
  // mutateRequestHeaders (getScheme); else the connection's. What :scheme matchers, redirects and an
  // HTTP/2 upstream see.
  if (request.schemeFromConnection) {
    const xfp = headerValue(request.headers, 'x-forwarded-proto')?.toLowerCase();
    if (xfp === 'http' || xfp === 'https') request.scheme = xfp;
  }
  if (hc.useRemoteAddress) {
    // At the edge the client address is derived from trusted XFF hops only (policies' remoteIpBlocks
    // read it), and the peer is appended for the next hop, as Envoy does.
    const xff = request.headers.get('x-forwarded-for');
    const client = trustedClientAddress(forwardedAddresses(xff), connection.remoteAddress, hc.xffTrustedHops);
    info?.dynamicMetadata.set(REMOTE_IP_METADATA, { address: client });
    request.headers.set('x-forwarded-for', appendForwardedFor(xff, connection.remoteAddress));
  }
}

/**
 * The last x-forwarded-client-cert made and what it was made of: a peer's requests share one string.
 * One slot for the process, not a cache on the connection: a tunnelled HTTP/2 request has a connection
 * object of its own, so a per-connection cache would be made anew, and reshape that object, per request.
 */
const lastXfcc = { by: '', hash: '', uri: '', value: '' };

/** Istio's x-forwarded-client-cert element for a verified peer, made once per peer certificate (and proxy identity). */
function xfcc(by: string, hash: string, uri: string): string {
  const last = lastXfcc;
  if (last.hash === hash && last.uri === uri && last.by === by && last.value !== '') return last.value;
  // Updated in place: another peer's request costs its string, not a record too.
  last.by = by;
  last.hash = hash;
  last.uri = uri;
  last.value = `By=${by};Hash=${hash};Subject="";URI=${uri}`;
  return last.value;
}

/** An HCM's forward_client_cert_details with its set_current_client_cert_details (Istio's gateways set both). */
export interface ForwardClientCert {
  readonly mode: 'SANITIZE' | 'FORWARD_ONLY' | 'APPEND_FORWARD' | 'SANITIZE_SET' | 'ALWAYS_FORWARD_ONLY';
  /** The mode may pass on a client's own x-forwarded-client-cert. */
  readonly keepsSent: boolean;
  readonly cert: boolean;
  readonly subject: boolean;
  readonly uri: boolean;
  readonly dns: boolean;
}

const FCC_MODES: ReadonlySet<string> = new Set(['SANITIZE', 'FORWARD_ONLY', 'APPEND_FORWARD', 'SANITIZE_SET', 'ALWAYS_FORWARD_ONLY']);

/**
 * The HCM's client certificate settings, or undefined where it names none (the sidecar's mesh peers
 * then get the SPIFFE element, as connectionHeaders writes it). Envoy's `chain` detail is refused.
 */
export function compileForwardClientCert(hcm: { forward_client_cert_details?: string; set_current_client_cert_details?: { subject?: { value?: boolean }; cert?: boolean; chain?: boolean; uri?: boolean; dns?: boolean } }): ForwardClientCert | undefined {
  const mode = hcm.forward_client_cert_details;
  if (mode === undefined) return undefined;
  if (!FCC_MODES.has(mode)) throw new Error(`unknown forward_client_cert_details ${mode}`);
  const d = hcm.set_current_client_cert_details ?? {};
  if (d.chain) throw new Error('set_current_client_cert_details.chain is not supported');
  return {
    mode: mode as ForwardClientCert['mode'],
    keepsSent: mode === 'FORWARD_ONLY' || mode === 'APPEND_FORWARD' || mode === 'ALWAYS_FORWARD_ONLY',
    cert: d.cert === true,
    subject: d.subject?.value === true,
    uri: d.uri === true,
    dns: d.dns === true,
  };
}

/**
 * Envoy's mutateXfccRequestHeader: ALWAYS_FORWARD_ONLY passes the client's header on; without a client
 * certificate, or under SANITIZE, there is none; FORWARD_ONLY passes the client's; APPEND_FORWARD adds
 * this hop's element after it, SANITIZE_SET replaces it with this hop's element.
 */
function forwardClientCert(fcc: ForwardClientCert, rt: HcmRuntime, connection: ConnectionInfo, headers: HeaderMap, sent: string | string[] | undefined): void {
  const presented = connection.peerCertificate !== undefined || connection.peerPrincipal !== undefined;
  if (fcc.mode === 'ALWAYS_FORWARD_ONLY' || (presented && fcc.mode === 'FORWARD_ONLY')) {
    if (sent !== undefined) headers.set('x-forwarded-client-cert', sent);
    return;
  }
  if (!presented || fcc.mode === 'SANITIZE' || fcc.mode === 'FORWARD_ONLY') {
    headers.delete('x-forwarded-client-cert');
    return;
  }
  const by = connection.meshPeer ? (rt.localPrincipal ?? '') : '';
  const element = connection.peerCertificate ? certificateElement(fcc, by, connection.peerCertificate) : xfcc(by, connection.peerCertHash ?? '', connection.peerPrincipal ?? '');
  const before = fcc.mode === 'APPEND_FORWARD' && sent !== undefined ? (Array.isArray(sent) ? sent.join(',') : sent) : '';
  headers.set('x-forwarded-client-cert', before ? `${before},${element}` : element);
}

/**
 * The element made from a client certificate, by its DER (one Buffer per TLS connection, shared by the
 * connection's requests and streams): clients taking turns each keep theirs, and it goes with the connection.
 */
const elements = new WeakMap<Buffer, { fcc: ForwardClientCert; by: string; value: string }>();

/**
 * This hop's element as Envoy writes it: By (this proxy's URI SAN: its SPIFFE ID toward a mesh peer),
 * Hash, then the details in Envoy's order: Cert (the PEM, URL-encoded as Envoy does), Subject (RFC 2253,
 * quoted, present even when empty), URI (every URI SAN; `URI=` with none), DNS (every DNS SAN).
 */
function certificateElement(fcc: ForwardClientCert, by: string, der: Buffer): string {
  const cached = elements.get(der);
  if (cached?.fcc === fcc && cached.by === by) return cached.value;
  const cert = new X509Certificate(der);
  const parts: string[] = [];
  if (by) parts.push(`By=${by}`);
  parts.push(`Hash=${certificateHash(der)}`);
  if (fcc.cert) parts.push(`Cert="${urlEncodedPem(cert.toString())}"`);
  if (fcc.subject) parts.push(`Subject="${rfc2253(cert.subject)}"`);
  const sans = subjectAltNames(cert.subjectAltName);
  if (fcc.uri) {
    const uris = sans.filter((s) => s.type === 'URI');
    if (uris.length === 0) parts.push('URI=');
    for (const s of uris) parts.push(`URI=${s.value}`);
  }
  if (fcc.dns) for (const s of sans) if (s.type === 'DNS') parts.push(`DNS=${s.value}`);
  const value = parts.join(';');
  elements.set(der, { fcc, by, value });
  return value;
}

/** Envoy's urlEncodedPemEncodedPeerCertificate: newline, space, `+`, `/` and `=` percent-encoded. */
function urlEncodedPem(pem: string): string {
  return pem.replace(/[\n +/=]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`);
}

/** Node's subject (one attribute a line, already escaped as RFC 2253 asks) in RFC 2253's order: last first, `,` between. */
function rfc2253(subject: string | undefined): string {
  return subject ? subject.split('\n').reverse().join(',') : '';
}

const SAN_ENTRY = /(DNS|URI|[A-Za-z ]+):("(?:[^"\\]|\\.)*"|[^,]*)(?:, |$)/g;

/** The DNS and URI names of Node's subjectAltName text (`DNS:a, URI:b`; a value with a comma is JSON-quoted). */
function subjectAltNames(text: string | undefined): { type: string; value: string }[] {
  const out: { type: string; value: string }[] = [];
  for (const m of (text ?? '').matchAll(SAN_ENTRY)) {
    const [, type = '', raw = ''] = m;
    if (type === 'DNS' || type === 'URI') out.push({ type, value: raw.startsWith('"') ? (JSON.parse(raw) as string) : raw });
  }
  return out;
}

function isPromise(v: FilterVerdict | Promise<FilterVerdict>): v is Promise<FilterVerdict> {
  return typeof (v as Partial<Promise<FilterVerdict>>).then === 'function';
}

/**
 * What the request filters run on, a request's or an upgrade's: the filter deciding, and the route and
 * cluster the router (or the upgrade's forwarding) takes, which a filter may have chosen again.
 */
export interface FilterStream {
  deciding: HttpFilter | undefined;
  route: MatchedRoute | null;
  choice: ClusterChoice | null;
  /**
   * The random values the route match and the cluster pick drew (pickDraw NaN until one is), drawn
   * once per stream and used again when the route is matched again, as Envoy's route matching reuses
   * the stream's id for runtime_fraction and the weighted cluster pick.
   */
  matchDraw: number;
  pickDraw: number;
}

/**
 * Runs onRequest hooks from `from` on; stays synchronous until a hook returns a promise. While one is
 * pending the stream names its filter (`deciding`), so a downstream that leaves meanwhile cancels it.
 * A filter may have the route matched again in `table` (clearRouteCache): every caller passes the
 * table it routed with, so no path (an upgrade) forwards on a route matched before the claims.
 */
export function requestFilters(
  s: FilterStream,
  filters: readonly ChainedFilter[],
  ctx: RequestContext,
  from: number,
  rt: HcmRuntime,
  table: RouteTable | undefined,
): FilterVerdict | Promise<FilterVerdict> {
  for (let i = from; i < filters.length; i++) {
    const f = (filters[i] as ChainedFilter).filter;
    if (!f.onRequest) continue;
    const v = f.onRequest(ctx);
    if (isPromise(v)) {
      s.deciding = f;
      return v.then((r) => {
        s.deciding = undefined;
        if (r.action === 'respond') return r;
        if (r.clearRouteCache === true) clearRouteCache(s, ctx, rt, table);
        return requestFilters(s, filters, ctx, i + 1, rt, table);
      });
    }
    if (v.action === 'respond') return v;
    if (v.clearRouteCache === true) clearRouteCache(s, ctx, rt, table);
  }
  return CONTINUE;
}

/**
 * Envoy's clearRouteCache, when a filter asks (jwt_authn on a gateway, once a token is verified): the
 * route is matched again against the request and dynamic metadata as they now stand (a JWT claim match
 * can hold), its cluster picked again; the later filters and the router see the new one, on a request
 * and an upgrade alike. With the stream's random values, as Envoy's: a runtime_fraction or weighted
 * cluster decides as it did the first time.
 */
function clearRouteCache(s: FilterStream, ctx: RequestContext, rt: HcmRuntime, table: RouteTable | undefined): void {
  if (table === undefined) return;
  const route = matchRoute(rt, s, table, ctx.request, ctx.info);
  (ctx as { route: RouteView | null }).route = route;
  s.route = route;
  // Assigned, not deleted: a deleted field leaves the object in dictionary mode.
  ctx.info.routeName = route?.name;
  ctx.info.clusterName = undefined;
  s.choice = routeCluster(rt, s, route, ctx.request.headers, ctx.info);
}

/**
 * The request's URI as Envoy's Http::Utility::newUri builds it without a redirect config: scheme, Host
 * as sent, path and query. processRequestHost drops a :443 / :80 only when x-forwarded-proto disagrees
 * with the scheme and names that port's.
 */
function requestUri(request: DownstreamRequest): string {
  const scheme = request.scheme;
  let host = request.sentAuthority;
  const xfp = headerValue(request.headers, 'x-forwarded-proto');
  if (xfp !== scheme) {
    const port = portOf(host);
    if ((xfp === 'https' && port === '443') || (xfp === 'http' && port === '80')) host = stripPort(host);
  }
  return `${scheme}://${host}${request.path}${request.query === '' ? '' : `?${request.query}`}`;
}

/** The answer of a direct_response or redirect route (Envoy's router gives it to an upgrade too), or null. */
export function routeAnswer(route: MatchedRoute, request: DownstreamRequest): LocalReply | null {
  if (route.kind === 'direct_response' && route.directResponse) {
    const { status, body } = route.directResponse;
    const reply: LocalReply = { ...LocalReplies.directResponse, status, body };
    // Envoy's router gives a 201 or 3xx direct response a Location (RFC 7231 7.1.2): the request's URI.
    if (status === 201 || (status >= 300 && status < 400)) reply.headers = { location: requestUri(request) };
    return reply;
  }
  if (route.kind === 'redirect' && route.redirect) return { status: route.redirect.status, details: 'direct_response', headers: { location: route.redirect.location(request) } };
  return null;
}

/** After the filters: the route's direct answer, or the router. */
function proceed(rt: HcmRuntime, s: HttpStream, req: DownstreamReq, verdict: FilterVerdict, hc: HttpChain): void {
  // The client went away while a filter decided (its close hook has run, so nothing would cancel an
  // upstream request now): neither the reply nor the router.
  if (s.gone) return;
  if (verdict.action === 'respond') {
    s.finalReply(verdict.reply);
    return;
  }
  const route = s.route;
  const request = (s.ctx as RequestContext).request;
  if (!route) {
    s.finalReply(LocalReplies.routeNotFound);
    return;
  }
  const answer = routeAnswer(route, request);
  if (answer) {
    s.finalReply(answer, true);
    return;
  }
  // The cluster chosen when the route was (routeCluster): the router sends where telemetry already names.
  const choice = s.choice;
  if (!choice) {
    s.finalReply(route.kind === 'forward' ? { ...LocalReplies.clusterNotFound, status: route.clusterNotFoundStatus } : LocalReplies.routeNotFound, route.kind === 'forward');
    return;
  }
  const path = route.rewritePath(request.path);
  const authority = route.rewriteAuthority(request, choice);
  let upstreamHeaders: OutgoingHeaders;
  if (route.mutatesRequestHeaders(choice)) {
    const mutable = upstreamHeaderMap(request, hc.generateRequestId);
    route.mutateRequestHeaders(mutable, choice);
    upstreamHeaders = toObject(mutable);
  } else upstreamHeaders = toUpstreamHeaders(request, hc.generateRequestId);
  // A route with a max_stream_duration message, whatever it holds (Istio's inbound routes), takes
  // Envoy's "new timeouts": no router timeout (FilterUtility::finalTimeout leaves it 0); grpc-timeout,
  // under grpc_timeout_header_max, arms the stream's max duration (refreshDurationTimeout), else the
  // route's max_stream_duration or the HCM's does, and a gRPC request's header says what that is. Else
  // the old ones: Envoy reads grpc-timeout only on gRPC requests under max_grpc_timeout (Istio sets it
  // on every outbound route).
  let timeoutMs: number;
  let deadlineMs: number | undefined;
  if (route.usingNewTimeouts) {
    timeoutMs = 0;
    const fromHeader = grpcDeadline(route, request.headers.get('grpc-timeout'));
    const applied = fromHeader ?? ((route.maxStreamDurationMs ?? hc.streamTimeouts?.maxDurationMs) || undefined);
    if (applied !== undefined && s.isGrpc) upstreamHeaders['grpc-timeout'] = toGrpcTimeout(applied);
    // Counted from the stream's start, as Envoy takes off the time already used. (The route's own
    // max_stream_duration runs from here, as before: the time before routing is the filters'.)
    if (fromHeader !== undefined) deadlineMs = fromHeader - Math.max(0, rt.now() - s.info.startTime);
  } else timeoutMs = route.maxGrpcTimeoutMs !== undefined && s.isGrpc ? grpcRouteTimeoutMs(route, request.headers.get('grpc-timeout')) : route.timeoutMs;
  // Envoy's router headers for the upstream (Istio does not suppress them): the path before a rewrite,
  // and the timeout the upstream may expect (the per-try timeout when it is the shorter).
  if (!hc.suppressEnvoyHeaders) {
    if (route.rewritesPath) upstreamHeaders['x-envoy-original-path'] = request.query ? `${request.path}?${request.query}` : request.path;
    const perTryMs = route.retryPolicy?.perTryTimeoutMs ?? 0;
    const expectedMs = perTryMs > 0 && (timeoutMs === 0 || perTryMs < timeoutMs) ? perTryMs : timeoutMs;
    if (expectedMs > 0) upstreamHeaders['x-envoy-expected-rq-timeout-ms'] = String(expectedMs);
  }
  s.draining = rt.draining();
  const withBody = hasBody(req);
  const trailersIn = withBody ? requestTrailers(req) : undefined;
  s.trailersOut = s.h2 || acceptsTrailers(req.headers['te']);
  const head: UpstreamHead = {
    method: request.method,
    path: request.query ? `${path}?${request.query}` : path || '/',
    authority,
    // An HTTP/2 upstream gets the request's :scheme, as Envoy's router (FilterUtility::setUpstreamScheme keeps a valid one).
    scheme: request.scheme,
    headers: upstreamHeaders,
    downstreamProtocol: downstreamProtocol(request),
    ...(trailersIn ? { trailers: trailersIn } : {}),
  };
  const fwd = forward(
    rt.clusters,
    {
      clusterName: choice.name,
      head,
      body: withBody ? s.body(req) : null,
      timeoutMs,
      retries: route.retryPolicy?.numRetries ?? 0,
      // The route's retry policy, mirrors and hash policy; the request they are computed from.
      route,
      request,
      random: rt.random,
      info: s.info,
      suppressEnvoyHeaders: hc.suppressEnvoyHeaders,
      originalDst: { address: request.connection.localAddress, port: request.connection.localPort },
    },
    s,
    rt.timers ?? realTimers,
  );
  s.forwarding(fwd);
  const limits = hc.streamTimeouts;
  if (limits && (limits.idleMs > 0 || limits.maxDurationMs > 0 || route.maxStreamDurationMs || deadlineMs !== undefined)) {
    s.timed(new StreamTimeouts(new TimedForward(s, req, fwd), limits, rt.timers ?? realTimers, route.maxStreamDurationMs, deadlineMs));
  }
}

/** What the stream timers read and do: the stream's own progress, request completion, and how to end it (one object, no closures). */
class TimedForward implements TimedStream {
  readonly #s: HttpStream;
  readonly #req: DownstreamReq;
  readonly #fwd: { cancel(): void };
  constructor(s: HttpStream, req: DownstreamReq, fwd: { cancel(): void }) {
    this.#s = s;
    this.#req = req;
    this.#fwd = fwd;
  }
  progress(): number {
    return this.#s.progress();
  }
  get grpc(): boolean {
    return this.#s.isGrpc;
  }
  requestComplete(): boolean {
    const req = this.#req;
    // Complete is the client's END_STREAM received, as Envoy's remote decode complete: on HTTP/2 the
    // stream's state says so though nothing has read the body yet (it may wait for a connection).
    if (req.complete) return true;
    if (!('stream' in req)) return false;
    const stream = req.stream;
    return stream.endAfterHeaders || (!stream.destroyed && stream.state.remoteClose === 1);
  }
  expire(reply: LocalReply): void {
    this.#fwd.cancel();
    if (this.#s.res.headersSent) return void this.#s.reset(reply);
    const unfinished = !this.requestComplete();
    this.#s.finalReply(reply);
    // A 408: the client is still (or no longer) sending; its stream is reset after the reply, not drained.
    if (unfinished) this.#s.resetUnfinished();
  }
}
