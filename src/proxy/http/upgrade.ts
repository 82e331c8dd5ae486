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

/** The start of an upstream's status line, `HTTP/1.x NNN `: its status code. */
const STATUS_LINE = /^HTTP\/1\.[01] (\d{3}) /;

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

export function handleUpgrade(rt: HcmRuntime, chain: HttpChain, connection: ConnectionInfo, req: HandedRequest, sock: Duplex, head: Buffer): void {
  sock.on('error', () => {});
  const kind = String(req.headers.upgrade ?? '').toLowerCase();
  if (kind !== 'websocket' || !chain.websocket) {
    refuse(sock, 400, 'Bad Request');
    return;
  }
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
 * the splice is a local reply (404 NR, 503 NC, UH, UF); a spliced upgrade ends for the filters when both
 * sides have closed, with the upstream's status (101, or what it answered instead) and the bytes each way.
 */
function forwardUpgrade(rt: HcmRuntime, chain: HttpChain, ctx: RequestContext, route: MatchedRoute | null, choice: ClusterChoice | null, req: HandedRequest, sock: Duplex, head: Buffer): void {
  const { request, info } = ctx;
  const fail = (reply: LocalReply): void => replyAndClose(sock, chain, ctx, reply, rt.now);
  if (route?.kind !== 'forward' || route.upgrades.get('websocket') === false) return void fail(LocalReplies.routeNotFound);
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
  connectStream(cluster, endpoint).then(
    (upstream) => {
      // The client left while the connection was made: nothing to relay.
      if (sock.destroyed) {
        upstream.destroy();
        filtersDone(chain.filters, ctx, { status: 0, requestBytes: 0, responseBytes: 0, requestHeadBytes: 0, responseHeadBytes: 0, durationMs: rt.now() - info.startTime, downstreamReset: true });
        return;
      }
      cluster.stats.upstream_cx_active.inc();
      upstream.write(`${text}\r\n`);
      relayUpgrade(sock, upstream, head, (outcome) => {
        cluster.stats.upstream_cx_active.dec();
        filtersDone(chain.filters, ctx, { ...outcome, durationMs: rt.now() - info.startTime });
      });
    },
    () => {
      cluster.stats.upstream_cx_connect_fail.inc();
      fail(LocalReplies.connectFailure);
    },
  );
}

/** Longest upstream response head an upgrade waits for. */
const MAX_RESPONSE_HEAD = 64 * 1024;

/**
 * The upgrade's request head has gone upstream; nothing else goes until the upstream switches protocols.
 * As Envoy holds an upgrade's upstream request until its 101: the client's bytes after its head (early
 * frames) and all it sends next wait. A 101 splices the two connections. Any other answer is the
 * response to the request: it is relayed, nothing the client sends reaches the upstream, and the
 * connection ends with it (else an upstream that answered 200 and kept its connection would give the
 * client a raw pipe to the app, past every filter, for all it sends next).
 */
function relayUpgrade(sock: Duplex, upstream: Duplex, early: Buffer, ended: (o: Omit<StreamOutcome, 'durationMs'>) => void): void {
  let buf: Buffer = Buffer.alloc(0);
  let status = 0;
  let headLength = 0;
  let sent = 0;
  let received = 0;
  let reported = false;
  const report = (downstreamReset: boolean): void => {
    if (reported) return;
    reported = true;
    ended({ status, requestBytes: sent, responseBytes: Math.max(0, received - headLength), requestHeadBytes: 0, responseHeadBytes: headLength, downstreamReset });
  };
  const fail = (): void => {
    sock.destroy();
    upstream.destroy();
    report(status === 0);
  };
  const waiting = (): void => fail();
  upstream.on('error', waiting);
  upstream.on('close', waiting);
  sock.on('close', waiting);
  const onHead = (c: Buffer): void => {
    buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
    const end = buf.indexOf('\r\n\r\n');
    if (end < 0) {
      if (buf.length > MAX_RESPONSE_HEAD) fail();
      return;
    }
    upstream.removeListener('data', onHead);
    upstream.removeListener('error', waiting);
    upstream.removeListener('close', waiting);
    sock.removeListener('close', waiting);
    upstream.pause();
    headLength = end + 4;
    received = buf.length;
    status = Number(STATUS_LINE.exec(buf.toString('latin1', 0, 13))?.[1] ?? 0);
    upstream.on('data', (d: Buffer) => {
      received += d.length;
    });
    sock.write(buf);
    if (status === 101) {
      sent = early.length;
      if (early.length) upstream.write(early);
      sock.on('data', (d: Buffer) => {
        sent += d.length;
      });
      splice(sock, upstream, () => report(false));
      sock.resume();
      return;
    }
    // Not switched: the rest of the response goes to the client; the client sends nothing more upstream.
    sock.on('error', () => upstream.destroy());
    upstream.on('error', () => sock.destroy());
    sock.on('data', () => {
      sock.destroy();
      upstream.destroy();
    });
    sock.once('close', () => {
      upstream.destroy();
      report(false);
    });
    upstream.once('close', () => sock.end());
    upstream.pipe(sock, { end: true });
    sock.resume();
  };
  upstream.on('data', onHead);
}
