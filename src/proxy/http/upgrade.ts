// HTTP/1.1 Upgrade (WebSocket): a request like any other until its 101. It is parsed, given the
// connection's headers and routed, then every decoder filter of the chain runs on it, as Envoy runs them
// on an upgrade request: authorization (RBAC, JWT, ext_authz) and faults decide before anything is
// dialled, and a refusal is a local reply that closes the connection. Then the upstream gets a dedicated
// connection (direct or through the tunnel) carrying the original head; only its 101 splices the two
// connections (an upstream that answers 200 instead gets nothing more from the client). The connection
// is never pooled, so such an upstream poisons nobody.
import type { Duplex } from 'node:stream';
import type { HandedRequest } from './h1-server.ts';
import { http } from '../node-http.ts';
import type { HttpChain } from '../listener/compile-listener.ts';
import { LocalReplies, type ReplyTarget, recordReply, sendLocalReply } from '../local-reply.ts';
import { requestHost } from '../cluster/origination-tls.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import { CHUNKED, LENGTH, MAX_RESPONSE_HEAD, NONE as NO_BODY, parseResponseHead, responseFraming, UNTIL_CLOSE } from '../upstream/h1-client.ts';
import type { OutgoingHeaders } from '../upstream/upstream.ts';
import type { FilterStream, HcmRuntime } from './connection-manager.ts';
import { connectionHeaders, matchRoute, newStreamInfo, refusesHttpsUrl, requestFilters, routeAnswer, routeCluster, upstreamHeaderMap } from './connection-manager.ts';
import { cancelDeciding, encodeResponseHead, filtersDone, hopByHop, withServerHeader } from './http-stream.ts';
import type { FilterVerdict, LocalReply, RequestContext, StreamOutcome } from './filter.ts';
import { BAD_OUTGOING_VALUE } from './field-syntax.ts';
import { parseRequest } from './parse-request.ts';
import type { ClusterChoice, MatchedRoute } from './route/index.ts';
import { type ConnectionInfo, type HeaderMap, headerMapOf, type StreamInfo } from './stream.ts';
import { ChunkedDecoder } from './chunked.ts';
import { closeDelayed } from './delayed-close.ts';
import { realTimers, type Timers } from './router.ts';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS, type StreamTimeoutConfig, StreamTimeouts, type TimedStream } from './stream-timeouts.ts';

/** The start of an upstream's status line, `HTTP/1.x NNN` and a space or the line's end: its status code. */

/**
 * A filter whose onRequest promise rejected: the upgrade is answered 500 through the local reply (its
 * filters' onDone see it), where a request's stream is reset. Envoy's C++ filters have no such case.
 */
const filterError: LocalReply = { status: 500, flag: '', details: 'filter_error', body: '' };

/** What edits a local reply's head: nothing (a refused upgrade: Envoy makes no filter chain for it), each filter's onResponse (CORS, denial receipts), or the route's response header mutations too (the router's replies). */
const ENCODE_NONE = 0;
const ENCODE_FILTERS = 1;
const ENCODE_ROUTE = 2;

/**
 * A local reply written on the upgrade's socket, which then closes as Envoy closes after a local reply:
 * its delayed close (FIN once written, the client's bytes read and dropped, delayed_close_timeout on the
 * proxy's timers), since the codec's own timers stopped when it handed the socket over. `ctx` null: the
 * codec's reply before the route was matched, which no filter sees. Otherwise their onDone see it
 * (counted and logged) and, as HttpStream.finalReply, `encode` says what edits its head first.
 */
