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
import { LocalReplies, type ReplyTarget, sendLocalReply } from '../local-reply.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import type { HcmRuntime } from './connection-manager.ts';
import { connectionHeaders, newStreamInfo, refusesHttpsUrl, requestFilters, routeCluster, upstreamHeaderMap } from './connection-manager.ts';
import { cancelDeciding, filtersDone, withServerHeader } from './http-stream.ts';
import type { FilterVerdict, HttpFilter, LocalReply, RequestContext, StreamOutcome } from './filter.ts';
import { parseRequest } from './parse-request.ts';
import type { ClusterChoice, MatchedRoute } from './route/index.ts';
import type { ConnectionInfo } from './stream.ts';
import { ChunkedDecoder } from './chunked.ts';
import { closeDelayed } from './delayed-close.ts';
import { realTimers, type Timers } from './router.ts';
import { DEFAULT_STREAM_IDLE_TIMEOUT_MS, type StreamTimeoutConfig, StreamTimeouts, type TimedStream } from './stream-timeouts.ts';

/** The start of an upstream's status line, `HTTP/1.x NNN` and a space or the line's end: its status code. */
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})[ \r]/;

function refuse(sock: Duplex, status: number, reason: string): void {
  sock.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

/**
 * A filter's local reply written on the upgrade's socket, which then closes; the filters' onDone see it,
 * as a request's end. `filtersSaw` false: the codec's reply before any filter ran, which none of them sees.
 */
function replyAndClose(sock: Duplex, chain: HttpChain, ctx: RequestContext, reply: LocalReply, now: () => number, filtersSaw = true): void {
  let head = '';
  let sent = false;
  const target: ReplyTarget = {
    get headersSent() {
      return sent;
    },
    writeHead(status, headers) {
      sent = true;
      head = `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n`;
      for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
      head += 'connection: close\r\n\r\n';
    },
    end(body) {
      const bytes = Buffer.from(body ?? '', 'utf8');
      sock.end(Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
      if (filtersSaw) filtersDone(chain.filters, ctx, { status: reply.status, requestBytes: 0, responseBytes: bytes.length, requestHeadBytes: 0, responseHeadBytes: head.length, durationMs: now() - ctx.info.startTime, downstreamReset: false });
    },
  };
  sendLocalReply(target, withServerHeader(reply, chain.serverHeader), ctx.info, false);
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
  // The chain's own path normalisation, as for a request: the policies see the path the upstream gets.
  const parsed = parseRequest({ method: req.method ?? '', target: req.url ?? '', protocol: 'HTTP/1.1', rawHeaders: req.rawHeaders }, connection, chain.normalize);
  if (!parsed.ok) {
    refuse(sock, parsed.reply.status, 'Bad Request');
    return;
  }
  const request = parsed.request;
  const info = newStreamInfo(rt.now());
  // As for a request, before any upgrade handling.
  if (refusesHttpsUrl(chain, request)) {
    replyAndClose(sock, chain, { request, info, route: null }, LocalReplies.httpsInPlaintext, rt.now, false);
    return;
  }
  connectionHeaders(rt, chain, request, info);
  const table = chain.inlineRoutes ?? (chain.rdsName ? rt.routeTable(chain.rdsName) : undefined);
  const route = table?.match(request, rt.random()) ?? null;
  if (route) info.routeName = route.name;
  // The cluster too, before the filters, as for a request.
  const choice = routeCluster(rt, route, request.headers, info);
  const ctx: RequestContext = { request, info, route };
  // A refused upgrade is answered before any filter decides, as Envoy's connection manager does.
  if (!upgradeAllowed(String(req.headers.upgrade ?? '').toLowerCase(), chain, route)) {
    replyAndClose(sock, chain, ctx, upgradeFailed, rt.now);
    return;
  }
  // A filter still deciding when the client leaves cancels what it sent (its onDestroy), as on a request.
  const stream: { deciding: HttpFilter | undefined } = { deciding: undefined };
  let gone = false;
  sock.once('close', () => {
    gone = true;
    cancelDeciding(stream, ctx);
  });
  sock.pause();
  const go = (verdict: FilterVerdict): void => {
    if (gone) return;
    if (verdict.action === 'respond') replyAndClose(sock, chain, ctx, verdict.reply, rt.now);
    else forwardUpgrade(rt, chain, ctx, route, choice, req, sock, head);
  };
  const verdict = requestFilters(stream, chain.filters, ctx, 0);
  if (verdict instanceof Promise) verdict.then(go, () => (gone ? undefined : refuse(sock, 500, 'Internal Server Error')));
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
  const fail = (reply: LocalReply): void => replyAndClose(sock, chain, ctx, reply, rt.now);
  if (route?.kind !== 'forward') return void fail(LocalReplies.routeNotFound);
  const cluster = choice ? rt.clusters.get(choice.name) : undefined;
  if (!choice || !cluster) return void fail(LocalReplies.clusterNotFound);
  const endpoint = cluster.pick();
  if (!endpoint) return void fail(LocalReplies.noHealthyUpstream);
  info.upstreamHost = endpoint.key;
  info.upstreamWorkload = endpoint.workload;
  const headers = upstreamHeaderMap(request);
  route.mutateRequestHeaders(headers, choice);
  const path = route.rewritePath(request.path) + (request.query ? `?${request.query}` : '');
  let text = `${request.method} ${path} HTTP/1.1\r\nhost: ${route.rewriteAuthority(request, choice)}\r\nconnection: Upgrade\r\nupgrade: ${String(req.headers.upgrade)}\r\n`;
  for (const [k, v] of headers) for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
  const relay = new UpgradeRelay(sock, head, request.method === 'HEAD', (reply) => fail(reply), (outcome) => filtersDone(chain.filters, ctx, { ...outcome, durationMs: rt.now() - info.startTime }));
  relay.arm(rt.timers ?? realTimers, route.timeoutMs, chain.streamTimeouts, route);
  connectStream(cluster, endpoint, relay.abandon.signal).then(
    (upstream) => {
      // The client left, or a timer ended the upgrade, while the connection was made: nothing to relay.
      if (relay.over || sock.destroyed) {
        upstream.destroy();
        relay.clientGone();
        return;
      }
      cluster.stats.upstream_cx_active.inc();
      upstream.once('close', () => cluster.stats.upstream_cx_active.dec());
      upstream.write(`${text}\r\n`);
      relay.relay(upstream);
    },
    () => {
      if (relay.over) return;
      cluster.stats.upstream_cx_connect_fail.inc();
      relay.reply(LocalReplies.connectFailure);
    },
  );
}

/** Longest upstream response head an upgrade waits for. */
const MAX_RESPONSE_HEAD = 64 * 1024;

/** Framing of an answer that is not a 101. */
const NO_BODY = 0;
const LENGTH = 1;
const CHUNKED = 2;
const UNTIL_CLOSE = 3;

/** The fields of a response head that frame its body (names compared lower-cased, values as sent). */
const CONTENT_LENGTH = /^content-length[ \t]*:[ \t]*(\d{1,15})[ \t]*\r?$/im;
const TRANSFER_ENCODING = /^transfer-encoding[ \t]*:(.*)$/gim;
const CHUNKED_LAST = /(^|,)[ \t]*chunked[ \t]*$/i;

/** How the answer whose head is `text` (status line and fields) frames its body. */
function framingOf(text: string, status: number, head: boolean): { framing: number; length: number } {
  if (head || status === 204 || status === 304) return { framing: NO_BODY, length: 0 };
  const codings: string[] = [];
  for (const m of text.matchAll(TRANSFER_ENCODING)) codings.push((m[1] as string).trim());
  if (codings.length > 0) return { framing: CHUNKED_LAST.test(codings.join(',')) ? CHUNKED : UNTIL_CLOSE, length: 0 };
  const cl = CONTENT_LENGTH.exec(text);
  if (cl) {
    const length = Number(cl[1]);
    return { framing: length > 0 ? LENGTH : NO_BODY, length };
  }
  return { framing: UNTIL_CLOSE, length: 0 };
}

/**
 * One upgrade from its forwarding to its end, and its timers (Envoy's): the route timeout until the
 * upstream's answer head arrives (504 UT), the stream idle timeout (504 SI before that head, a reset
 * after) and max_stream_duration over all of it, the spliced connection included. On the proxy's
 * timers. An answer other than 101 is relayed and ends the upgrade once complete (by its length or its
 * last chunk; one without either, when the upstream closes).
 */
class UpgradeRelay implements TimedStream {
  readonly #sock: Duplex;
  readonly #early: Buffer;
  readonly #headRequest: boolean;
  readonly #localReply: (reply: LocalReply) => void;
  readonly #ended: (o: Omit<StreamOutcome, 'durationMs'>) => void;
  /** Abandons a connect still under way (a timer fired). */
  readonly abandon = new AbortController();
  #upstream: Duplex | null = null;
  #timers: Timers = realTimers;
  #routeTimer: unknown;
  #timeouts: StreamTimeouts | undefined;
  /** A local reply was sent or the outcome reported: the upgrade is over. */
  over = false;
  #status = 0;
  #headLength = 0;
  #sent = 0;
  #received = 0;
  /** The answer's head has gone downstream. */
  #answered = false;
  #framing = NO_BODY;
  #remaining = 0;
  #chunks: ChunkedDecoder | null = null;
  /** An unfinished chunk line, handed back to the decoder with the next bytes. */
  #pending: Buffer | null = null;

  constructor(sock: Duplex, early: Buffer, headRequest: boolean, localReply: (reply: LocalReply) => void, ended: (o: Omit<StreamOutcome, 'durationMs'>) => void) {
    this.#sock = sock;
    this.#early = early;
    this.#headRequest = headRequest;
    this.#localReply = localReply;
    this.#ended = ended;
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
    if (!this.over && !this.#answered) this.expire(LocalReplies.upstreamTimeout);
  };

  // TimedStream: the stream timers read the bytes each way, the answer's head included.
  progress(): number {
    return this.#sent + this.#received;
  }

  requestComplete(): boolean {
    return true;
  }

  /** A timer fired: a local reply (504) while no answer has gone downstream, else both connections reset. */
  expire(reply: LocalReply): void {
    if (this.over) return;
    if (!this.#answered) {
      this.#upstream?.destroy();
      this.reply(reply);
      return;
    }
    this.#sock.destroy();
    this.#upstream?.destroy();
    this.#report(false);
  }

  /** A local reply closes the upgrade (its filters' onDone run with it). */
  reply(reply: LocalReply): void {
    if (this.over) return;
    this.#finish();
    this.abandon.abort();
    this.#localReply(reply);
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
    this.#ended({ status: this.#status, requestBytes: this.#sent, responseBytes: Math.max(0, this.#received - this.#headLength), requestHeadBytes: 0, responseHeadBytes: this.#headLength, downstreamReset });
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
    upstream.on('error', fail);
    upstream.on('close', fail);
    sock.on('close', fail);
    const onHead = (c: Buffer): void => {
      this.#received += c.length;
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (buf.length > MAX_RESPONSE_HEAD) fail();
          return;
        }
        const status = Number(STATUS_LINE.exec(buf.toString('latin1', 0, 13))?.[1] ?? 0);
        if (status < 100 || status >= 200 || status === 101) {
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
      upstream.removeListener('error', fail);
      upstream.removeListener('close', fail);
      sock.removeListener('close', fail);
      upstream.pause();
      this.#timers.clear(this.#routeTimer);
      this.#routeTimer = undefined;
      this.#answered = true;
      if (this.#status === 101) this.#splice(upstream, buf);
      else this.#answer(upstream, buf);
    };
    upstream.on('data', onHead);
  }

  #splice(upstream: Duplex, buf: Buffer): void {
    const sock = this.#sock;
    sock.write(buf);
    const early = this.#early;
    this.#sent = early.length;
    if (early.length) upstream.write(early);
    sock.on('data', (d: Buffer) => {
      this.#sent += d.length;
    });
    upstream.on('data', (d: Buffer) => {
      this.#received += d.length;
    });
    splice(sock, upstream, () => this.#report(false));
    sock.resume();
  }

  /** Not switched: the rest of the response goes to the client, up to its end; the client sends nothing more upstream. */
  #answer(upstream: Duplex, buf: Buffer): void {
    const sock = this.#sock;
    const headEnd = buf.indexOf('\r\n\r\n') + 4;
    const { framing, length } = framingOf(buf.toString('latin1', 0, headEnd - 4), this.#status, this.#headRequest);
    this.#framing = framing;
    this.#remaining = length;
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
    const rest = buf.subarray(headEnd);
    this.#received -= rest.length;
    const ok = sock.write(buf.subarray(0, headEnd));
    sock.resume();
    if (this.#body(rest) || !ok) return;
    upstream.resume();
  }

  /** What the client sends once the upstream refused to switch: the end of both connections. */
  readonly #clientSent = (): void => {
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
