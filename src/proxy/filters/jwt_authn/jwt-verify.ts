// JWS compact parsing and verification as jwt_verify_lib (Envoy's source/common/jwt): its claim type
// checks and status strings; the signature with node:crypto, a key used only for its algorithm family
// (an HMAC `oct` key for HS*, never a public key as an HMAC secret).
import { constants, createHmac, verify as cryptoVerify, timingSafeEqual } from 'node:crypto';
import type { Jwk } from './jwks.ts';

type TimeClaim = 'iat' | 'nbf' | 'exp';

/** jwt_verify_lib's status strings (status.cc) with spaces as underscores (Envoy's response code details). */
export type JwtFailure =
  | 'Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections'
  | 'Jwt_header_is_an_invalid_Base64url_encoded'
  | 'Jwt_header_is_an_invalid_JSON'
  | 'Jwt_header_[alg]_field_is_required_and_must_be_a_string'
  | 'Jwt_header_[alg]_is_not_supported'
  | 'Jwt_header_[kid]_field_is_not_a_string'
  | 'Jwt_payload_is_an_invalid_Base64url_encoded'
  | 'Jwt_payload_is_an_invalid_JSON'
  | `Jwt_payload_[${'iss' | 'sub' | 'jti'}]_field_is_not_a_string`
  | `Jwt_payload_[${TimeClaim}]_field_is_not_an_integer`
  | `Jwt_payload_[${TimeClaim}]_field_is_not_a_positive_64_bit_integer`
  | 'Jwt_payload_[aud]_field_is_not_a_string_or_string_list'
  | 'Jwt_signature_is_an_invalid_Base64url_encoded'
  | 'Jwt_ED25519_signature_is_wrong_length'
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
  readonly alg: string;
  /** The header's `kid`; '' when it has none. */
  readonly kid: string;
  /** The registered claims as jwt_verify_lib reads them: an absent time claim is 0, `aud` always a list. */
  readonly iss: string;
  readonly nbf: number;
  readonly exp: number;
  readonly audiences: readonly string[];
}

export const MAX_TOKEN_BYTES = 32 * 1024;
const BAD_FORMAT = 'Jwt_is_not_in_the_form_of_Header.Payload.Signature_with_two_dots_and_3_sections';
const B64URL = /^[A-Za-z0-9_-]*={0,2}$/;
const SPACE = /[ \t\n\v\f\r]/g;

/** absl's WebSafeBase64Unescape: whitespace skipped, padding optional; null when it is not base64url. */
function unbase64url(text: string): Buffer | null {
  const s = text.replace(SPACE, '');
  const body = s.replace(/=+$/, '');
  if (!B64URL.test(s) || body.length % 4 === 1 || (s !== body && s.length % 4 !== 0)) return null;
  return Buffer.from(body, 'base64url');
}

