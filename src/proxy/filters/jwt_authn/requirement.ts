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
  if (c.requires_any) {
    const parts = (c.requires_any.requirements ?? []).map((r, i) => compileRequirement(r, providers, `${path}.requires_any[${i}]`));
    return async (req) => {
      let firstFailure: Outcome | null = null;
      for (const part of parts) {
        const out = await part(req);
        if (out.kind === 'ok') return out;
        if (out.kind === 'failed' && firstFailure === null) firstFailure = out;
      }
      return firstFailure ?? { kind: 'failed', reason: 'Jwt_is_missing' };
    };
  }
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
