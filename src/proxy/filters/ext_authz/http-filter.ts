// `envoy.filters.http.ext_authz` with an HTTP authorization service (Istio's envoyExtAuthzHttp): asks
// the service, forwards allowed headers on 2xx, relays its denial otherwise; errors deny (flag UAEX).
import { request as httpRequest } from 'node:http';
import type { TypedAny } from '../../../xds/any.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type HttpFilterFactory, type RequestContext } from '../../http/filter.ts';
import { type CompiledExtAuthz, compileExtAuthz } from './config.ts';

export const EXT_AUTHZ_FILTER_NAME = 'envoy.filters.http.ext_authz';
export const EXT_AUTHZ_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';

/** Headers Envoy always sends in the check, whatever allowed_headers says. */
const ALWAYS_SENT = new Set(['authorization']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'content-length', 'host']);
const MAX_DENIAL_BODY = 64 * 1024;

export interface ExtAuthzOptions {
  /** Maps the provider's cluster (`outbound|8000||authz.foo.svc.cluster.local`) to an address; defaults to the URI's host and port. */
  readonly resolve?: (cluster: string, uri: URL) => { host: string; port: number } | undefined;
}

interface CheckResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function check(target: { host: string; port: number }, path: string, method: string, headers: Record<string, string>, timeoutMs: number): Promise<CheckResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: target.host, port: target.port, path, method, headers, signal: AbortSignal.timeout(timeoutMs) }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < MAX_DENIAL_BODY) body += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 500, headers: res.headers, body: body.slice(0, MAX_DENIAL_BODY) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

class ExtAuthzFilter implements HttpFilter {
  readonly #c: CompiledExtAuthz;
  readonly #target: { host: string; port: number } | undefined;
  constructor(c: CompiledExtAuthz, options: ExtAuthzOptions) {
    this.#c = c;
    const port = Number(c.uri.port || (c.uri.protocol === 'https:' ? 443 : 80));
    this.#target = options.resolve ? options.resolve(c.cluster, c.uri) : { host: c.uri.hostname, port };
  }

  async onRequest(ctx: RequestContext): Promise<FilterVerdict> {
    const c = this.#c;
    if (c.enabled && !c.enabled(ctx.info.dynamicMetadata)) return CONTINUE;
    const r = ctx.request;
    const headers: Record<string, string> = {};
    for (const [name, value] of r.headers) {
      if (HOP_BY_HOP.has(name)) continue;
      if (ALWAYS_SENT.has(name) || c.allowedRequestHeaders?.(name)) headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    for (const [k, v] of c.headersToAdd) headers[k] = v;
    headers['host'] = r.authority;
    const path = c.pathPrefix + r.path + (r.query ? `?${r.query}` : '');
    let res: CheckResponse;
    try {
      if (!this.#target) throw Object.assign(new Error(`no address for ${c.cluster}`), { code: 'EXT_AUTHZ_NO_ADDRESS' });
      res = await check(this.#target, path, r.method, headers, c.timeoutMs);
    } catch {
      if (c.failureModeAllow) return CONTINUE;
      return { action: 'respond', reply: { status: c.statusOnError, flag: 'UAEX', details: 'ext_authz_error' } };
    }
    if (res.status >= 200 && res.status < 300) {
      if (c.allowedUpstreamHeaders) {
        for (const [name, value] of Object.entries(res.headers)) {
          const v = first(value);
          if (v !== undefined && c.allowedUpstreamHeaders(name)) r.headers.set(name, v);
        }
      }
      return CONTINUE;
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      const v = first(value);
      if (v === undefined || HOP_BY_HOP.has(name)) continue;
      if (c.allowedClientHeaders ? c.allowedClientHeaders(name) : true) out[name] = v;
    }
    return { action: 'respond', reply: { status: res.status, flag: 'UAEX', details: 'ext_authz_denied', body: res.body, headers: out } };
  }
}

export function createExtAuthzFilterFactory(options: ExtAuthzOptions = {}): HttpFilterFactory {
  return {
    name: EXT_AUTHZ_FILTER_NAME,
    typeUrls: [EXT_AUTHZ_TYPE_URL],
    create(config: TypedAny): HttpFilter {
      return new ExtAuthzFilter(compileExtAuthz(config), options);
    },
  };
}
