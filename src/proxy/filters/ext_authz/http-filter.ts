// `envoy.filters.http.ext_authz` (Istio's envoyExtAuthzHttp and envoyExtAuthzGrpc): asks the service,
// applies its header mutations on allow, relays its denial otherwise; errors deny (flag UAEX).
import type { RequestOptions } from 'node:http';
import { http } from '../../node-http.ts';
import type { Duplex } from 'node:stream';
import type { TypedAny } from '../../../xds/any.ts';
import { CONTINUE, type FilterVerdict, type HttpFilter, type HttpFilterFactory, type RequestContext, type ResponseHead } from '../../http/filter.ts';
import { realTimers, type Timers } from '../../http/router.ts';
import { type CompiledExtAuthz, type CompiledHttpService, compileExtAuthz } from './config.ts';
import { applyGrpcVerdict, grpcHttpCheckRequest } from './grpc-http-check.ts';
import { type ClusterDialer, GrpcCheckClient } from './grpc-check.ts';

export const EXT_AUTHZ_FILTER_NAME = 'envoy.filters.http.ext_authz';
export const EXT_AUTHZ_TYPE_URL = 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz';

/** Headers Envoy always sends in the check, whatever allowed_headers says. */
const ALWAYS_SENT = new Set(['authorization']);
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'upgrade', 'proxy-connection', 'content-length', 'host']);
const MAX_DENIAL_BODY = 64 * 1024;

export interface ExtAuthzOptions {
  /** Maps the provider's cluster (`outbound|8000||authz.foo.svc.cluster.local`) to an address; defaults to the URI's host and port. */
  readonly resolve?: (cluster: string, uri: URL) => { host: string; port: number } | undefined;
  /** Opens a stream to one endpoint of a cluster (the proxy's cluster manager); the gRPC service needs it. */
  readonly dial?: ClusterDialer;
  /** The proxy's timers: the check's timeout runs on them (a test clock in tests). */
  readonly timers?: Timers;
}

interface CheckResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

type Target = { host: string; port: number } | { dial: () => Promise<Duplex> };

/**
 * One check request; `cancel` aborts it (the downstream left), as does its timeout on `timers` (from the
 * start, dial included): the request is reset, its connection closed.
 */