function replyAndClose(sock: Duplex, chain: HttpChain, info: StreamInfo, ctx: RequestContext | null, reply: LocalReply, rt: HcmRuntime, encode = ENCODE_FILTERS, route: MatchedRoute | null = null, choice: ClusterChoice | null = null): void {
  let head = '';
  let sent = false;
  let r = withServerHeader(reply, chain.serverHeader);
  if (ctx !== null && encode !== ENCODE_NONE) {
    const map: HeaderMap = new Map();
    for (const k in reply.headers) map.set(k, reply.headers[k] as string);
    encodeResponseHead(ctx, reply.status, map, encode === ENCODE_ROUTE ? route : null, choice, chain.filters, chain.serverHeader);
    const merged: Record<string, string> = {};
    map.forEach((v, k) => {
      merged[k] = typeof v === 'string' ? v : v.join(', ');
    });
    r = { ...reply, headers: merged };
  }
  const target: ReplyTarget = {
    get headersSent() {
      return sent;
    },
    writeHead(status, headers) {
      sent = true;
      head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
      for (const k in headers) head += `${k}: ${headers[k]}\r\n`;
      head += 'connection: close\r\n\r\n';
    },
    end(body) {
      const bytes = Buffer.from(body ?? '');
      closeDelayed(sock, rt.timers ?? realTimers, head + bytes.toString('latin1'));
      if (ctx !== null) filtersDone(chain.filters, ctx, { status: reply.status, requestBytes: 0, responseBytes: bytes.length, requestHeadBytes: 0, responseHeadBytes: head.length, durationMs: rt.now() - info.startTime, downstreamReset: false });
    },
  };
  sendLocalReply(target, r, info, false);
}

/**
 * Envoy's answer to an upgrade neither the route nor the connection manager allows: 403, details
 * upgrade_failed, a local reply the filters' onDone see (counted and logged), though none decided on it.
 */
export const upgradeFailed: LocalReply = { status: 403, flag: '', details: 'upgrade_failed', body: '' };

/** Whether this upgrade is served (Envoy's createUpgradeFilterChain): the route's upgrade_configs for the type decide, else the HCM's. Only WebSocket is. */
function upgradeAllowed(kind: string, chain: HttpChain, route: MatchedRoute | null): boolean {
  return kind === 'websocket' && (route?.upgrades.get(kind) ?? chain.websocket);
}

export function handleUpgrade(rt: HcmRuntime, chain: HttpChain, connection: ConnectionInfo, req: HandedRequest, sock: Duplex, head: Buffer): void {
  sock.on('error', () => {});
  const info = newStreamInfo(rt.now());
  // The chain's own path normalisation, as for a request: the policies see the path the upstream gets.
  const parsed = parseRequest({ method: req.method ?? '', target: req.url ?? '', protocol: 'HTTP/1.1', rawHeaders: req.rawHeaders }, connection, chain.normalize);
  if (!parsed.ok) {
    replyAndClose(sock, chain, info, null, parsed.reply, rt);
    return;
  }
  const request = parsed.request;
  // As for a request, before any upgrade handling.
  if (refusesHttpsUrl(chain, request)) {
    replyAndClose(sock, chain, info, null, LocalReplies.httpsInPlaintext, rt);
    return;
  }
  connectionHeaders(rt, chain, request, info);
  const table = chain.inlineRoutes ?? (chain.rdsName ? rt.routeTable(chain.rdsName) : undefined);
  // A filter still deciding when the client leaves cancels what it sent (its onDestroy), as on a request.
  // A filter that clears the route cache (jwt_authn on a gateway) has the route and cluster chosen again
  // in it: the upgrade goes where the claims route it, as a request does.
  const stream: FilterStream = { deciding: undefined, route: null, choice: null, matchDraw: Number.NaN, pickDraw: Number.NaN };
  const route = matchRoute(rt, stream, table, request, info);
  if (route) info.routeName = route.name;
  stream.route = route;
  // The cluster too, before the filters, as for a request.
  stream.choice = routeCluster(rt, stream, route, request.headers, info);
  const ctx: RequestContext = { request, info, route };
  // A refused upgrade is answered before any filter decides, as Envoy's connection manager does.
  if (!upgradeAllowed(String(req.headers.upgrade ?? '').toLowerCase(), chain, route)) {
    replyAndClose(sock, chain, info, ctx, upgradeFailed, rt, ENCODE_NONE);
    return;
  }
  let gone = false;
  sock.once('close', () => {
    gone = true;
    cancelDeciding(stream, ctx);
  });
  sock.pause();
  const go = (verdict: FilterVerdict): void => {
    if (gone) return;
    if (verdict.action === 'respond') replyAndClose(sock, chain, info, ctx, verdict.reply, rt);
    else forwardUpgrade(rt, chain, ctx, stream.route, stream.choice, req, sock, head);
  };
  const verdict = requestFilters(stream, chain.filters, ctx, 0, rt, table);
  if (verdict instanceof Promise) verdict.then(go, () => (gone ? undefined : replyAndClose(sock, chain, info, ctx, filterError, rt)));
  else go(verdict);
}

