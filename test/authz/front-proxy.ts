// A tiny real-socket stand-in for the sidecar's inbound path: strict Host checks, the path normaliser
// and the translated RBAC filters in front of a backend. Used to replay the bypass catalogue.
import { createServer, type IncomingMessage, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { AuthorizationPolicy } from '../../src/config/resource.ts';
import { createRbacFilterFactory } from '../../src/proxy/filters/rbac/http-filter.ts';
import type { FilterVerdict, HttpFilter } from '../../src/proxy/http/filter.ts';
import { compilePathNormalizer, type PathNormalizationMode } from '../../src/proxy/http/normalize-path.ts';
import type { DownstreamRequest, HeaderMap } from '../../src/proxy/http/stream.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';

/** Header lines as received, one value per line (never comma-joined), values trimmed. */
export function headerMap(req: IncomingMessage): HeaderMap {
  const map: HeaderMap = new Map();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!.trim();
    const prev = map.get(name);
    map.set(name, prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value]);
  }
  return map;
}

export async function startFrontProxy(mode: PathNormalizationMode, policies: AuthorizationPolicy[], backendPort: number): Promise<Server> {
  const normalize = compilePathNormalizer(mode);
  const factory = createRbacFilterFactory();
  const target = { workloadLabels: { app: 'backend' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local' };
  const filters: HttpFilter[] = translateAuthorization(policies, target).http.map((f) => factory.create(f.typed_config));
  const server = createServer(async (req, res) => {
    const headers = headerMap(req);
    const host = headers.get('host');
    // Proxy-core duties replicated here: exactly one non-empty Host.
    if (typeof host !== 'string' || host === '') return void res.writeHead(400).end('bad host');
    const n = normalize(req.url ?? '');
    if (!n.ok) return void res.writeHead(n.status).end(n.details);
    const request: DownstreamRequest = {
      method: req.method ?? 'GET',
      scheme: 'http',
      authority: host.toLowerCase(),
      path: n.path,
      query: n.query,
      headers,
      protocol: 'HTTP/1.1',
      connection: {
        remoteAddress: req.socket.remoteAddress ?? '',
        remotePort: req.socket.remotePort ?? 0,
        localAddress: req.socket.localAddress ?? '',
        localPort: 8000,
        tls: false,
      },
    };
    const ctx = { request, info: { startTime: 0, responseFlags: new Set<string>(), dynamicMetadata: new Map() }, route: null };
    for (const f of filters) {
      const v = (await f.onRequest!(ctx)) as FilterVerdict;
      if (v.action === 'respond') return void res.writeHead(v.reply.status).end(v.reply.body);
    }
    const up = httpRequest(
      { host: '127.0.0.1', port: backendPort, method: request.method, path: request.path + (n.query ? `?${n.query}` : ''), headers: req.headers },
      (ur) => {
        res.writeHead(ur.statusCode ?? 502, ur.headers);
        ur.pipe(res);
      },
    );
    up.on('error', () => res.writeHead(502).end());
    req.pipe(up);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return server;
}

export function portOf(server: Server): number {
  return (server.address() as AddressInfo).port;
}