/** A JSON object (protobuf's Struct); null for anything else. */
function json(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** How many `.` the token holds (std::count in parseFromString). */
function dots(token: string): number {
  let n = 0;
  for (let i = token.indexOf('.'); i >= 0; i = token.indexOf('.', i + 1)) n++;
  return n;
}

/** StructUtils::GetUInt64: a number in [0, 2^64), truncated; 0 when absent. */
function uint64(payload: Record<string, unknown>, claim: TimeClaim): number | JwtFailure {
  const v = payload[claim];
  if (v === undefined) return 0;
  if (typeof v !== 'number') return `Jwt_payload_[${claim}]_field_is_not_an_integer`;
  if (v < 0 || v >= 2 ** 64) return `Jwt_payload_[${claim}]_field_is_not_a_positive_64_bit_integer`;
  return Math.trunc(v);
}

/**
 * jwt_verify_lib's Jwt::parseFromString, check for check in its order: exactly two dots and three non-empty sections, the
 * header (a string `alg` it implements, a string `kid` if any), then the payload's registered claims
 * (`iss`, `sub`, `jti` strings, `iat`, `nbf`, `exp` non-negative 64-bit numbers, `aud` a string or a
 * list of strings), then the signature's base64url.
 */
export function decodeJwt(token: string): DecodedJwt | JwtFailure {
  // parseFromString counts the dots first ("jwt must have exactly 2 dots"), so `<jwt>.`, `.<jwt>` and
  // `h..p.s` are refused before its SkipEmpty split, which then only refuses an empty section.
  if (token.length > MAX_TOKEN_BYTES || dots(token) !== 2) return BAD_FORMAT;
  const [h, p, s] = token.split('.') as [string, string, string];
  if (h === '' || p === '' || s === '') return BAD_FORMAT;
  const headerBytes = unbase64url(h);
  if (!headerBytes) return 'Jwt_header_is_an_invalid_Base64url_encoded';
  const header = json(headerBytes.toString('utf8'));
  if (!header) return 'Jwt_header_is_an_invalid_JSON';
  const alg = header['alg'];
  if (typeof alg !== 'string') return 'Jwt_header_[alg]_field_is_required_and_must_be_a_string';
  if (!Object.hasOwn(ALGS, alg)) return 'Jwt_header_[alg]_is_not_supported';
  // A JSON null is a value of the wrong type to jwt_verify_lib, not an absent claim.
  const kid = header['kid'] === undefined ? '' : header['kid'];
  if (typeof kid !== 'string') return 'Jwt_header_[kid]_field_is_not_a_string';
  const payloadBytes = unbase64url(p);
  if (!payloadBytes) return 'Jwt_payload_is_an_invalid_Base64url_encoded';
  const payloadText = payloadBytes.toString('utf8');
  const payload = json(payloadText);
  if (!payload) return 'Jwt_payload_is_an_invalid_JSON';
  const iss = payload['iss'] === undefined ? '' : payload['iss'];
  if (typeof iss !== 'string') return 'Jwt_payload_[iss]_field_is_not_a_string';
  if (payload['sub'] !== undefined && typeof payload['sub'] !== 'string') return 'Jwt_payload_[sub]_field_is_not_a_string';
  const iat = uint64(payload, 'iat');
  if (typeof iat === 'string') return iat;
  const nbf = uint64(payload, 'nbf');
  if (typeof nbf === 'string') return nbf;
  const exp = uint64(payload, 'exp');
  if (typeof exp === 'string') return exp;
  if (payload['jti'] !== undefined && typeof payload['jti'] !== 'string') return 'Jwt_payload_[jti]_field_is_not_a_string';
  const aud = payload['aud'] === undefined ? [] : payload['aud'];
  const audiences = typeof aud === 'string' ? [aud] : aud;
  if (!Array.isArray(audiences) || !audiences.every((a) => typeof a === 'string')) return 'Jwt_payload_[aud]_field_is_not_a_string_or_string_list';
  const signature = unbase64url(s);
  if (!signature) return 'Jwt_signature_is_an_invalid_Base64url_encoded';
  return { header, payload, payloadText, signingInput: `${h}.${p}`, signature, alg, kid, iss, nbf, exp, audiences };
}

interface AlgSpec {
  hash: string | null;
  kty: string;
  crv?: string;
  pss?: boolean;
  ecdsa?: boolean;
}

/** jwt_verify_lib's implemented algorithms (jwt.cc isImplemented). */
const ALGS: Record<string, AlgSpec> = {
  HS256: { hash: 'sha256', kty: 'oct' },
  HS384: { hash: 'sha384', kty: 'oct' },
  HS512: { hash: 'sha512', kty: 'oct' },
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

function verifyWith(spec: AlgSpec, k: Jwk, data: Buffer, signature: Buffer): boolean {
  if (spec.kty === 'oct') {
    const mac = createHmac(spec.hash as string, k.key).update(data).digest();
    return mac.length === signature.length && timingSafeEqual(mac, signature);
  }
  try {
    return cryptoVerify(
      spec.hash,
      data,
      spec.pss
        ? { key: k.key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
        : spec.ecdsa
          ? { key: k.key, dsaEncoding: 'ieee-p1363' }
          : k.key,
      signature,
    );
  } catch {
    // A malformed signature for this key: try the next one.
    return false;
  }
}

/**
 * jwt_verify_lib's verifyJwtWithoutTimeChecking; null on success. A key is tried unless both it and the
 * token name a different `kid`, or it names another `alg`; when none is tried the key set "doesn't have
 * key to match". A tried key verifies only for the algorithm family of the token's `alg` (and its curve).
 */
export function verifySignature(jwt: DecodedJwt, keys: readonly Jwk[]): JwtFailure | null {
  const spec = ALGS[jwt.alg] as AlgSpec;
  const data = Buffer.from(jwt.signingInput);
  let matched = false;
  for (const k of keys) {
    if (jwt.kid !== '' && k.kid !== undefined && k.kid !== jwt.kid) continue;
    if (k.alg !== undefined && k.alg !== jwt.alg) continue;
    matched = true;
    // jwt_verify_lib stops at an Ed25519 key when the signature cannot be one, whatever the token's alg.
    if (k.kty === 'OKP' && k.crv === 'Ed25519' && jwt.signature.length !== 64) return 'Jwt_ED25519_signature_is_wrong_length';
    if (k.kty !== spec.kty || (spec.crv !== undefined && k.crv !== spec.crv)) continue;
    if (verifyWith(spec, k, data, jwt.signature)) return null;
  }
  return matched ? 'Jwt_verification_fails' : 'Jwks_doesn\u0027t_have_key_to_match_kid_or_alg_from_Jwt';
}

/**
 * jwt_verify_lib's verifyTimeConstraint in whole seconds of the injected clock: not yet valid while
 * `now + skew < nbf`, expired once `now > exp + skew`; `exp: 0` (or none) never expires.
 */
export function checkTime(jwt: DecodedJwt, nowMs: number, skewSeconds: number): JwtFailure | null {
  const now = Math.floor(nowMs / 1000);
  if (now + skewSeconds < jwt.nbf) return 'Jwt_not_yet_valid';
  if (jwt.exp !== 0 && now > jwt.exp + skewSeconds) return 'Jwt_is_expired';
  return null;
}

/** jwt_verify_lib's CheckAudience sanitizeAudience: an `http://` or `https://` and one trailing `/` removed. */
export function sanitizeAudience(aud: string): string {
  const start = aud.startsWith('http://') ? 7 : aud.startsWith('https://') ? 8 : 0;
  return aud.slice(start, aud.endsWith('/') ? -1 : undefined);
}