/**
 * After the filters: the route's upstream gets the upgrade on a connection of its own. What fails before
 * the splice is a local reply (404 NR, 503 NC, UH, UF, 504 UT or SI); a spliced upgrade ends for the
 * filters when both sides have closed, with the upstream's status (101, or what it answered instead) and
 * the bytes each way.
 */
function forwardUpgrade(rt: HcmRuntime, chain: HttpChain, ctx: RequestContext, route: MatchedRoute | null, choice: ClusterChoice | null, req: HandedRequest, sock: Duplex, head: Buffer): void {
  const { request, info } = ctx;
  // The router's replies carry the route's response header mutations, as on a request (finalReply's fromRoute).
  const fail = (reply: LocalReply, encode = ENCODE_ROUTE): void => replyAndClose(sock, chain, info, ctx, reply, rt, encode, route, choice);
  if (route === null) return void fail(LocalReplies.routeNotFound, ENCODE_FILTERS);
  // A direct_response or redirect route answers an upgrade as a request (Envoy's router does either way).
  const answer = routeAnswer(route, request);
  if (answer) return void fail(answer);
  if (route.kind !== 'forward') return void fail(LocalReplies.routeNotFound, ENCODE_FILTERS);
  const cluster = choice ? rt.clusters.get(choice.name) : undefined;
  if (!choice || !cluster) return void fail(LocalReplies.clusterNotFound);
  const endpoint = cluster.pick();
  if (!endpoint) return void fail(LocalReplies.noHealthyUpstream);
  info.upstreamHost = endpoint.key;
  info.upstreamWorkload = endpoint.workload;
  // As the router's try: through the tunnel in the cluster's own TLS, the app answers, not its sidecar.
  info.upstreamMesh = endpoint.mesh && cluster.settings.origination === undefined;
  const headers = upstreamHeaderMap(request);
  route.mutateRequestHeaders(headers, choice);
  const path = route.rewritePath(request.path) + (request.query ? `?${request.query}` : '');
  const authority = route.rewriteAuthority(request, choice);
  let text = `${request.method} ${path} HTTP/1.1\r\nhost: ${authority}\r\nconnection: Upgrade\r\nupgrade: ${String(req.headers.upgrade)}\r\n`;
  for (const [k, v] of headers) for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
  const relay = new UpgradeRelay(sock, head, request.method === 'HEAD', info, {
    reply: fail,
    encode: (status, map) => {
      // The answer's status counts for outlier detection, as the router's onUpstreamHeaders charges it.
      cluster.reportResult(endpoint.key, status);
      encodeResponseHead(ctx, status, map, route, choice, chain.filters, chain.serverHeader);
    },
    // As the router's onResponseTimeout (counted in upstream_rq_timeout) and onUpstreamReset.
    unanswered: (outcome) => {
      if (outcome === 'timeout') cluster.stats.upstream_rq_timeout.inc();
      cluster.reportResult(endpoint.key, outcome);
    },
    ended: (outcome) => filtersDone(chain.filters, ctx, { ...outcome, durationMs: rt.now() - info.startTime }),
  });
  relay.arm(rt.timers ?? realTimers, route.timeoutMs, chain.streamTimeouts, route);
  // auto_sni / auto_san_validation apply to an upgrade as to any request (Envoy's router sets the
  // upstream server name and SANs from the host it sends): the connection is made for that host.
  connectStream(cluster, endpoint, relay.abandon.signal, requestHost(cluster.settings.origination, authority)).then(
    (upstream) => {
      // The client left, or a timer ended the upgrade, while the connection was made: nothing to relay.
      if (relay.over || sock.destroyed) {
        upstream.destroy();
        relay.clientGone();
        return;
      }
      // As the router's onPoolReady: the connection's kind recorded, and a connect success counted.
      info.upstreamTls = cluster.meshTls(endpoint);
      cluster.reportResult(endpoint.key, 'connect-success');
      cluster.stats.upstream_cx_active.inc();
      upstream.once('close', () => cluster.stats.upstream_cx_active.dec());
      upstream.write(`${text}\r\n`);
      relay.relay(upstream);
    },
    () => {
      if (relay.over) return;
      cluster.stats.upstream_cx_connect_fail.inc();
      cluster.reportResult(endpoint.key, 'connect-failed');
      relay.reply(LocalReplies.connectFailure);
    },
  );
}

