// Strict JWS compact verification with node:crypto: asymmetric algorithms only (no `none`, no HMAC
// confusion), exact base64url, the key chosen by `kid` and checked against the algorithm family.
import { constants, verify as cryptoVerify } from 'node:crypto';
import type { Jwk } from './jwks.ts';

export type JwtFailure =
  | 'Jwt_is_not_in_the_form_of_Header.Payload.Signature'
  | 'Jwt_header_is_an_invalid_JSON'
  | 'Jwt_payload_is_an_invalid_JSON'
  | 'Jwt_algorithm_is_not_supported'
  | 'Jwt_verification_fails'
  | 'Jwt_issuer_is_not_configured'
  | 'Audiences_in_Jwt_are_not_allowed'
  | 'Jwt_is_expired'
  | 'Jwt_not_yet_valid'
  | 'Jwks_doesn\u0027t_have_key_to_match_kid_or_alg_from_Jwt';

export interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  readonly signingInput: string;
  readonly signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
export const MAX_TOKEN_BYTES = 32 * 1024;

function json(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function decodeJwt(token: string): DecodedJwt | JwtFailure {
  const parts = token.split('.');
  if (token.length > MAX_TOKEN_BYTES || parts.length !== 3 || !parts.every((p) => B64URL.test(p)) || parts[0] === '' || parts[1] === '') {
    return 'Jwt_is_not_in_the_form_of_Header.Payload.Signature';
  }
  const header = json(parts[0]!);
  if (!header) return 'Jwt_header_is_an_invalid_JSON';
  const payload = json(parts[1]!);
  if (!payload) return 'Jwt_payload_is_an_invalid_JSON';
  return { header, payload, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
}

interface AlgSpec {
  hash: string | null;
  kty: string;
  crv?: string;
  pss?: boolean;
  ecdsa?: boolean;
}

const ALGS: Record<string, AlgSpec> = {
  RS256: { hash: 'sha256', kty: 'RSA' },
  RS384: { hash: 'sha384', kty: 'RSA' },
  RS512: { hash: 'sha512', kty: 'RSA' },
  PS256: { hash: 'sha256', kty: 'RSA', pss: true },
  PS384: { hash: 'sha384', kty: 'RSA', pss: true },
  PS512: { hash: 'sha512', kty: 'RSA', pss: true },
  ES256: { hash: 'sha256', kty: 'EC', crv: 'P-256', ecdsa: true },
  ES384: { hash: 'sha384', kty: 'EC', crv: 'P-384', ecdsa: true },
  ES512: { hash: 'sha512', kty: 'EC', crv: 'P-521', ecdsa: true },
  EdDSA: { hash: null, kty: 'OKP', crv: 'Ed25519' },
};

export const SUPPORTED_ALGORITHMS: readonly string[] = Object.keys(ALGS);

/** Verifies the signature against the key set; null on success. */
export function verifySignature(jwt: DecodedJwt, keys: readonly Jwk[]): JwtFailure | null {
  const alg = jwt.header['alg'];
  const spec = typeof alg === 'string' ? ALGS[alg] : undefined;
  if (!spec) return 'Jwt_algorithm_is_not_supported';
  const kid = jwt.header['kid'];
  const candidates = keys.filter(
    (k) =>
      k.kty === spec.kty &&
      (spec.crv === undefined || k.crv === spec.crv) &&
      (k.alg === undefined || k.alg === alg) &&
      (typeof kid !== 'string' || k.kid === kid),
  );
  if (candidates.length === 0) return 'Jwks_doesn\u0027t_have_key_to_match_kid_or_alg_from_Jwt';
  const data = Buffer.from(jwt.signingInput);
  for (const k of candidates) {
    try {
      const ok = cryptoVerify(
        spec.hash,
        data,
        spec.pss
          ? { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
          : spec.ecdsa
            ? { key: k.key, dsaEncoding: 'ieee-p1363' }
            : k.key,
        jwt.signature,
      );
      if (ok) return null;
    } catch {
      // A malformed signature for this key: try the next one.
    }
  }
  return 'Jwt_verification_fails';
}

/** Time claims with Envoy's clock skew; `nowMs` comes from the injected clock. */
export function checkTime(payload: Record<string, unknown>, nowMs: number, skewSeconds: number): JwtFailure | null {
  const now = nowMs / 1000;
  const exp = payload['exp'];
  const nbf = payload['nbf'];
  if (exp !== undefined && (typeof exp !== 'number' || exp + skewSeconds < now)) return 'Jwt_is_expired';
  if (nbf !== undefined && (typeof nbf !== 'number' || nbf - skewSeconds > now)) return 'Jwt_not_yet_valid';
  return null;
}

export function audiencesOf(payload: Record<string, unknown>): string[] {
  const aud = payload['aud'];
  if (typeof aud === 'string') return [aud];
  return Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : [];
}
