// The HTTP filter's side of a gRPC check: the CheckRequest Envoy builds for a request, and what an
// OkHttpResponse (header mutations) or DeniedHttpResponse (status, body, headers) does to the stream.
import type { RequestContext } from '../../http/filter.ts';
import type { HeaderMap } from '../../http/stream.ts';
import { type CheckPeer, type CheckRequestJson, type CheckResponseJson, deniedStatus, headerOptionAppends, headerOptionValue } from './check-codec.ts';

export function peer(address: string, port: number, principal: string | undefined): CheckPeer {
  return { ...(address ? { address: { socket_address: { address, port_value: port } } } : {}), ...(principal ? { principal } : {}) };
}

/** Envoy sends every request header (pseudo-headers included), repeated lines joined with `,`. */
export function grpcHttpCheckRequest(ctx: RequestContext, now = Date.now()): CheckRequestJson {
  const r = ctx.request;
  const c = r.connection;
  const path = r.path + (r.query ? `?${r.query}` : '');
  // The host as the client sent it (CheckRequestUtils::setHttpRequest reads the header map, not the routing copy).
  const host = r.sentAuthority;
  const headers: Record<string, string> = { ':authority': host, ':method': r.method, ':path': path, ':scheme': r.scheme };
  for (const [name, value] of r.headers) headers[name] = Array.isArray(value) ? value.join(',') : value;
  return {
    attributes: {
      source: peer(c.remoteAddress, c.remotePort, c.peerPrincipal),
      destination: peer(c.localAddress, c.localPort, undefined),
      request: {
        time: { seconds: String(Math.floor(now / 1000)), nanos: (now % 1000) * 1e6 },
        http: { method: r.method, headers, path, host, scheme: r.scheme, protocol: r.protocol },
      },
    },
  };
}

export type GrpcVerdict =
  | { action: 'continue'; responseHeaders: [string, string, boolean][] }
  | { action: 'deny'; status: number; body: string; headers: Record<string, string> };

/** Headers a check may never touch on the upstream request. */
function protectedHeader(name: string): boolean {
  return name.startsWith(':') || name === 'host';
}

/** `status.code` 0 allows (applying the OK mutations to `headers`); anything else denies. */
export function applyGrpcVerdict(res: CheckResponseJson, headers: HeaderMap): GrpcVerdict {
  if ((res.status?.code ?? 0) !== 0) {
    const d = res.denied_response;
    const out: Record<string, string> = {};
    for (const h of d?.headers ?? []) {
      const name = (h.header?.key ?? '').toLowerCase();
      if (!name || protectedHeader(name)) continue;
      const v = headerOptionValue(h);
      out[name] = headerOptionAppends(h) && out[name] !== undefined ? `${out[name]},${v}` : v;
    }
    return { action: 'deny', status: deniedStatus(d?.status?.code), body: d?.body ?? '', headers: out };
  }
  const ok = res.ok_response;
  for (const h of ok?.headers ?? []) {
    const name = (h.header?.key ?? '').toLowerCase();
    if (!name || protectedHeader(name)) continue;
    const v = headerOptionValue(h);
    const had = headers.get(name);
    if (headerOptionAppends(h) && had !== undefined) headers.set(name, [...(Array.isArray(had) ? had : [had]), v]);
    else headers.set(name, v);
  }
  for (const name of ok?.headers_to_remove ?? []) {
    const n = name.toLowerCase();
    if (!protectedHeader(n)) headers.delete(n);
  }
  const responseHeaders = (ok?.response_headers_to_add ?? [])
    .filter((h) => h.header?.key)
    .map((h) => [h.header!.key!.toLowerCase(), headerOptionValue(h), headerOptionAppends(h)] as [string, string, boolean]);
  return { action: 'continue', responseHeaders };
}