/**
 * Most bytes a client may send while a refused upgrade's answer is relayed: read and dropped up to
 * here, then both connections are reset. Envoy's per_connection_buffer_limit_bytes default (1 MiB),
 * the most of an upgrade's early bytes it holds.
 */
const MAX_DROPPED = 1024 * 1024;

/**
 * The answer's head as it goes downstream, after the filters: HTTP/1.1 with the status's own reason
 * phrase (as Envoy's codec writes it). Hop-by-hop fields are dropped, but for a 101's `upgrade` and
 * `connection`; a refusal keeps its `transfer-encoding`, since its body is relayed as framed, and says
 * `connection: close` (the connection ends with it).
 */
function answerHead(status: number, map: HeaderMap): string {
  const switched = status === 101;
  let text = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
  map.forEach((v, k) => {
    if (hopByHop.has(k) && !(switched ? k === 'upgrade' || k === 'connection' : k === 'transfer-encoding')) return;
    if (typeof v === 'string') {
      if (!BAD_OUTGOING_VALUE.test(v)) text += `${k}: ${v}\r\n`;
      return;
    }
    for (let i = 0; i < v.length; i++) if (!BAD_OUTGOING_VALUE.test(v[i] as string)) text += `${k}: ${v[i]}\r\n`;
  });
  if (!switched) text += 'connection: close\r\n';
  return `${text}\r\n`;
}

/** What an UpgradeRelay asks of its upgrade: a local reply, the answer head's edits, the end for the filters. */
interface RelayHooks {
  reply(reply: LocalReply, encode?: number): void;
  encode(status: number, map: HeaderMap): void;
  /** The endpoint gave no answer head: the route timeout fired, or it closed or failed first. */
  unanswered(outcome: 'timeout' | 'reset'): void;
  ended(o: Omit<StreamOutcome, 'durationMs'>): void;
}

/** Envoy's record of a client that closed a spliced upgrade: its connection's RemoteClose (completeRequest sets DC). */
const downstreamDisconnect: LocalReply = { status: 0, flag: 'DC', details: 'downstream_remote_disconnect' };

/**
 * One upgrade from its forwarding to its end, and its timers (Envoy's): the route timeout until the
 * upstream's answer head arrives (504 UT), the stream idle timeout (504 SI before that head, a reset
 * after) and max_stream_duration over all of it, the spliced connection included. On the proxy's
 * timers. The answer's head goes downstream as any response's does (parsed, through the route's and
 * the filters' edits, serialised again). An answer other than 101 is relayed and ends the upgrade once
 * complete (by its length or its last chunk; one without either, when the upstream closes).
 */
class UpgradeRelay implements TimedStream {
  readonly #sock: Duplex;
  readonly #early: Buffer;
  readonly #headRequest: boolean;
  readonly #info: StreamInfo;
  readonly #hooks: RelayHooks;
  /** Abandons a connect still under way (a timer fired). */
  readonly abandon = new AbortController();
  #upstream: Duplex | null = null;
  #timers: Timers = realTimers;
  #routeTimer: unknown;
  #timeouts: StreamTimeouts | undefined;
  /** A local reply was sent or the outcome reported: the upgrade is over. */
  over = false;
  #status = 0;
  /** The upstream's answer head, in bytes received (its interim answers not included), and the head sent downstream. */
  #headLength = 0;
  #headOut = 0;
  #sent = 0;
  #received = 0;
  /** The client's bytes read and dropped while a refusal is relayed. */
  #dropped = 0;
  /** The answer's head has gone downstream. */
  #answered = false;
  #framing = NO_BODY;
  #remaining = 0;
  #chunks: ChunkedDecoder | null = null;
  /** An unfinished chunk line, handed back to the decoder with the next bytes. */
  #pending: Buffer | null = null;

