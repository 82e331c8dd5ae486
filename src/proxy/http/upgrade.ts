// HTTP/1.1 Upgrade (WebSocket): routed like any request, then the upstream gets a dedicated connection
// (direct or through the tunnel) carrying the original head, and bytes are spliced both ways. The
// connection is never pooled, so an upstream that answers 200 instead of 101 poisons nobody.
import type { HandedRequest } from './h1-server.ts';
import type { Duplex } from 'node:stream';
import type { HttpChain } from '../listener/compile-listener.ts';
import { connectStream, splice } from '../upstream/connect-stream.ts';
import type { HcmRuntime } from './connection-manager.ts';
import { connectionHeaders, upstreamHeaderMap } from './connection-manager.ts';
import { parseRequest } from './parse-request.ts';
import type { ConnectionInfo } from './stream.ts';

function refuse(sock: Duplex, status: number, reason: string): void {
  sock.end(`HTTP/1.1 ${status} ${reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n`);
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
  connectionHeaders(rt, chain, request, undefined);
  const table = chain.inlineRoutes ?? (chain.rdsName ? rt.routeTable(chain.rdsName) : undefined);
  const route = table?.match(request, rt.random()) ?? null;
  if (route?.kind !== 'forward' || route.upgrades.get('websocket') === false) {
    refuse(sock, 404, 'Not Found');
    return;
  }
  const choice = route.pickCluster(rt.random(), request.headers);
  const cluster = choice ? rt.clusters.get(choice.name) : undefined;
  if (!cluster) {
    refuse(sock, 503, 'Service Unavailable');
    return;
  }
  const endpoint = cluster.pick();
  if (!endpoint) {
    refuse(sock, 503, 'Service Unavailable');
    return;
  }
  const headers = upstreamHeaderMap(request);
  route.mutateRequestHeaders(headers, choice);
  const path = route.rewritePath(request.path) + (request.query ? `?${request.query}` : '');
  let text = `${request.method} ${path} HTTP/1.1\r\nhost: ${route.rewriteAuthority(request, choice)}\r\nconnection: Upgrade\r\nupgrade: ${String(req.headers.upgrade)}\r\n`;
  for (const [k, v] of headers) for (const one of Array.isArray(v) ? v : [v]) text += `${k}: ${one}\r\n`;
  sock.pause();
  connectStream(cluster, endpoint).then(
    (upstream) => {
      upstream.write(`${text}\r\n`);
      if (head.length) upstream.write(head);
      cluster.stats.upstream_cx_active.inc();
      splice(sock, upstream, () => cluster.stats.upstream_cx_active.dec());
      sock.resume();
    },
    () => {
      cluster.stats.upstream_cx_connect_fail.inc();
      refuse(sock, 503, 'Service Unavailable');
    },
  );
}
