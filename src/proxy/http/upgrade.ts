// HTTP/1.1 Upgrade (WebSocket): a request like any other until its 101. It is parsed, given the
// connection's headers and routed, then every decoder filter of the chain runs on it, as Envoy runs them
// on an upgrade request: authorization (RBAC, JWT, ext_authz) and faults decide before anything is
// dialled, and a refusal is a local reply that closes the connection. Then the upstream gets a dedicated
// connection (direct or through the tunnel) carrying the original head, and bytes are spliced both ways.
// The connection is never pooled, so an upstream that answers 200 instead of 101 poisons nobody.
import type { Duplex } from 'node:stream';
import type { HandedRequest } from './h1-server.ts';
import { http } from '../node-http.ts';
import type { HttpChain } from '../listener/compile-listener.ts';
import { LocalReplies, type ReplyTarget, sendLocalReply } from '../local-reply.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import type { HcmRuntime } from './connection-manager.ts';
import { connectionHeaders, newStreamInfo, requestFilters, upstreamHeaderMap } from './connection-manager.ts';
import type { FilterVerdict, HttpFilter, LocalReply, RequestContext, StreamOutcome } from './filter.ts';
import { parseRequest } from './parse-request.ts';
import type { MatchedRoute } from './route/index.ts';
import type { ConnectionInfo } from './stream.ts';

function refuse(sock: Duplex, status: number, reason: string): void {
  sock.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
}

/** A filter's local reply written on the upgrade's socket, which then closes; the filters' onDone see it. */
function replyAndClose(sock: Duplex, chain: HttpChain, ctx: RequestContext, reply: LocalReply, startedAt: number, now: () => number): void {
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
      done(chain, ctx, { status: reply.status, requestBytes: 0, responseBytes: bytes.length, requestHeadBytes: 0, responseHeadBytes: head.length, durationMs: now() - startedAt, downstreamReset: false });
    },
  };
  sendLocalReply(target, reply, ctx.info, false);
}

/** The filters see the upgrade end (telemetry counts and logs it), as a request's end. */
function done(chain: HttpChain, ctx: RequestContext, outcome: StreamOutcome): void {
  for (const f of chain.filters) f.filter.onDone?.(ctx, outcome);
}

export function handleUpgrade(rt: HcmRuntime, chain: HttpChain, connection: ConnectionInfo, req: HandedRequest, sock: Duplex, head: Buffer): void {
  sock.on('error', () => {});
  const kind = String(req.headers.upgrade ?? '').toLowerCase();
  if (kind !== 'websocket' || !chain.websocket) {
    refuse(sock, 400, 'Bad Request');
    return;
  }
  const parsed = parseRequest({ method: req.method ?? '', target: req.url ?? '', protocol: 'HTTP/1.1', rawHeaders: req.rawHeaders }, connection, rt.normalize);
  if (!parsed.ok) {
    refuse(sock, parsed.reply.status, 'Bad Request');
    return;
  }
  const request = parsed.request;
  const info = newStreamInfo(rt.now());
  connectionHeaders(rt, chain, request, info);
  const table = chain.inlineRoutes ?? (chain.rdsName ? rt.routeTable(chain.rdsName) : undefined);
  const route = table?.match(request, rt.random()) ?? null;
  if (route) info.routeName = route.name;
  const ctx: RequestContext = { request, info, route };
  // A filter still deciding when the client leaves cancels what it sent (its onDestroy), as on a request.
  const stream: { deciding: HttpFilter | undefined } = { deciding: undefined };
  let gone = false;
  sock.once('close', () => {
    gone = true;
    const f = stream.deciding;
    stream.deciding = undefined;
    f?.onDestroy?.(ctx);
  });
  sock.pause();
  const go = (verdict: FilterVerdict): void => {
    if (gone) return;
    if (verdict.action === 'respond') replyAndClose(sock, chain, ctx, verdict.reply, info.startTime, rt.now);
    else forwardUpgrade(rt, chain, ctx, route, req, sock, head);
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
function forwardUpgrade(rt: HcmRuntime, chain: HttpChain, ctx: RequestContext, route: MatchedRoute | null, req: HandedRequest, sock: Duplex, head: Buffer): void {
  const { request, info } = ctx;
  const fail = (reply: LocalReply): void => replyAndClose(sock, chain, ctx, reply, info.startTime, rt.now);
  if (route?.kind !== 'forward' || route.upgrades.get('websocket') === false) return void fail(LocalReplies.routeNotFound);
  const choice = route.pickCluster(rt.random(), request.headers);
  const cluster = choice ? rt.clusters.get(choice.name) : undefined;
  if (!choice || !cluster) return void fail(LocalReplies.clusterNotFound);
  info.clusterName = choice.name;
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
      upstream.write(`${text}\r\n`);
      if (head.length) upstream.write(head);
      cluster.stats.upstream_cx_active.inc();
      // The upstream's status line and head, then the bytes each way, for the filters' onDone.
      let status = 0;
      let responseHead = -1;
      let sent = head.length;
      let received = 0;
      upstream.on('data', (c: Buffer) => {
        if (responseHead < 0) {
          const end = c.indexOf('\r\n\r\n');
          responseHead = end < 0 ? 0 : end + 4;
          status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(c.toString('latin1', 0, 16))?.[1] ?? 0);
        }
        received += c.length;
      });
      sock.on('data', (c: Buffer) => {
        sent += c.length;
      });
      splice(sock, upstream, () => {
        cluster.stats.upstream_cx_active.dec();
        done(chain, ctx, { status, requestBytes: sent, responseBytes: received - Math.max(responseHead, 0), requestHeadBytes: 0, responseHeadBytes: Math.max(responseHead, 0), durationMs: rt.now() - info.startTime, downstreamReset: false });
      });
      sock.resume();
    },
    () => {
      cluster.stats.upstream_cx_connect_fail.inc();
      fail(LocalReplies.connectFailure);
    },
  );
}