  constructor(sock: Duplex, early: Buffer, headRequest: boolean, info: StreamInfo, hooks: RelayHooks) {
    this.#sock = sock;
    this.#early = early;
    this.#headRequest = headRequest;
    this.#info = info;
    this.#hooks = hooks;
    // The client leaving before the upstream is there: nothing to relay (once it is, relay() listens).
    sock.once('close', this.#clientClosedEarly);
  }

  readonly #clientClosedEarly = (): void => {
    if (this.#upstream === null) this.clientGone();
  };

  /** Starts the timers: `routeTimeoutMs` (0: none) until the answer's head; the stream's for the whole upgrade. */
  arm(timers: Timers, routeTimeoutMs: number, config: StreamTimeoutConfig | undefined, route: MatchedRoute): void {
    this.#timers = timers;
    if (routeTimeoutMs > 0) this.#routeTimer = timers.set(this.#onRouteTimeout, routeTimeoutMs);
    const idleMs = route.idleTimeoutMs ?? config?.idleMs ?? DEFAULT_STREAM_IDLE_TIMEOUT_MS;
    const maxDurationMs = config?.maxDurationMs ?? 0;
    if (idleMs > 0 || maxDurationMs > 0 || route.maxStreamDurationMs) this.#timeouts = new StreamTimeouts(this, { idleMs, maxDurationMs }, timers, route.maxStreamDurationMs);
  }

  readonly #onRouteTimeout = (): void => {
    this.#routeTimer = undefined;
    if (this.over || this.#answered) return;
    this.#hooks.unanswered('timeout');
    this.#upstream?.destroy();
    this.reply(LocalReplies.upstreamTimeout, ENCODE_ROUTE);
  };

  // TimedStream: the stream timers read the bytes each way, the answer's head included.
  progress(): number {
    return this.#sent + this.#received;
  }

  requestComplete(): boolean {
    return true;
  }

  /**
   * A stream timer fired: a local reply (504) while no answer has gone downstream, else both connections
   * reset, the stream given the timer's flag and details (SI stream_idle_timeout, as Envoy's onIdleTimeout
   * sets them on a stream whose response started), its status staying the upstream's.
   */
  expire(reply: LocalReply): void {
    if (this.over) return;
    if (!this.#answered) {
      this.#upstream?.destroy();
      this.reply(reply, ENCODE_FILTERS);
      return;
    }
    recordReply(this.#info, reply);
    this.#sock.destroy();
    this.#upstream?.destroy();
    this.#report(false);
  }

  /** A local reply closes the upgrade (its filters' onDone run with it). */
  reply(reply: LocalReply, encode = ENCODE_ROUTE): void {
    if (this.over) return;
    this.#finish();
    this.abandon.abort();
    this.#hooks.reply(reply, encode);
  }

  /** The client left before anything was relayed. */
  clientGone(): void {
    if (this.over) return;
    this.abandon.abort();
    this.#report(true);
  }

  #finish(): void {
    this.over = true;
    this.#timers.clear(this.#routeTimer);
    this.#routeTimer = undefined;
    this.#timeouts?.clear();
    this.#sock.removeListener('close', this.#clientClosedEarly);
  }

  #report(downstreamReset: boolean): void {
    if (this.over) return;
    this.#finish();
    this.#hooks.ended({ status: this.#status, requestBytes: this.#sent, responseBytes: Math.max(0, this.#received - this.#headLength), requestHeadBytes: 0, responseHeadBytes: this.#headOut, downstreamReset });
  }

