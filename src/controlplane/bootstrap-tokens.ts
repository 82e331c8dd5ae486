// Per-workload bootstrap tokens for local mode: an HMAC over (namespace, service account, workload),
// issued to the runtime and presented by the proxy as `authorization: Bearer <token>` on ADS and CSR.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export interface WorkloadIdentity {
  namespace: string;
  serviceAccount: string;
  workload: string;
}

const prefix = 'or1';

export class BootstrapTokens {
  #key: Buffer;

  /** `key` lets a restarted control plane honour tokens it issued before; random by default. */
  constructor(key: Uint8Array = randomBytes(32)) {
    this.#key = Buffer.from(key);
  }

  issue(id: WorkloadIdentity): string {
    for (const [field, value] of Object.entries(id)) {
      if (typeof value !== 'string' || value === '') throw Object.assign(new Error(`token ${field} is empty`), { code: 'TOKEN_FIELD' });
    }
    const body = Buffer.from(JSON.stringify([id.namespace, id.serviceAccount, id.workload])).toString('base64url');
    return `${prefix}.${body}.${this.#mac(body)}`;
  }

  /** The identity a token is bound to, or undefined when it is malformed or not ours. */
  verify(token: string): WorkloadIdentity | undefined {
    const parts = token.split('.');
    if (parts.length !== 3 || parts[0] !== prefix) return undefined;
    const [, body = '', mac = ''] = parts;
    const want = Buffer.from(this.#mac(body));
    const got = Buffer.from(mac);
    if (want.length !== got.length || !timingSafeEqual(want, got)) return undefined;
    try {
      const decoded: unknown = JSON.parse(Buffer.from(body, 'base64url').toString('utf8'));
      if (!Array.isArray(decoded) || decoded.length !== 3 || !decoded.every((s) => typeof s === 'string')) return undefined;
      const [namespace, serviceAccount, workload] = decoded as [string, string, string];
      return { namespace, serviceAccount, workload };
    } catch {
      return undefined;
    }
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
