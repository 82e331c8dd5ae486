// Envoy's JwtRequirement tree (provider_name, requires_any, requires_all, allow_missing,
// allow_missing_or_failed) compiled into an async check over one request's tokens.
import { FilterConfigError } from '../../http/filter.ts';
import type { HeaderMap } from '../../http/stream.ts';
import type { JwtFailure } from './jwt-verify.ts';
import type { CompiledProvider, Verified } from './provider.ts';

export interface JwtRequirementConfig {
  provider_name?: string;
  requires_any?: { requirements?: JwtRequirementConfig[] };
  requires_all?: { requirements?: JwtRequirementConfig[] };
  allow_missing?: object;
  allow_missing_or_failed?: object;
}

export type Outcome = { kind: 'ok'; verified: Verified[] } | { kind: 'missing' } | { kind: 'failed'; reason: JwtFailure | 'Jwt_is_missing' };

export interface RequestTokens {
  readonly headers: HeaderMap;
  readonly query: string;
  /** Any token anywhere a provider of this filter looks (for allow_missing). */
  readonly anyToken: boolean;
}

export type Requirement = (req: RequestTokens) => Promise<Outcome>;

export function compileRequirement(c: JwtRequirementConfig, providers: ReadonlyMap<string, CompiledProvider>, path: string): Requirement {
  if (c.provider_name !== undefined) {
    const p = providers.get(c.provider_name);
    if (!p) throw new FilterConfigError(`${path}.provider_name: unknown provider ${c.provider_name}`);
    return (req) => p.verify(p.tokens(req.headers, req.query));
  }
  if (c.allow_missing) return async (req) => (req.anyToken ? { kind: 'failed', reason: 'Jwt_verification_fails' } : { kind: 'ok', verified: [] });
  if (c.allow_missing_or_failed) return async () => ({ kind: 'ok', verified: [] });
  if (c.requires_any) return compileRequiresAny(c.requires_any.requirements ?? [], providers, `${path}.requires_any`);
  if (c.requires_all) {
    const parts = (c.requires_all.requirements ?? []).map((r, i) => compileRequirement(r, providers, `${path}.requires_all[${i}]`));
    return async (req) => {
      const verified: Verified[] = [];
      for (const part of parts) {
        const out = await part(req);
        if (out.kind === 'failed') return out;
        if (out.kind === 'missing') return { kind: 'failed', reason: 'Jwt_is_missing' };
        verified.push(...out.verified);
      }
      return { kind: 'ok', verified };
    };
  }
  throw new FilterConfigError(`${path}: empty or unsupported requirement`);
}

/** A failure reason, with a missing token as the `Jwt_is_missing` Envoy reports for it. */
const reasonOf = (out: Exclude<Outcome, { kind: 'ok' }>): JwtFailure | 'Jwt_is_missing' => (out.kind === 'missing' ? 'Jwt_is_missing' : out.reason);

/**
 * Envoy's requires_any (verifier.cc AnyVerifierImpl): the first requirement that passes decides. An
 * `allow_missing` or `allow_missing_or_failed` among them is not a requirement of its own but how the
 * failure is judged (as Istio writes it: `[provider, ..., allow_missing]`). When none passes, the answer
 * is the last failure that is neither a missing token nor another issuer's token, else the last
 * `Jwt_issuer_is_not_configured`, else `Jwt_is_missing`; then `allow_missing_or_failed` lets any failure
 * pass, `allow_missing` a missing token.
 */
function compileRequiresAny(list: readonly JwtRequirementConfig[], providers: ReadonlyMap<string, CompiledProvider>, path: string): Requirement {
  const allowFailed = list.some((r) => r.allow_missing_or_failed);
  const allowMissing = list.some((r) => r.allow_missing);
  const parts = list.flatMap((r, i) => (r.allow_missing || r.allow_missing_or_failed ? [] : [compileRequirement(r, providers, `${path}[${i}]`)]));
  // Only an allow requirement: it is then the one requirement, as in Envoy.
  if (parts.length === 0 && (allowFailed || allowMissing)) return compileRequirement(allowFailed ? { allow_missing_or_failed: {} } : { allow_missing: {} }, providers, `${path}[0]`);
  return async (req) => {
    let reason: JwtFailure | 'Jwt_is_missing' = 'Jwt_is_missing';
    for (const part of parts) {
      const out = await part(req);
      if (out.kind === 'ok') return out;
      const r = reasonOf(out);
      if ((r !== 'Jwt_is_missing' && r !== 'Jwt_issuer_is_not_configured') || reason === 'Jwt_is_missing') reason = r;
    }
    if (allowFailed || (allowMissing && reason === 'Jwt_is_missing')) return { kind: 'ok', verified: [] };
    return { kind: 'failed', reason };
  };
}