function check(target: Target, path: string, method: string, headers: Record<string, string>, timeoutMs: number, timers: Timers, cancel: AbortSignal): Promise<CheckResponse> {
  const timeout = new AbortController();
  const timer = timers.set(() => timeout.abort(Object.assign(new Error(`check timed out after ${timeoutMs} ms`), { code: 'EXT_AUTHZ_TIMEOUT' })), timeoutMs);
  const pending = new Promise<CheckResponse>((resolve, reject) => {
    const where =
      'dial' in target
        ? { createConnection: (_o: unknown, cb: (err: Error | null, s?: Duplex) => void) => void target.dial().then((s) => cb(null, s), (err: Error) => cb(err)) }
        : { host: target.host, port: target.port };
    const signal = AbortSignal.any([timeout.signal, cancel]);
    const req = http.request({ ...where, path, method, headers, signal } as RequestOptions, (res) => {
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
  return pending.finally(() => timers.clear(timer));
}

function first(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

function httpTarget(s: CompiledHttpService, options: ExtAuthzOptions): Target | undefined {
  if (options.resolve) return options.resolve(s.cluster, s.uri);
  const dial = options.dial;
  if (dial && s.cluster) return { dial: () => dial(s.cluster) };
  return { host: s.uri.hostname, port: Number(s.uri.port || (s.uri.protocol === 'https:' ? 443 : 80)) };
}

class ExtAuthzFilter implements HttpFilter {
  readonly #c: CompiledExtAuthz;
  readonly #target: Target | undefined;
  readonly #grpc: GrpcCheckClient | undefined;
  readonly #timers: Timers;
  /** Response headers an OK check asked for (gRPC `response_headers_to_add`), per request. */
  readonly #responseHeaders = new WeakMap<RequestContext, [string, string, boolean][]>();
  /** The checks out, per request: onDestroy cancels one whose downstream left (Envoy's client_->cancel()). */
  readonly #calls = new WeakMap<RequestContext, AbortController>();
  constructor(c: CompiledExtAuthz, options: ExtAuthzOptions) {
    this.#c = c;
    this.#timers = options.timers ?? realTimers;
    const s = c.service;
    if (s.kind === 'grpc') this.#grpc = new GrpcCheckClient(s.cluster, s.authority, options.dial, this.#timers);
    else this.#target = httpTarget(s, options);
  }

  onRequest(ctx: RequestContext): FilterVerdict | Promise<FilterVerdict> {
    const c = this.#c;
    if (c.enabled && !c.enabled(ctx.info.dynamicMetadata)) return CONTINUE;
    return this.#grpc ? this.#onGrpc(this.#grpc, ctx) : this.#onHttp(ctx);
  }

  onDestroy(ctx: RequestContext): void {
    this.#calls.get(ctx)?.abort();
  }

  onResponse(ctx: RequestContext, response: ResponseHead): void {
    const add = this.#responseHeaders.get(ctx);
    if (!add) return;
    for (const [name, value, append] of add) {
      const had = response.headers.get(name);
      if (append && had !== undefined) response.headers.set(name, [...(Array.isArray(had) ? had : [had]), value]);
      else response.headers.set(name, value);
    }
  }

  #error(): FilterVerdict {
    if (this.#c.failureModeAllow) return CONTINUE;
    return { action: 'respond', reply: { status: this.#c.statusOnError, flag: 'UAEX', details: 'ext_authz_error' } };
  }

  /** A controller for one check, kept until it settles (only requests that are checked make one). */
  #call(ctx: RequestContext): AbortController {
    const call = new AbortController();
    this.#calls.set(ctx, call);
    return call;
  }

  async #onGrpc(client: GrpcCheckClient, ctx: RequestContext): Promise<FilterVerdict> {
    let res: Awaited<ReturnType<GrpcCheckClient['check']>>;
    const call = this.#call(ctx);
    try {
      res = await client.check(grpcHttpCheckRequest(ctx), this.#c.timeoutMs, call.signal);
    } catch {
      // A cancelled check's verdict is not used: the stream is gone.
      return this.#error();
    } finally {
      this.#calls.delete(ctx);
    }
    const v = applyGrpcVerdict(res, ctx.request.headers);
    if (v.action === 'continue') {
      if (v.responseHeaders.length) this.#responseHeaders.set(ctx, v.responseHeaders);
      return CONTINUE;
    }
    return { action: 'respond', reply: { status: v.status, flag: 'UAEX', details: 'ext_authz_denied', body: v.body, headers: v.headers } };
  }

  async #onHttp(ctx: RequestContext): Promise<FilterVerdict> {
    const c = this.#c;
    const s = c.service as CompiledHttpService;
    const r = ctx.request;
    const headers: Record<string, string> = {};
    for (const [name, value] of r.headers) {
      if (HOP_BY_HOP.has(name)) continue;
      if (ALWAYS_SENT.has(name) || s.allowedRequestHeaders?.(name)) headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    for (const [k, v] of s.headersToAdd) headers[k] = v;
    // The Host as the client sent it: Envoy's check request copies the request's :authority.
    headers['host'] = r.sentAuthority;
    const path = s.pathPrefix + r.path + (r.query ? `?${r.query}` : '');
    let res: CheckResponse;
    const call = this.#call(ctx);
    try {
      if (!this.#target) throw Object.assign(new Error(`no address for ${s.cluster}`), { code: 'EXT_AUTHZ_NO_ADDRESS' });
      res = await check(this.#target, path, r.method, headers, c.timeoutMs, this.#timers, call.signal);
    } catch {
      return this.#error();
    } finally {
      this.#calls.delete(ctx);
    }
    if (res.status >= 200 && res.status < 300) {
      if (s.allowedUpstreamHeaders) {
        for (const [name, value] of Object.entries(res.headers)) {
          const v = first(value);
          if (v !== undefined && s.allowedUpstreamHeaders(name)) r.headers.set(name, v);
        }
      }
      return CONTINUE;
    }
    const out: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) {
      const v = first(value);
      if (v === undefined || HOP_BY_HOP.has(name)) continue;
      if (s.allowedClientHeaders ? s.allowedClientHeaders(name) : true) out[name] = v;
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
