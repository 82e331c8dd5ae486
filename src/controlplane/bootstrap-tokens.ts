// Per-workload bootstrap tokens: an HMAC over (namespace, service account, workload) and, when the
// token was issued with one, its expiry. Issued to the runtime (local mode) or by `outrigger token`, and
// presented by the proxy as `authorization: Bearer <token>` on ADS and CSR.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
  workload: string;
}

/** What proved a caller's identity: its bootstrap token, or its workload certificate on the TLS port. */
export type IdentityCredential = 'token' | 'client certificate';

const prefix = 'or1';

export class BootstrapTokens {
  #key: Buffer;

  /** `key` lets a restarted control plane honour tokens it issued before; random by default. */
  constructor(key: Uint8Array = randomBytes(32)) {
    this.#key = Buffer.from(key);
  }

  /**
   * A token for `id`. With `expiresAtMs` (ms since the epoch, cut to whole seconds as a JWT's `exp`),
   * it is refused from that instant on; without, it holds as long as the key.
   */
  issue(id: WorkloadIdentity, expiresAtMs?: number): string {
    for (const [field, value] of Object.entries(id)) {
      if (typeof value !== 'string' || value === '') throw Object.assign(new Error(`token ${field} is empty`), { code: 'TOKEN_FIELD' });
    }
    const fields: (string | number)[] = [id.namespace, id.serviceAccount, id.workload];
    if (expiresAtMs !== undefined) {
      if (!Number.isSafeInteger(Math.floor(expiresAtMs)) || expiresAtMs <= 0) throw Object.assign(new Error('token expiry is not a time'), { code: 'TOKEN_FIELD' });
      fields.push(Math.floor(expiresAtMs / 1000));
    }
    const body = Buffer.from(JSON.stringify(fields)).toString('base64url');
    return `${prefix}.${body}.${this.#mac(body)}`;
  }

  /** The identity a token is bound to, or undefined when it is malformed, not ours, or expired at `nowMs`. */
  verify(token: string, nowMs: number = Date.now()): WorkloadIdentity | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== prefix) return undefined;
    const [, body = '', mac = ''] = parts;
    const want = Buffer.from(this.#mac(body));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    const claims = decodeBody(body);
    if (claims === undefined || (claims.expiresAtMs !== undefined && nowMs >= claims.expiresAtMs)) return undefined;
    return claims.identity;
  }

  /**
   * When a token stops being accepted (ms since the epoch), read without the key: the proxy warns of its
   * own token's expiry and the control plane names it when it refuses one. Undefined: no expiry, or not
   * a token. Says nothing of whether the token is genuine; only verify() does.
   */
  static expiresAt(token: string): number | undefined {
    const parts = token.split('.');
    return parts.length === 3 && parts[0] === prefix ? decodeBody(parts[1] as string)?.expiresAtMs : undefined;
  }

  /** Reads `authorization: Bearer <token>` from gRPC metadata values. */
  static fromAuthorization(value: string | undefined): string | undefined {
    const m = value ? /^Bearer\s+(\S+)$/i.exec(value.trim()) : null;
    return m?.[1];
  }

  #mac(body: string): string {
    return createHmac('sha256', this.#key).update(`${prefix}.${body}`).digest('base64url');
  }
}

/** A token's body: three non-empty strings, then the expiry in whole seconds if it has one. */
function decodeBody(body: string): { identity: WorkloadIdentity; expiresAtMs: number | undefined } | undefined {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  if (!Array.isArray(decoded) || (decoded.length !== 3 && decoded.length !== 4)) return undefined;
  const [namespace, serviceAccount, workload, exp] = decoded as unknown[];
  if (typeof namespace !== 'string' || typeof serviceAccount !== 'string' || typeof workload !== 'string') return undefined;
  if (decoded.length === 4 && !(Number.isSafeInteger(exp) && (exp as number) > 0)) return undefined;
  return { identity: { namespace, serviceAccount, workload }, expiresAtMs: decoded.length === 4 ? (exp as number) * 1000 : undefined };
}
