// The way out of a workload that has no sidecar, in process mode: what cluster DNS and kube-proxy are to
// such a pod in a cluster. Its apps get this proxy in their proxy variables (one port per namespace, so
// that a short name like `web` is read in the client's namespace, as the pod's DNS search path does).
// A request or CONNECT to a Service's name goes to one of its ready pods, in turn, as plaintext: through
// the pod's sidecar, which serves it as a plaintext connection (PERMISSIVE takes it, STRICT resets it:
// curl says "Connection reset by peer"), or straight to a pod without a sidecar. The mesh's routing
// (VirtualService, DestinationRule) does not apply, as it does not to a client without a sidecar.
// Any other name is reached as the pod itself would reach it.
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders as H2Headers, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import { hopByHop } from '../../proxy/http/http-stream.ts';
import type { PlaintextTunnels } from './plaintext-tunnel.ts';
import type { ServiceEndpoints } from './service-endpoints.ts';

export interface ServiceProxyDeps {
  endpoints: ServiceEndpoints;
  tunnels: PlaintextTunnels;
  /** Runs when the proxy closes (its certificate's renewal stops). */
  onClose?: () => void;
}

/** What the proxy answers itself, as a `text/plain` line a person reads in curl's output. */
function reply(res: ServerResponse, status: number, text: string): void {
  if (res.headersSent) return void res.destroy();
  res.writeHead(status, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(text) + 1, connection: 'close' }).end(`${text}\n`);
}

/**
 * The pod's response head, as the client's: false when HTTP/1.1 cannot carry it (a field value HTTP/2
 * allowed but HTTP/1.1 does not), which is answered 502 instead.
 */
function answer(res: ServerResponse, status: number, headers: OutgoingHttpHeaders): boolean {
  try {
    res.writeHead(status, headers);
    return true;
  } catch (err) {
    reply(res, 502, `the pod's response cannot be passed on: ${(err as Error).message}`);
    return false;
  }
}

/** The request's fields that go on: not hop-by-hop ones, nor those its Connection header names. */
function endToEnd(headers: IncomingMessage['headers']): OutgoingHttpHeaders {
  const named = new Set(
    String(headers.connection ?? '')
      .split(',')
      .map((s) => s.trim().toLowerCase()),
  );
  const out: OutgoingHttpHeaders = {};
  for (const k in headers) if (!hopByHop.has(k) && !named.has(k) && !k.startsWith('x-outrigger-')) out[k] = headers[k];
  return out;
}

/** An HTTP/2 response head as HTTP/1.1 fields: no pseudo-headers. */
function responseFields(headers: H2Headers): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const k in headers) if (!k.startsWith(':') && !hopByHop.has(k)) out[k] = headers[k];
  return out;
}

export class ServiceProxy {
  #deps: ServiceProxyDeps;
  #servers = new Map<string, Promise<http.Server>>();
  #sockets = new Set<Duplex>();

  constructor(deps: ServiceProxyDeps) {
    this.#deps = deps;
  }

  /** The proxy URL for apps of `namespace` (`http://127.0.0.1:PORT`): one listener per namespace, opened on first use. */
  async urlFor(namespace: string): Promise<string> {
    let server = this.#servers.get(namespace);
    if (!server) {
      server = this.#listen(namespace);
      this.#servers.set(namespace, server);
    }
    const address = (await server).address() as net.AddressInfo;
    return `http://127.0.0.1:${address.port}`;
  }

