// Envoy's RedirectAction: builds the Location from scheme, host, port and path rules (Envoy's
// processRequestHost port stripping included) and answers with the configured 3xx code.
import type { DownstreamRequest } from '../stream.ts';
import type { EnvoyRedirectAction } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';
import { PathRewrite } from './path-rewrite.ts';
import type { RegexOptions } from './regex.ts';
import type { RouteMatcher } from './route-match.ts';
import { portOf, stripPort } from './virtual-host-selector.ts';

const codes: Record<string, number> = {
  MOVED_PERMANENTLY: 301,
  FOUND: 302,
  SEE_OTHER: 303,
  TEMPORARY_REDIRECT: 307,
  PERMANENT_REDIRECT: 308,
};

/** Marks the redirect of a virtual host's require_tls; a symbol, so no xDS config can carry it, and a copy keeps it. */
const SSL_REDIRECTOR: unique symbol = Symbol('require_tls');

/**
 * The redirect a virtual host's require_tls answers with: Envoy's SslRedirector
 * (createSslRedirectPath) keeps the Host as sent, port and all, where a route's https_redirect drops a
 * default port.
 */
export const REQUIRE_TLS_REDIRECT: EnvoyRedirectAction & { readonly [SSL_REDIRECTOR]: true } = Object.freeze({ https_redirect: true, [SSL_REDIRECTOR]: true as const });

export class Redirect {
  readonly status: number;
  readonly #ssl: boolean;
  readonly #scheme: string | null;
  readonly #host: string | null;
  readonly #port: string;
  readonly #path: string | null;
  readonly #pathHasQuery: boolean;
  readonly #rewrite: PathRewrite;
  readonly #stripQuery: boolean;

  constructor(r: EnvoyRedirectAction, matcher: RouteMatcher, path: string, options?: RegexOptions) {
    const status = codes[r.response_code ?? 'MOVED_PERMANENTLY'];
    if (status === undefined) throw new RouteConfigError(`${path}.response_code`, `unknown ${String(r.response_code)}`);
    this.status = status;
    this.#ssl = (r as { [SSL_REDIRECTOR]?: true })[SSL_REDIRECTOR] === true;
    if (r.https_redirect && r.scheme_redirect !== undefined) throw new RouteConfigError(path, 'https_redirect and scheme_redirect are exclusive');
    this.#scheme = r.https_redirect ? 'https' : (r.scheme_redirect?.toLowerCase() ?? null);
    this.#host = r.host_redirect ?? null;
    this.#port = r.port_redirect ? `:${r.port_redirect}` : '';
    const pathFields = [r.path_redirect, r.prefix_rewrite, r.regex_rewrite].filter((x) => x !== undefined).length;
    if (pathFields > 1) throw new RouteConfigError(path, 'path_redirect, prefix_rewrite and regex_rewrite are exclusive');
    // Envoy's newUri: an empty path_redirect keeps the request's path.
    this.#path = r.path_redirect || null;
    this.#pathHasQuery = this.#path?.includes('?') ?? false;
    this.#rewrite = new PathRewrite(r, matcher, path, options);
    this.#stripQuery = r.strip_query === true;
  }

  /** The Location header for this request. */
  location(request: DownstreamRequest): string {
    if (this.#ssl) return `https://${request.sentAuthority}${request.path}${request.query === '' ? '' : `?${request.query}`}`;
    const scheme = this.#scheme ?? request.scheme;
    let host: string;
    if (this.#host !== null) {
      // Envoy's newUri writes host_redirect as configured, a port in it included, then port_redirect
      // after it (`other.example.com:9000:8443`); pilot passes the authority through as written.
      host = this.#host;
    } else {
      // The Host as the client sent it (Envoy's processRequestHost reads getHostValue()).
      host = request.sentAuthority;
      const port = portOf(host);
      if (port !== '') {
        let remove = this.#port !== '';
        if (scheme !== request.scheme) {
          remove ||= (request.scheme === 'https' && port === '443') || (request.scheme === 'http' && port === '80');
        }
        if (remove) host = stripPort(host);
      }
    }
    let pathAndQuery: string;
    if (this.#path !== null) {
      if (this.#pathHasQuery || this.#stripQuery || request.query === '') pathAndQuery = this.#path;
      else pathAndQuery = `${this.#path}?${request.query}`;
    } else {
      const p = this.#rewrite.apply(request.path);
      pathAndQuery = this.#stripQuery || request.query === '' ? p : `${p}?${request.query}`;
    }
    // newUri gives a path without a leading "/" one.
    if (!pathAndQuery.startsWith('/')) pathAndQuery = `/${pathAndQuery}`;
    return `${scheme}://${host}${this.#port}${pathAndQuery}`;
  }
}
