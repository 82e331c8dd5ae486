// The HTTP connection manager stage: strict parse → strip mesh headers → route → HTTP filters →
// router, for HTTP/1.1 and HTTP/2 requests alike (Node's compat request/response on both).
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import { Transform } from 'node:stream';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { ClusterManager } from '../cluster/cluster-manager.ts';
import type { HttpChain } from '../listener/compile-listener.ts';
import type { H2CodecStat } from '../listener/h2-codec-stats.ts';
import { LocalReplies, sendLocalReply } from '../local-reply.ts';
import type { OutgoingHeaders } from '../upstream/upstream.ts';
import type { LocalReply, RequestContext, StreamOutcome } from './filter.ts';
import { REMOTE_IP_METADATA } from '../filters/rbac/rbac-input.ts';
import { appendForwardedFor, forwardedAddresses, trustedClientAddress } from './forwarded-for.ts';
import { stripMeshHeaders } from './mesh-headers.ts';
import type { PathNormalizer } from './normalize-path.ts';
import { parseRequest } from './parse-request.ts';
import type { RouteTable } from './route/index.ts';
import type { Timers } from './router.ts';
import { forward, grpcTimeoutMs, realTimers } from './router.ts';
import type { ConnectionInfo, DownstreamRequest, StreamInfo } from './stream.ts';

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

type DownstreamReq = IncomingMessage | Http2ServerRequest;
type DownstreamRes = ServerResponse | Http2ServerResponse;

const hopByHop = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'host', 'expect', 'http2-settings', 'proxy-authorization']);

export function toUpstreamHeaders(req: DownstreamRequest): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  // Mesh-internal headers end at this proxy; the upstream never sees them.
  for (const [k, v] of req.headers) if (!hopByHop.has(k) && !k.startsWith('x-outrigger-')) out[k] = v;
  if (req.headers.get('te') === 'trailers') out['te'] = 'trailers';
  out['x-forwarded-proto'] = req.scheme;
  if (!out['x-request-id']) out['x-request-id'] = randomUUID();
  return out;
}

function responseHeaders(h: OutgoingHeaders, h2: boolean, draining: boolean): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const [k, v] of Object.entries(h)) if (!hopByHop.has(k) || (!h2 && k === 'upgrade')) out[k] = v;
  if (draining && !h2) out['connection'] = 'close';
  return out;
}

/** Trailer fields that never travel (RFC 9110 §6.5.1: framing, routing and authentication fields). */
const forbiddenTrailers = new Set([...hopByHop, 'content-length', 'content-type', 'authorization', 'cookie', 'set-cookie', 'trailer']);

export function forwardableTrailers(t: Record<string, string | string[] | undefined>): OutgoingHeaders {
  const out: OutgoingHeaders = {};
  for (const [k, v] of Object.entries(t)) if (v !== undefined && !k.startsWith(':') && !forbiddenTrailers.has(k)) out[k] = v;
  return out;
}

/** A downstream that may send trailers: HTTP/2 with a body, or an HTTP/1.1 chunked body. */
function requestTrailers(req: DownstreamReq): (() => OutgoingHeaders) | undefined {
  if (!('stream' in req) && req.headers['transfer-encoding'] === undefined) return undefined;
  return () => forwardableTrailers(req.trailers);
}

/** HTTP/1.1 clients get response trailers only when they asked for them (`TE: trailers`). */
function acceptsTrailers(te: string | string[] | undefined): boolean {
  return te !== undefined && /(^|,)\s*trailers\s*(;|,|$)/i.test(Array.isArray(te) ? te.join(',') : te);
}

function hasBody(req: DownstreamReq): boolean {
  if ('stream' in req) return !req.stream.endAfterHeaders;
  const cl = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (cl !== undefined && cl !== '0');
}

/** Counts request body bytes for telemetry without taking the stream out of paused mode. */
function countBytes(req: DownstreamReq, add: (n: number) => void): Readable {
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      add(chunk.length);
      cb(null, chunk);
    },
  });
  req.on('error', (err) => counter.destroy(err));
  return req.pipe(counter);
}

export function newStreamInfo(now: number): StreamInfo {
  return { startTime: now, responseFlags: new Set(), dynamicMetadata: new Map() };
}

