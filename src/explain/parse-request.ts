// `--to URL`, `-H 'Name: value'` and `-X METHOD` turned into the one request the explainer follows.
import type { ExplainRequest } from './trace.ts';

export class ExplainInputError extends Error {
  readonly code = 'EXPLAIN_INPUT';
}

export function parseExplainRequest(to: string, headers: readonly string[] = [], method = 'GET'): ExplainRequest {
  let url: URL;
  try {
    url = new URL(/^[a-z]+:\/\//i.test(to) ? to : `http://${to}`);
  } catch (err) {
    throw new ExplainInputError(`--to ${to}: not a URL (e.g. http://podinfo.podinfo:9898/)`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ExplainInputError(`--to ${to}: only http and https URLs`);
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const list: [string, string][] = [];
  for (const h of headers) {
    const i = h.indexOf(':');
    if (i <= 0) throw new ExplainInputError(`-H ${h}: expected 'Name: value'`);
    list.push([h.slice(0, i).trim().toLowerCase(), h.slice(i + 1).trim()]);
  }
  return {
    method: method.toUpperCase(),
    scheme,
    host: url.hostname.toLowerCase(),
    port: url.port ? Number(url.port) : scheme === 'https' ? 443 : 80,
    // URL would normalise dot segments away; the proxy must see the path as sent.
    target: rawTarget(to),
    headers: list,
  };
}

/** The path and query exactly as written after the authority. */
function rawTarget(to: string): string {
  const rest = to.replace(/^[a-z]+:\/\//i, '');
  const slash = rest.search(/[/?]/);
  if (slash === -1) return '/';
  const t = rest.slice(slash).replace(/#.*$/, '');
  return t.startsWith('?') ? `/${t}` : t;
}

/** The authority the client sends: an explicit Host header wins, else host[:port] (default port omitted). */
export function authorityOf(r: ExplainRequest): string {
  const explicit = r.headers.find(([k]) => k === 'host')?.[1];
  if (explicit) return explicit.toLowerCase();
  const defaultPort = r.scheme === 'https' ? 443 : 80;
  return r.port === defaultPort ? r.host : `${r.host}:${r.port}`;
}
