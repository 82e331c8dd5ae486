// JSON Web Key Sets: parsed once into node:crypto keys: public keys (RSA, EC, OKP) and, as
// jwt_verify_lib, HMAC secrets (`oct`, for HS256/384/512 only); a set without usable keys rejects
// every token (fail closed, ISTIO-SECURITY-2026-001).
import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto';
import type { Timers } from '../../http/router.ts';

export interface Jwk {
  readonly kid: string | undefined;
  readonly alg: string | undefined;
  readonly kty: string;
  readonly crv: string | undefined;
  readonly key: KeyObject;
}

export class JwksError extends Error {
  readonly code = 'JWKS_INVALID';
}

/** The `alg` a key of each type may name (jwks.cc extractJwkFromJwk*). */
const KEY_ALGS = { RSA: /^(RS|PS)/, EC: /^ES/, OKP: /^EdDSA$/, oct: /^HS(256|384|512)$/ } as const;

/** An `oct` key's secret: `k` in base64url, not empty (jwt_verify_lib's JwksOctBadBase64 otherwise). */
function hmacKey(k: unknown): KeyObject | null {
  if (typeof k !== 'string' || !/^[A-Za-z0-9_-]+={0,2}$/.test(k) || k.replace(/=+$/, '').length % 4 === 1) return null;
  return createSecretKey(Buffer.from(k, 'base64url'));
}

/** Parses a JWKS document (or a single JWK); keys that node cannot import are skipped. */
export function parseJwks(text: string): Jwk[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new JwksError('JWKS is not JSON', { cause: err });
  }
  const raw = (doc as { keys?: unknown }).keys ?? [doc];
  if (!Array.isArray(raw)) throw new JwksError('JWKS `keys` is not a list');
  const out: Jwk[] = [];
  for (const k of raw) {
    if (typeof k !== 'object' || k === null) continue;
    const jwk = k as Record<string, unknown>;
    const kty = jwk['kty'];
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP' && kty !== 'oct') continue;
    // jwt_verify_lib's extractJwk: an empty kid or alg is none; a key whose alg is not of its type is skipped.
    const alg = typeof jwk['alg'] === 'string' && jwk['alg'] !== '' ? jwk['alg'] : undefined;
    if (alg !== undefined && !KEY_ALGS[kty].test(alg)) continue;
    if (kty !== 'oct' && jwk['d'] !== undefined) continue; // never accept a private key as verification material
    try {
      const key = kty === 'oct' ? hmacKey(jwk['k']) : createPublicKey({ key: jwk as import('node:crypto').JsonWebKey, format: 'jwk' });
      if (!key) continue;
      out.push({
        kid: typeof jwk['kid'] === 'string' && jwk['kid'] !== '' ? jwk['kid'] : undefined,
        alg,
        kty,
        crv: typeof jwk['crv'] === 'string' ? jwk['crv'] : undefined,
        key,
      });
    } catch {
      // An unusable key is skipped; the others still verify.
    }
  }
  return out;
}

/** Reads a JWKS from a URI: `file://` or http(s). It gives up when `signal` aborts (the fetch timed out). */
export type JwksFetcher = (uri: string, signal: AbortSignal) => Promise<string>;

export const defaultJwksFetcher: JwksFetcher = async (uri, signal) => {
  if (uri.startsWith('file://')) {
    const { readFile } = await import('node:fs/promises');
    return readFile(new URL(uri), { encoding: 'utf8', signal });
  }
  const res = await fetch(uri, { signal, redirect: 'error' });
  if (!res.ok) throw new JwksError(`JWKS fetch ${uri}: HTTP ${res.status}`);
  return res.text();
};

const RETRY_AFTER_FAILURE_MS = 1_000;

/** One remote key set: fetched on first use, cached for `cacheMs` by the injected clock, single flight. */
export class RemoteJwks {
  readonly #uri: string;
  readonly #cacheMs: number;
  readonly #timeoutMs: number;
  readonly #fetch: JwksFetcher;
  readonly #now: () => number;
  /** The fetch's timeout (http_uri.timeout) runs on these: the proxy's timers, a test clock in tests. */
  readonly #timers: Timers;
  #keys: Jwk[] | null = null;
  #expires = 0;
  #failed = false;
  #inflight: Promise<Jwk[]> | null = null;

  constructor(uri: string, opts: { cacheMs: number; timeoutMs: number; fetch: JwksFetcher; now: () => number; timers: Timers }) {
    this.#uri = uri;
    this.#cacheMs = opts.cacheMs;
    this.#timeoutMs = opts.timeoutMs;
    this.#fetch = opts.fetch;
    this.#now = opts.now;
    this.#timers = opts.timers;
  }

  /** Whether the last fetch failed (its keys are then an empty list). */
  get failed(): boolean {
    return this.#failed;
  }

  /** The current keys; an empty list when the fetch failed (every token is then rejected). */
  keys(): Jwk[] | Promise<Jwk[]> {
    if (this.#keys && this.#now() < this.#expires) return this.#keys;
    this.#inflight ??= this.#load();
    return this.#inflight;
  }

  async #load(): Promise<Jwk[]> {
    const timeout = new AbortController();
    const timer = this.#timers.set(() => timeout.abort(new JwksError(`JWKS fetch ${this.#uri}: timed out after ${this.#timeoutMs} ms`)), this.#timeoutMs);
    try {
      const keys = parseJwks(await this.#fetch(this.#uri, timeout.signal));
      // Envoy's JwksFetcher: a key set without a usable key is a failed fetch, and is not cached.
      if (keys.length === 0) throw new JwksError(`JWKS fetch ${this.#uri}: no valid key`);
      this.#keys = keys;
      this.#expires = this.#now() + this.#cacheMs;
      this.#failed = false;
    } catch {
      this.#failed = true;
      // Fail closed. Envoy without async_fetch caches nothing on failure, so the next request fetches
      // again; bounded here to one fetch in flight (the single flight above) and one a second
      // (async_fetch's default failed_refetch_duration), so a dead JWKS server is not hit per request.
      this.#keys = [];
      this.#expires = this.#now() + Math.min(this.#cacheMs, RETRY_AFTER_FAILURE_MS);
    } finally {
      this.#timers.clear(timer);
      this.#inflight = null;
    }
    return this.#keys;
  }
}
