// The verification suite's contract: a check reads the running mesh (its state file and the ports it
// lists) and reports PASS or FAIL with a detail a person can act on.
import http from 'node:http';
import { formatHostPort } from '../runtime/reachable-address.ts';
import type { ComponentState, MeshState } from '../runtime/state.ts';

export type CheckStatus = 'PASS' | 'FAIL' | 'SKIP';

export interface CheckResult {
  name: string;
  status: CheckStatus;
  detail: string;
}

export interface VerifySettings {
  /** The mesh service the seed's checks call: `host:port` as an app would write it. */
  service: string;
  /** The Host the ingress is addressed with (the Gateway's host). */
  ingressHost: string;
  /** Requests for the split check, and the canary's share in percent. */
  splitRequests: number;
  canaryPercent: number;
  /** Requests that must all reach the canary with `X-Canary: true`. */
  headerRequests: number;
  /** A root CA must not expire within this many days. */
  rootMinDays: number;
  timeoutMs: number;
}

export const seedSettings: VerifySettings = Object.freeze({
  service: 'podinfo.podinfo:9898',
  ingressHost: 'podinfo.example.com',
  splitRequests: 100,
  canaryPercent: 10,
  headerRequests: 20,
  rootMinDays: 30,
  timeoutMs: 5000,
});

export interface VerifyContext {
  readonly state: MeshState;
  readonly settings: VerifySettings;
  readonly now: () => number;
}

export type Check = (ctx: VerifyContext) => Promise<CheckResult[]>;

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export class VerifyHttpError extends Error {
  readonly code = 'VERIFY_HTTP';
}

/**
 * One HTTP/1.1 request; `path` may be an absolute URL (a forward-proxy request through a sidecar).
 * `target.label` names where it went in errors when that is not `host:port` (a port forwarded from a pod).
 */
export function request(target: { host: string; port: number; label?: string }, path: string, opts: { method?: string; headers?: Record<string, string>; timeoutMs: number }): Promise<HttpAnswer> {
  const at = target.label ?? formatHostPort(target);
  const where = path.includes('://') ? `${path} through ${at}` : `${at}${path}`;
  return new Promise((resolve, reject) => {
    const req = http.request({ host: target.host, port: target.port, path, method: opts.method ?? 'GET', headers: opts.headers ?? {}, agent: false, timeout: opts.timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', (err) => reject(new VerifyHttpError(`${where}: ${err.message}`, { cause: err })));
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)));
    req.on('error', (err) => reject(new VerifyHttpError(`${where}: ${err.message}`, { cause: err })));
    req.end();
  });
}

/** `http://127.0.0.1:8080` → host and port. */
export function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url.includes('://') ? url : `http://${url}`);
  return { host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 80) };
}

/** Proxies the state lists: sidecars and gateways, with the ports they were given. */
export function proxies(state: MeshState): ComponentState[] {
  return state.components.filter((c) => c.kind === 'gateway' || (c.kind === 'workload' && c.sidecar));
}

/** The version a podinfo answer names (`podinfo stable` / `podinfo canary` in its message). */
export function versionOf(body: string): 'stable' | 'canary' | undefined {
  let text = body;
  try {
    const parsed = JSON.parse(body) as { message?: unknown };
    if (typeof parsed.message === 'string') text = parsed.message;
  } catch {
    // not JSON: look at the raw text
  }
  if (/canary/i.test(text)) return 'canary';
  if (/stable/i.test(text)) return 'stable';
  return undefined;
}

export function pass(name: string, detail: string): CheckResult {
  return { name, status: 'PASS', detail };
}

export function fail(name: string, detail: string): CheckResult {
  return { name, status: 'FAIL', detail };
}

/**
 * An answer as a detail reads it: `HTTP 404: {"message":...}` (its body's start, on one line), or, with
 * no body, that it had none; a bodiless 404 from the ingress is the gateway's no-route answer, which
 * `ingressHost` (the Host it was sent) explains.
 */
export function answerText(a: HttpAnswer, ingressHost?: string, max = 120): string {
  const body = a.body.trim().replace(/\s+/g, ' ');
  if (body !== '') return `HTTP ${a.status}: ${body.length > max ? `${body.slice(0, max - 3)}...` : body}`;
  const why =
    a.status === 404 && ingressHost !== undefined
      ? ` (the gateway has no route for Host ${ingressHost}: is it among a Gateway's hosts and a VirtualService's? --ingress-host names it)`
      : '';
  return `HTTP ${a.status} with an empty body${why}`;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
