// The RBAC engine shared by the HTTP and network filters: named policies, each "any permission and
// any principal", and the action that decides what a match means.
import { compilePermission, compilePrincipal } from './compile-tree.ts';
import type { InputPredicate } from './predicates.ts';
import { type RbacAction, type RbacConfig, RbacConfigError, type RbacInput } from './rbac-types.ts';

export interface CompiledPolicy {
  readonly name: string;
  readonly permissions: InputPredicate;
  readonly principals: InputPredicate;
}

export interface RbacDecision {
  readonly allowed: boolean;
  /** The policy that matched (the deciding one for DENY; the granting one for ALLOW), if any. */
  readonly matchedPolicy: string | undefined;
}

export class RbacEngine {
  readonly action: RbacAction;
  readonly #policies: readonly CompiledPolicy[];

  constructor(config: RbacConfig, path = 'rules') {
    const action = config.action ?? 'ALLOW';
    if (action !== 'ALLOW' && action !== 'DENY' && action !== 'LOG') {
      throw new RbacConfigError(`${path}.action: unsupported ${String(action)}`);
    }
    this.action = action;
    // Envoy keeps policies in a sorted map: the first matching name in order is the one reported.
    const names = Object.keys(config.policies ?? {}).sort();
    this.#policies = names.map((name) => {
      const policy = config.policies![name]!;
      const at = `${path}.policies[${name}]`;
      if (policy.condition || policy.checked_condition) throw new RbacConfigError(`${at}.condition: CEL conditions are not supported`);
      const perms = policy.permissions ?? [];
      const princ = policy.principals ?? [];
      if (perms.length === 0) throw new RbacConfigError(`${at}.permissions: at least one required`);
      if (princ.length === 0) throw new RbacConfigError(`${at}.principals: at least one required`);
      return {
        name,
        permissions: orOf(perms.map((p, i) => compilePermission(p, `${at}.permissions[${i}]`))),
        principals: orOf(princ.map((p, i) => compilePrincipal(p, `${at}.principals[${i}]`))),
      };
    });
  }

  get policies(): readonly CompiledPolicy[] {
    return this.#policies;
  }

  /** The first policy (by name) whose permissions and principals both match. */
  match(input: RbacInput): string | undefined {
    for (const p of this.#policies) {
      if (p.permissions.apply(input) && p.principals.apply(input)) return p.name;
    }
    return undefined;
  }

  evaluate(input: RbacInput): RbacDecision {
    const matchedPolicy = this.match(input);
    const allowed = this.action === 'ALLOW' ? matchedPolicy !== undefined : this.action === 'DENY' ? matchedPolicy === undefined : true;
    return { allowed, matchedPolicy };
  }

  toString(): string {
    const lines = this.#policies.map((p) => `  ${p.name}: permissions=${p.permissions} principals=${p.principals}`);
    return `rbac(${this.action}) {\n${lines.join('\n')}\n}`;
  }
}

function orOf(parts: InputPredicate[]): InputPredicate {
  return parts.length === 1 ? parts[0]! : { apply: (i) => parts.some((p) => p.apply(i)), toString: () => `or(${parts.join(', ')})` };
}
