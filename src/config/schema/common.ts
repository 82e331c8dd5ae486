// Building blocks shared by every kind's schema: Istio's scalar rules (durations, RE2 regexes, header
// names, ports, percentages) as zod schemas whose failures carry an OR1xxx code in `params.code`.
import { RE2JS } from 're2js';
import * as z from 'zod';
import { parseDurationMs } from '../../xds/duration.ts';

export const str = z.string();
export const bool = z.boolean();
export const int = z.number().int();
export const uint = z.number().int().min(0);
export const num = z.number();
export const strList = z.array(z.string());
export const strMap = z.record(z.string(), z.string());
/**
 * `subjectAltNames`: names a peer certificate must present one of. An empty entry would reach the proxy
 * as an exact matcher of nothing, and a cluster the proxy refuses holds back every cluster of the push.
 */
export const sanList = z.array(
  z.string().superRefine((san, ctx) => {
    if (san.trim() === '') ctx.addIssue({ code: 'custom', message: 'a subject alt name must not be empty; remove the entry', ...issueCode('OR1024') });
  }),
);

/** A strict object: unknown fields are errors, as in Istio. */
export const obj = z.strictObject;

/**
 * Istio's bootstrap raises Envoy's `re2.max_program_size.error_level` (100 by default) to this: bigger
 * regexes are NACKed by the proxy.
 */
export const MAX_REGEX_PROGRAM_SIZE = 32768;
/** Istio's validation caps regex length (validateStringRegexp). */
const MAX_REGEX_LENGTH = 1024;

export function issueCode(code: string): { params: { code: string } } {
  return { params: { code } };
}

/** A Go/Istio duration string ("100ms", "2s", "1m30s"), at least 1ms. */
export const duration = z.string().superRefine((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `"${text}" is not a duration (write e.g. 500ms, 2s, 1m30s)`, ...issueCode('OR1025') });
  } else if (ms < 1) {
    ctx.addIssue({ code: 'custom', message: `duration "${text}" is shorter than 1ms, the smallest Istio accepts`, ...issueCode('OR1025') });
  }
});

/** Why a pattern is not an acceptable RE2 regex for Envoy, or undefined when it is. */
export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_LENGTH) return `regex is ${pattern.length} characters long; the limit is ${MAX_REGEX_LENGTH}`;
  try {
    const size = RE2JS.compile(pattern).programSize();
    if (size > MAX_REGEX_PROGRAM_SIZE) {
      return `regex program size ${size} exceeds ${MAX_REGEX_PROGRAM_SIZE}, the limit Istio's bootstrap sets; simplify it`;
    }
  } catch (err) {
    return `invalid RE2 regex: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

export const regex = z.string().superRefine((pattern, ctx) => {
  const problem = regexProblem(pattern);
  if (problem) ctx.addIssue({ code: 'custom', message: problem, ...issueCode('OR1026') });
});

const token = /^:?[a-zA-Z0-9!#$%&'*+\-.^_`|~]+$/;

/** Why a header name is invalid (`lowerCase` as Istio requires in matches), or undefined. */
export function headerNameProblem(name: string, lowerCase: boolean): string | undefined {
  // Gateways may route on JWT claims: `@request.auth.claims.groups` (Istio's claim-based routing).
  if (name.startsWith('@request.auth.claims.') && name.length > '@request.auth.claims.'.length) return undefined;
  if (!token.test(name)) return `"${name}" is not a valid HTTP header name`;
  if (lowerCase && name !== name.toLowerCase()) return `header name "${name}" must be lower case ("${name.toLowerCase()}")`;
  return undefined;
}

/** A map keyed by header names, each key checked. */
export function headerMap<T extends z.ZodType>(value: T, lowerCase: boolean) {
  return z.record(z.string(), value).superRefine((map, ctx) => {
    for (const key of Object.keys(map)) {
      const problem = headerNameProblem(key, lowerCase);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [key], ...issueCode('OR1027') });
      // A value to set or add: the proxy refuses one that would break the header block (Envoy does too).
      const v = map[key];
      if (typeof v === 'string' && /[\0\r\n]/.test(v)) {
        ctx.addIssue({ code: 'custom', message: `header value of ${JSON.stringify(key)} holds NUL, CR or LF`, path: [key], ...issueCode('OR1042') });
      }
    }
  });
}

export const headerList = z.array(z.string()).superRefine((names, ctx) => {
  names.forEach((name, i) => {
    const problem = headerNameProblem(name, false);
    if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [i], ...issueCode('OR1027') });
  });
});

export const port = z
  .number()
  .int()
  .refine((n) => n >= 1 && n <= 65535, { message: 'port must be between 1 and 65535', ...issueCode('OR1028') });

/** Kubernetes int-or-string ports (`targetPort: http`). */
export const intOrString = z.union([port, z.string().min(1)]);

export const percent = obj({ value: z.number().min(0).max(100) });

export const labelSelector = obj({ matchLabels: strMap.optional() });

/** networking.istio.io's own WorkloadSelector (Sidecar, ServiceEntry) spells the field `labels`. */
export const networkingWorkloadSelector = obj({ labels: strMap.optional() });

const always = (): boolean => true;

type Check = (value: Record<string, unknown>, add: (path: PropertyKey[], code: string, message: string) => void) => void;

/**
 * Adds a cross-field rule that runs even when some fields failed (so every error is reported). The
 * value may be partial; rules read it defensively.
 */
export function withRules<T extends z.ZodType>(schema: T, ...rules: Check[]): T {
  return schema.check(
    z.superRefine(
      (value, ctx) => {
        if (!value || typeof value !== 'object') return;
        const add = (path: PropertyKey[], code: string, message: string): void => {
          // Deprecations are about the field, not its value: point at the key.
          ctx.addIssue({ code: 'custom', message, path, input: value, params: { code, key: code === 'OR1033' } });
        };
        for (const rule of rules) rule(value as Record<string, unknown>, add);
      },
      { when: always },
    ),
  );
}

/** At most one of `fields` (or exactly one, when `required`). */
export function oneOf(fields: readonly string[], required = false): Check {
  return (value, add) => {
    const set = fields.filter((f) => value[f] !== undefined);
    if (set.length > 1) add([set[1] as string], 'OR1029', `only one of ${fields.join(', ')} may be set; found ${set.join(' and ')}`);
    else if (required && set.length === 0) add([], 'OR1029', `one of ${fields.join(', ')} must be set`);
  };
}

/** `field` excludes each of `others`. */
export function excludes(field: string, others: readonly string[]): Check {
  return (value, add) => {
    if (value[field] === undefined) return;
    for (const o of others) {
      if (value[o] !== undefined) add([o], 'OR1029', `${o} cannot be used together with ${field}`);
    }
  };
}

/** Marks a field as deprecated (an info diagnostic, the value is still accepted). */
export function deprecated(field: string, replacement: string): Check {
  return (value, add) => {
    if (value[field] !== undefined) add([field], 'OR1033', `${field} is deprecated; use ${replacement}`);
  };
}

export const stringMatch = withRules(obj({ exact: str.optional(), prefix: str.optional(), regex: regex.optional() }), oneOf(['exact', 'prefix', 'regex']));

export const portSelector = obj({ number: port });

/** A cross-resource reference by kind and name (Gateway API style targetRef). */
export const targetRef = obj({ group: str.optional(), kind: str, name: str, namespace: str.optional() });