  async close(): Promise<void> {
    this.#deps.onClose?.();
    const servers = await Promise.allSettled(this.#servers.values());
    for (const s of this.#sockets) s.destroy();
    this.#deps.tunnels.close();
    await Promise.all(servers.map((s) => (s.status === 'fulfilled' ? new Promise((r) => s.value.close(r)) : undefined)));
  }

  #listen(namespace: string): Promise<http.Server> {
    const server = http.createServer({ requireHostHeader: false });
    server.on('connection', (socket: net.Socket) => {
      this.#sockets.add(socket);
      socket.once('close', () => this.#sockets.delete(socket));
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => this.#onRequest(namespace, req, res));
    server.on('connect', (req: IncomingMessage, socket: Duplex, head: Buffer) => this.#onConnect(namespace, req, socket, head));
    server.on('clientError', (_err, socket: Duplex) => socket.destroy());
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => {
        server.off('error', reject);
        // An accept that fails later (out of file descriptors) is the connection's, not up's end.
        server.on('error', () => {});
        resolve(server);
      });
    });
  }

  #onRequest(namespace: string, req: IncomingMessage, res: ServerResponse): void {
    // A client that leaves mid-request ends only its own exchange.
    req.on('error', () => res.destroy());
    res.on('error', () => {});
    let url: URL;
    try {
      url = new URL(req.url ?? '');
    } catch {
      return void reply(res, 400, 'this is the proxy for workloads without a sidecar: send absolute-form requests (http://host/path) or CONNECT');
    }
    if (url.protocol !== 'http:') return void reply(res, 400, `${url.protocol} URLs go through CONNECT, not a request to the proxy`);
    const port = Number(url.port || 80);
    const path = `${url.pathname}${url.search}`;
    const headers = endToEnd(req.headers);
    const authority = req.headers.host ?? url.host;
    const found = this.#deps.endpoints.resolve(url.hostname, port, namespace);
    if (found.kind === 'unavailable') return void reply(res, 503, found.reason);
    const ep = found.kind === 'service' ? found.endpoint : undefined;
    if (ep?.kind === 'tunnel') {
      let stream: ClientHttp2Stream;
      try {
        stream = this.#deps.tunnels.request(ep.tunnelAddress, ep.targetPort, { ...headers, ':method': req.method ?? 'GET', ':path': path, ':authority': authority, ':scheme': 'http' });
      } catch (err) {
        return void reply(res, 503, `${found.kind === 'service' ? found.service : url.hostname}: ${(err as Error).message}`);
      }
      return void this.#relayH2(req, res, stream);
    }
    const target = ep ? { host: ep.address, port: ep.port } : { host: url.hostname, port };
    const upstream = http.request({ ...target, method: req.method, path, headers: { ...headers, host: authority }, agent: false });
    upstream.on('response', (r) => {
      r.on('error', () => res.destroy());
      if (answer(res, r.statusCode ?? 502, endToEnd(r.headers))) r.pipe(res);
      else r.destroy();
    });
    // Before an answer, the way a pod's own connection fails: refused, or a name no DNS knows.
    upstream.on('error', (err: NodeJS.ErrnoException) => (res.headersSent ? res.destroy() : reply(res, 502, `${target.host}:${target.port}: ${err.code ?? err.message}`)));
    // A client that leaves takes its upstream connection with it (a streamed answer would hold it for ever).
    res.on('close', () => {
      if (!res.writableFinished) upstream.destroy();
    });
    req.pipe(upstream);
  }

  /** A request on a pod's tunnel; reset, before an answer, as the sidecar reset it (a STRICT port). */
  #relayH2(req: IncomingMessage, res: ServerResponse, stream: ClientHttp2Stream): void {
    stream.on('response', (headers) => {
      if (answer(res, Number(headers[':status']), responseFields(headers))) stream.pipe(res);
      else stream.close();
    });
    stream.on('trailers', (trailers) => {
      try {
        res.addTrailers(responseFields(trailers) as Record<string, string>);
      } catch {
        // A trailer HTTP/1.1 cannot carry is dropped, as a proxy must not forward it mangled.
      }
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      if (!res.headersSent) (req.socket as net.Socket).resetAndDestroy();
      else if (!res.writableEnded) res.destroy();
    });
    req.pipe(stream);
    res.on('close', () => {
      if (!stream.closed) stream.close();
    });
  }

  #onConnect(namespace: string, req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {});
    const refuse = (status: number, text: string): void => void socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: text/plain\r\ncontent-length: ${Buffer.byteLength(text) + 1}\r\n\r\n${text}\n`);
    const colon = (req.url ?? '').lastIndexOf(':');
    const host = (req.url ?? '').slice(0, colon).replace(/^\[|\]$/g, '');
    const port = Number((req.url ?? '').slice(colon + 1));
    if (colon <= 0 || !Number.isInteger(port) || port <= 0 || port > 65535) return void refuse(400, 'CONNECT takes host:port');
    const found = this.#deps.endpoints.resolve(host, port, namespace);
    if (found.kind === 'unavailable') return void refuse(503, found.reason);
    const ep = found.kind === 'service' ? found.endpoint : undefined;
    const established = () => socket.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (ep?.kind === 'tunnel') {
      let stream: ClientHttp2Stream;
      try {
        stream = this.#deps.tunnels.connect(ep.tunnelAddress, ep.address, ep.targetPort);
      } catch (err) {
        return void refuse(503, `${found.kind === 'service' ? found.service : host}: ${(err as Error).message}`);
      }
      stream.on('error', () => {});
      stream.on('response', (_headers, flags: number) => {
        // Answered and ended at once: the sidecar has no chain for plaintext here (STRICT), and closed it.
        if (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) return void (socket as net.Socket).resetAndDestroy();
        established();
        if (head.length > 0) stream.write(head);
        stream.pipe(socket).pipe(stream);
      });
      stream.on('close', () => socket.destroy());
      socket.on('close', () => stream.destroy());
      return;
    }
    const target = ep ? { host: ep.address, port: ep.port } : { host, port };
    const upstream = net.connect(target);
    let connected = false;
    upstream.on('connect', () => {
      connected = true;
      established();
      if (head.length > 0) upstream.write(head);
      upstream.pipe(socket).pipe(upstream);
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => (connected ? socket.destroy() : refuse(502, `${target.host}:${target.port}: ${err.code ?? err.message}`)));
    socket.on('close', () => upstream.destroy());
  }
}