  /** The upstream broke HTTP in its answer's head (too large, too many fields, malformed, a refusal's framing): 502 UPE, as Envoy's codec. */
  #protocolError(upstream: Duplex): void {
    // The router charges a protocol error to the endpoint as a reset (upstream-request.ts outlierOf).
    if (!this.over) this.#hooks.unanswered('reset');
    upstream.destroy();
    this.reply(LocalReplies.upstreamProtocolError);
  }

  /**
   * The upgrade's request head has gone upstream; nothing else goes until the upstream switches protocols.
   * As Envoy holds an upgrade's upstream request until its 101: the client's bytes after its head (early
   * frames) and all it sends next wait. A 101 splices the two connections. Any other answer is the
   * response to the request: it is relayed, nothing the client sends reaches the upstream, and the
   * connection ends with it (else an upstream that answered 200 and kept its connection would give the
   * client a raw pipe to the app, past every filter, for all it sends next).
   */
  relay(upstream: Duplex): void {
    this.#upstream = upstream;
    const sock = this.#sock;
    let buf: Buffer = Buffer.alloc(0);
    const fail = (): void => {
      // Over already: a timer's local reply, which must not be cut by the upstream's close it caused.
      if (this.over) return;
      sock.destroy();
      upstream.destroy();
      this.#report(this.#status === 0);
    };
    // As the router's onUpstreamReset before the response's head: a reset charged to the endpoint.
    const upstreamFailed = (): void => {
      if (!this.over) this.#hooks.unanswered('reset');
      fail();
    };
    upstream.on('error', upstreamFailed);
    upstream.on('close', upstreamFailed);
    sock.on('close', fail);
    let map: HeaderMap;
    const onHead = (c: Buffer): void => {
      if (this.over) return;
      this.#received += c.length;
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        // The HTTP/1.1 client's limits (Envoy's 60 KiB and 100 fields; past either, 502 UPE), on the head
        // whole or still arriving: its size, then its fields, parsed as the client parses a response head.
        if ((end < 0 ? buf.length : end + 4) > MAX_RESPONSE_HEAD) return void this.#protocolError(upstream);
        if (end < 0) return;
        const fields: OutgoingHeaders = {};
        const status = parseResponseHead(buf.toString('latin1', 0, end), fields);
        if (status < 0) return void this.#protocolError(upstream);
        if (status >= 200) {
          // A refusal's framing, checked as the HTTP/1.1 client checks a response's (conflicting or
          // malformed content-length, both content-length and transfer-encoding: 502 UPE).
          const framing = responseFraming(fields, status, this.#headRequest);
          if (framing < 0) return void this.#protocolError(upstream);
          this.#framing = framing;
          if (framing === LENGTH) this.#remaining = Number(fields['content-length']);
        }
        if (status >= 200 || status === 101) {
          map = headerMapOf(fields);
          this.#status = status;
          this.#headLength = end + 4;
          break;
        }
        // An interim answer (100 Continue) is not the answer: dropped, as Envoy drops it, and the head after it awaited.
        this.#received -= end + 4;
        buf = buf.subarray(end + 4);
        if (buf.length === 0) return;
      }
      upstream.removeListener('data', onHead);
      upstream.removeListener('error', upstreamFailed);
      upstream.removeListener('close', upstreamFailed);
      sock.removeListener('close', fail);
      upstream.pause();
      this.#timers.clear(this.#routeTimer);
      this.#routeTimer = undefined;
      this.#answered = true;
      const rest = buf.subarray(this.#headLength);
      if (this.#status === 101) this.#splice(upstream, this.#encoded(map), rest);
      else this.#answer(upstream, map, rest);
    };
    upstream.on('data', onHead);
  }

  /** The answer's head as it goes downstream, through the route's and the filters' edits (Envoy's encodeHeaders); its length counted. */
  #encoded(map: HeaderMap): string {
    this.#hooks.encode(this.#status, map);
    const text = answerHead(this.#status, map);
    this.#headOut = text.length;
    return text;
  }

  /**
   * Switched: the head, then the two connections spliced. Which side ends first is the stream's record,
   * as Envoy's: the client's close is its connection's RemoteClose (DC downstream_remote_disconnect, set in
   * completeRequest whatever the response code); the upstream's, a reset of the upstream request once the
   * response started (codec_client's RemoteClose resets it ConnectionTermination: UC
   * upstream_reset_after_response_started{connection_termination}).
   */
  #splice(upstream: Duplex, head: string, rest: Buffer): void {
    const sock = this.#sock;
    sock.write(head, 'latin1');
    if (rest.length) sock.write(rest);
    const early = this.#early;
    this.#sent = early.length;
    if (early.length) upstream.write(early);
    sock.on('data', (d: Buffer) => {
      this.#sent += d.length;
    });
    upstream.on('data', (d: Buffer) => {
      this.#received += d.length;
    });
    let first: LocalReply | undefined;
    const byClient = (): void => {
      if (!this.over) first ??= downstreamDisconnect;
    };
    const byUpstream = (): void => {
      if (!this.over) first ??= LocalReplies.upstreamResetAfterHead;
    };
    // Before the splice's own listeners: a reset on one side destroys the other at once.
    for (const event of ['error', 'end', 'close']) {
      sock.prependOnceListener(event, byClient);
      upstream.prependOnceListener(event, byUpstream);
    }
    splice(sock, upstream, () => {
      if (this.over) return;
      if (first !== undefined) recordReply(this.#info, first);
      this.#report(false);
    });
    sock.resume();
  }

  /**
   * Not switched: the head, then the rest of the response to the client, up to its end. What the client
   * sends meanwhile is read and dropped (up to MAX_DROPPED, then both connections are reset), as Envoy
   * sends the whole response before its delayed close; nothing of it goes upstream.
   */
  #answer(upstream: Duplex, map: HeaderMap, rest: Buffer): void {
    const sock = this.#sock;
    // The body is relayed as the upstream framed it (read in its head, before any filter's edits).
    const head = this.#encoded(map);
    sock.on('error', () => upstream.destroy());
    upstream.on('error', () => sock.destroy());
    sock.on('data', this.#clientSent);
    sock.once('close', () => {
      upstream.destroy();
      this.#report(false);
    });
    // An answer framed by the connection's end is complete with it; one cut short is reset (Envoy's
    // upstream reset after the response started).
    upstream.once('close', () => {
      if (this.over) return;
      if (this.#framing === UNTIL_CLOSE) return void this.#complete();
      sock.destroy();
      this.#report(false);
    });
    upstream.on('data', (d: Buffer) => {
      if (!this.over) this.#body(d);
    });
    sock.on('drain', () => {
      if (!this.over) upstream.resume();
    });
    // The head itself, then the body's bytes after it, up to the answer's end.
    this.#received -= rest.length;
    const ok = sock.write(head, 'latin1');
    sock.resume();
    if (this.#body(rest) || !ok) return;
    upstream.resume();
  }

  /** What the client sends while a refusal is relayed: dropped; past MAX_DROPPED, the end of both connections. */
  readonly #clientSent = (d: Buffer): void => {
    this.#dropped += d.length;
    if (this.#dropped <= MAX_DROPPED) return;
    this.#sock.destroy();
    this.#upstream?.destroy();
  };

  /** Relays body bytes of a non-101 answer; true once the answer is complete (the upgrade then ends). */
  #body(d: Buffer): boolean {
    const upstream = this.#upstream as Duplex;
    let take = d.length;
    let complete = false;
    if (this.#framing === NO_BODY) {
      take = 0;
      complete = true;
    } else if (this.#framing === LENGTH) {
      take = Math.min(this.#remaining, d.length);
      this.#remaining -= take;
      complete = this.#remaining === 0;
    } else if (this.#framing === CHUNKED) {
      this.#chunks ??= new ChunkedDecoder(MAX_RESPONSE_HEAD, true);
      const pending = this.#pending;
      const input = pending === null ? d : Buffer.concat([pending, d]);
      let bad = false;
      const used = this.#chunks.decode(input, {
        data: noop,
        end: () => {
          complete = true;
        },
        error: () => {
          bad = true;
        },
      });
      if (bad) {
        // Not HTTP: the client gets what was relayed, then a reset.
        this.#sock.destroy();
        upstream.destroy();
        return true;
      }
      this.#pending = this.#chunks.needMore ? input.subarray(used) : null;
      if (complete) take = used - (pending?.length ?? 0);
    }
    this.#received += take;
    const ok = take === 0 || this.#sock.write(take === d.length ? d : d.subarray(0, take));
    if (complete) {
      this.#complete();
      return true;
    }
    if (!ok) upstream.pause();
    return false;
  }

  /**
   * The answer is whole: the upgrade is over. The client gets its end (Envoy's delayed close: what it
   * sends next is read and dropped); the upstream's connection, never reused, is closed.
   */
  #complete(): void {
    this.#sock.removeListener('data', this.#clientSent);
    this.#upstream?.destroy();
    this.#report(false);
    closeDelayed(this.#sock, this.#timers);
  }
}

const noop = (): void => {};
