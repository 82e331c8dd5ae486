// Who calls ADS or CSDS: istiod's authenticators in order, the workload certificate presented on the TLS
// port first, then the bearer token. One decision for both services, so a caller is taken, or refused
// with the same code and reason, by each alike.
import type { WorkloadIdentity } from './bootstrap-tokens.ts';
import { BootstrapTokens } from './bootstrap-tokens.ts';
import type { ClientCertResult, PeerAuthContext } from './client-cert-authenticator.ts';

export type CallerRefusalCode = 'NO_TOKEN' | 'BAD_TOKEN' | 'TOKEN_EXPIRED' | 'BAD_CERT' | 'CERT_EXPIRED';

export type CallerAuth =
  /** A certificate that proves its namespace and service account (it names no workload). */
  | { kind: 'certificate'; cert: Extract<ClientCertResult, { kind: 'verified' }> }
  | { kind: 'token'; token: string; identity: WorkloadIdentity }
  /** No credential, where anonymous callers are allowed. */
  | { kind: 'anonymous' }
  | { kind: 'refused'; code: CallerRefusalCode; reason: string };

export interface CallerAuthOptions {
  /** The identity a bearer token is bound to, or undefined to refuse it. */
  verifyToken: (token: string) => WorkloadIdentity | undefined;
  /** Whether the token is ours (its MAC), expired or not: only such a token is named TOKEN_EXPIRED. */
  tokenGenuine?: (token: string) => boolean;
  /** The presented workload certificate's verdict (TLS port); absent where nothing could verify one. */
  verifyCertificate?: (context: PeerAuthContext | null) => ClientCertResult;
  /** Callers without any credential are let in. Off by default. */
  allowAnonymous?: boolean;
}

/**
 * A certificate that proves its identity wins, whatever the token says; a token is only looked at without
 * one. A refused certificate is said beside the token's refusal, or instead of it when there is no token.
 */
export function authenticateCaller(
  authorization: unknown,
  authContext: PeerAuthContext | null,
  opts: CallerAuthOptions,
  nowMs: number,
): CallerAuth {
  const cert = opts.verifyCertificate?.(authContext);
  if (cert?.kind === 'verified') return { kind: 'certificate', cert };
  const certRefusal = cert?.kind === 'refused' ? cert : undefined;
  const token = BootstrapTokens.fromAuthorization(typeof authorization === 'string' ? authorization : undefined);
  if (token) {
    const identity = opts.verifyToken(token);
    if (identity) return { kind: 'token', token, identity };
    const expiry = BootstrapTokens.expiresAt(token);
    const expired = expiry !== undefined && nowMs >= expiry && opts.tokenGenuine?.(token) === true;
    const reason = expired ? `token expired at ${new Date(expiry).toISOString()}` : 'token not valid';
    return { kind: 'refused', code: expired ? 'TOKEN_EXPIRED' : 'BAD_TOKEN', reason: certRefusal ? `${reason}; ${certRefusal.code} ${certRefusal.reason}` : reason };
  }
  if (certRefusal) return { kind: 'refused', code: certRefusal.code, reason: certRefusal.reason };
  if (opts.allowAnonymous) return { kind: 'anonymous' };
  return { kind: 'refused', code: 'NO_TOKEN', reason: 'no bearer token' };
}
