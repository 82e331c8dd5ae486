// Builds requests, stream info and routes for the fault and CORS filter tests, with the real route
// library compiling typed_per_filter_config through the filters' own factories.
import type { TypedAny } from '../../src/xds/any.ts';
import type { HttpFilterFactory, RequestContext } from '../../src/proxy/http/filter.ts';
import { compileRouteConfiguration, perFilterCompilersFrom } from '../../src/proxy/http/route/index.ts';
import type { DownstreamRequest, StreamInfo } from '../../src/proxy/http/stream.ts';

export function request(method: string, headers: Record<string, string> = {}, path = '/'): DownstreamRequest {
  return {
    method,
    scheme: 'http',
    authority: 'app',
    sentAuthority: 'app',
    path,
    query: '',
    headers: new Map(Object.entries(headers)),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '127.0.0.1', remotePort: 5000, localAddress: '127.0.0.1', localPort: 80, tls: false },
  };
}

export function streamInfo(): StreamInfo {
  return { startTime: 0, responseFlags: new Set(), dynamicMetadata: new Map() };
}

/** A context whose route carries `perRoute` (filter name → typed config) compiled by `factories`. */
export function contextWithRoute(factories: readonly HttpFilterFactory[], perRoute: Record<string, TypedAny> | null, req: DownstreamRequest): RequestContext {
  const table = compileRouteConfiguration(
    {
      name: '80',
      virtual_hosts: [
        { name: 'app', domains: ['*'], routes: [{ name: 'r', match: { prefix: '/' }, route: { cluster: 'c' }, ...(perRoute ? { typed_per_filter_config: perRoute } : {}) }] },
      ],
    },
    { perFilterCompilers: perFilterCompilersFrom(factories) },
  );
  return { request: req, info: streamInfo(), route: table.match(req, 0) };
}
