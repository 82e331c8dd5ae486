// Strict JWS compact verification with node:crypto: asymmetric algorithms only (no `none`, no HMAC
// confusion), exact base64url, the key chosen by `kid` and checked against the algorithm family.
import { constants, verify as cryptoVerify } from 'node:crypto';
import type { Jwk } from './jwks.ts';

/** jwt_verify_lib's status strings with spaces as underscores (Envoy's response code details). */
export type JwtFailure =
  | 'Jwt_is_not_in_the_form_of_Header.Payload.Signature'
  | 'Jwt_header_is_an_invalid_Base64url_input_or_an_invalid_JSON'
  | 'Jwt_payload_is_an_invalid_Base64_or_an_invalid_JSON'
  | 'Jwt_header_[alg]_field_value_is_invalid'
  | 'Jwt_verification_fails'
  | 'Jwt_issuer_is_not_configured'
  | 'Audiences_in_Jwt_are_not_allowed'
  | 'Jwt_is_expired'
  | 'Jwt_not_yet_valid'
  | 'Jwks_doesn\u0027t_have_key_to_match_kid_or_alg_from_Jwt'
  | 'Jwks_doesn\u0027t_have_any_valid_public_key'
  | 'Jwks_remote_fetch_is_failed';

export interface DecodedJwt {
  readonly header: Record<string, unknown>;
  readonly payload: Record<string, unknown>;
  /** The payload's JSON as signed (published as is: re-serializing could overflow on deep nesting). */
  readonly payloadText: string;
  readonly signingInput: string;
  readonly signature: Buffer;
}

const B64URL = /^[A-Za-z0-9_-]*$/;
export const MAX_TOKEN_BYTES = 32 * 1024;

function json(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
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
  const header = json(Buffer.from(parts[0]!, 'base64url').toString('utf8'));
  if (!header) return 'Jwt_header_is_an_invalid_Base64url_input_or_an_invalid_JSON';
  const payloadText = Buffer.from(parts[1]!, 'base64url').toString('utf8');
  const payload = json(payloadText);
  if (!payload) return 'Jwt_payload_is_an_invalid_Base64_or_an_invalid_JSON';
  return { header, payload, payloadText, signingInput: `${parts[0]}.${parts[1]}`, signature: Buffer.from(parts[2]!, 'base64url') };
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
  if (!spec) return 'Jwt_header_[alg]_field_value_is_invalid';
  const kid = jwt.header['kid'];
  const candidates = keys.filter(
    (k) =>
      k.kty === spec.kty &&
      (spec.crv === undefined || k.crv === spec.crv) &&
      (k.alg === undefined || k.alg === alg) &&
      // jwt_verify_lib skips a key only when both name a kid and they differ: a key without one is tried.
      (typeof kid !== 'string' || k.kid === undefined || k.kid === kid),
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

/**
 * Time claims with Envoy's clock skew; `nowMs` comes from the injected clock. Whole seconds, as
 * jwt_verify_lib's verifyTimeConstraint gets them: a token is expired once `now > exp + skew`.
 */
export function checkTime(payload: Record<string, unknown>, nowMs: number, skewSeconds: number): JwtFailure | null {
  const now = Math.floor(nowMs / 1000);
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