/** Handles one request on an HTTP filter chain. `chain` may be chosen per request (forward proxy). */
export async function handleHttp(rt: HcmRuntime, chain: HttpChain | ((req: DownstreamRequest) => HttpChain | undefined), connection: ConnectionInfo, req: DownstreamReq, res: DownstreamRes): Promise<void> {
  const info = newStreamInfo(rt.now());
  const untrack = rt.track?.();
  if (untrack) res.once('close', untrack);
  const h2 = 'stream' in req;
  const isGrpc = String(req.headers['content-type'] ?? '').startsWith('application/grpc');
  res.on('error', () => {});
  req.on('error', () => {});
  const reply = (r: LocalReply) => sendLocalReply(res as ServerResponse, r, info, isGrpc);
  const parsed = parseRequest(
    { method: req.method ?? '', target: req.url ?? '', protocol: h2 ? 'HTTP/2' : 'HTTP/1.1', rawHeaders: req.rawHeaders, ...(h2 ? { h2: req.headers } : {}) },
    connection,
    // The chain's own mode (meshConfig.pathNormalization via the HCM); the forward proxy picks its chain
    // per request, after parsing, and uses the default.
    typeof chain === 'function' ? rt.normalize : chain.normalize,
  );
  if (!parsed.ok) {
    if (!h2) res.setHeader('connection', 'close');
    reply(parsed.reply);
    return;
  }
  const request = parsed.request;
  stripMeshHeaders(request.headers, connection.peerPrincipal !== undefined);
  if (connection.peerPrincipal) {
    // Istio's inbound SANITIZE_SET: the app learns the verified caller, never a forged value.
    request.headers.set('x-forwarded-client-cert', `By=${rt.localPrincipal ?? ''};URI=${connection.peerPrincipal}`);
  }
  const hc = typeof chain === 'function' ? chain(request) : chain;
  if (!hc) {
    reply(LocalReplies.routeNotFound);
    return;
  }
  if (hc.useRemoteAddress) {
    // At the edge the client address is derived from trusted XFF hops only (policies' remoteIpBlocks
    // read it), and the peer is appended for the next hop, as Envoy does.
    const xff = request.headers.get('x-forwarded-for');
    const client = trustedClientAddress(forwardedAddresses(xff), connection.remoteAddress, hc.xffTrustedHops);
    info.dynamicMetadata.set(REMOTE_IP_METADATA, { address: client });
    request.headers.set('x-forwarded-for', appendForwardedFor(xff, connection.remoteAddress));
  }
  const table = hc.inlineRoutes ?? (hc.rdsName ? rt.routeTable(hc.rdsName) : undefined);
  const route = table?.match(request, rt.random()) ?? null;
  if (route) info.routeName = route.name;
  const ctx: RequestContext = { request, info, route };
  let requestBytes = 0;
  let responseBytes = 0;
  let status = 0;
  let grpcStatus: number | undefined;
  res.once('close', () => {
    const outcome: StreamOutcome = { status, requestBytes, responseBytes, durationMs: rt.now() - info.startTime, downstreamReset: !res.writableFinished };
    if (grpcStatus !== undefined) outcome.grpcStatus = grpcStatus;
    for (const f of hc.filters) f.filter.onDone?.(ctx, outcome);
  });
  const finalReply = (r: LocalReply, fromRoute = false) => {
    status = isGrpc ? 200 : r.status;
    // Filters see local replies too (CORS headers, denial receipts) and their edits are sent.
    const headers = new Map<string, string | string[]>(Object.entries(r.headers ?? {}));
    // As Envoy does, a direct response or redirect carries its route's response header mutations.
    if (fromRoute) route?.mutateResponseHeaders(headers);
    for (const f of hc.filters) f.filter.onResponse?.(ctx, { status: r.status, headers });
    const merged: Record<string, string> = {};
    for (const [k, v] of headers) merged[k] = Array.isArray(v) ? v.join(', ') : v;
    reply({ ...r, headers: merged });
  };
  for (const f of hc.filters) {
    if (!f.filter.onRequest) continue;
    const verdict = await f.filter.onRequest(ctx);
    if (verdict.action === 'respond') {
      finalReply(verdict.reply);
      return;
    }
  }
  if (!route) {
    finalReply(LocalReplies.routeNotFound);
    return;
  }
  if (route.kind === 'direct_response' && route.directResponse) {
    finalReply({ ...LocalReplies.directResponse, status: route.directResponse.status, body: route.directResponse.body }, true);
    return;
  }
  if (route.kind === 'redirect' && route.redirect) {
    finalReply({ status: route.redirect.status, details: 'direct_response', headers: { location: route.redirect.location(request) } }, true);
    return;
  }
  const choice = route.kind === 'forward' ? route.pickCluster(rt.random(), request.headers) : null;
  if (!choice) {
    finalReply(route.kind === 'forward' ? { ...LocalReplies.clusterNotFound, status: route.clusterNotFoundStatus } : LocalReplies.routeNotFound);
    return;
  }
  const path = route.rewritePath(request.path);
  const authority = route.rewriteAuthority(request, choice);
  const upstreamHeaders = toUpstreamHeaders(request);
  const mutable = new Map(Object.entries(upstreamHeaders));
  route.mutateRequestHeaders(mutable, choice);
  const grpcHeaderMs = route.grpcTimeoutHeaderMaxMs !== undefined ? grpcTimeoutMs(request.headers.get('grpc-timeout')) : undefined;
  let timeoutMs = route.timeoutMs;
  if (grpcHeaderMs !== undefined) {
    const capped = route.grpcTimeoutHeaderMaxMs ? Math.min(grpcHeaderMs, route.grpcTimeoutHeaderMaxMs) : grpcHeaderMs;
    timeoutMs = Math.max(1, capped - route.grpcTimeoutHeaderOffsetMs);
  }
  const draining = rt.draining();
  const withBody = hasBody(req);
  const trailersIn = withBody ? requestTrailers(req) : undefined;
  const trailersOut = h2 || acceptsTrailers(req.headers['te']);
  const fwd = forward(
    rt.clusters,
    {
      clusterName: choice.name,
      head: {
        method: request.method,
        path: request.query ? `${path}?${request.query}` : path || '/',
        authority,
        scheme: 'http',
        headers: Object.fromEntries(mutable),
        ...(trailersIn ? { trailers: trailersIn } : {}),
      },
      body: withBody ? countBytes(req, (n) => (requestBytes += n)) : null,
      timeoutMs,
      retries: route.retryPolicy?.numRetries ?? 0,
      // The route's retry policy, mirrors and hash policy; the request they are computed from.
      route,
      request,
      random: rt.random,
      info,
      originalDst: { address: request.connection.localAddress, port: request.connection.localPort },
    },
    {
      head(s, headers) {
        if (res.headersSent) {
          // An upstream that answers twice is a broken peer: end this stream, never the process.
          if (h2) (res as Http2ServerResponse).stream.close(2);
          else (res as ServerResponse).destroy();
          return;
        }
        status = s;
        const map = new Map(Object.entries(headers));
        route.mutateResponseHeaders(map, choice);
        for (const f of hc.filters) f.filter.onResponse?.(ctx, { status: s, headers: map });
        const gs = map.get('grpc-status');
        if (typeof gs === 'string') grpcStatus = Number(gs);
        (res as ServerResponse).writeHead(s, responseHeaders(Object.fromEntries(map), h2, draining));
      },
      data(chunk) {
        responseBytes += chunk.length;
        return (res as ServerResponse).write(chunk);
      },
      onDrain(fn) {
        res.on('drain', fn);
      },
      end(trailers) {
        const gs = trailers['grpc-status'];
        if (typeof gs === 'string') grpcStatus = Number(gs);
        // HTTP/1.1 sends them as chunked trailers (Node drops them when the response has a length).
        if (trailersOut && Object.keys(trailers).length) res.addTrailers(forwardableTrailers(trailers) as Record<string, string>);
        res.end();
      },
      reply: (r) => finalReply(r),
      reset() {
        if (h2) (res as Http2ServerResponse).stream.close(2);
        else (res as ServerResponse).destroy();
      },
    },
    rt.timers ?? realTimers,
  );
  res.once('close', () => {
    if (!res.writableFinished) fwd.cancel();
  });
}
