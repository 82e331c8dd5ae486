// RE2 regexes as Envoy runs them: compiled once through re2js, refused above a program-size limit
// (Envoy's `re2.max_program_size.error_level`) so one rule cannot make matching slow.
import { RE2JS } from 're2js';
import type { EnvoyRegexMatcher } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';

/** What Istio's bootstrap sets `re2.max_program_size.error_level` to (Envoy's own default is 100). */
export const DEFAULT_MAX_PROGRAM_SIZE = 32768;

export interface RegexOptions {
  maxProgramSize?: number;
}

/** Compiles an RE2 pattern; throws a RouteConfigError naming `path` when invalid or too large. */
export function compileRegex(pattern: string | undefined, path: string, options: RegexOptions = {}): RE2JS {
  if (pattern === undefined || pattern === '') throw new RouteConfigError(path, 'regex must not be empty');
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    throw new RouteConfigError(path, `invalid RE2 regex ${JSON.stringify(pattern)}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const limit = options.maxProgramSize ?? DEFAULT_MAX_PROGRAM_SIZE;
  const size = re.programSize();
  if (size > limit) {
    throw new RouteConfigError(path, `regex ${JSON.stringify(pattern)} has program size ${size}, over the limit of ${limit}`);
  }
  return re;
}

/** Compiles an Envoy RegexMatcher (`{ regex }`). */
export function compileRegexMatcher(m: EnvoyRegexMatcher | undefined, path: string, options?: RegexOptions): RE2JS {
  return compileRegex(m?.regex, `${path}.regex`, options);
}

/**
 * Turns an Envoy/RE2 substitution (`\1` for groups) into re2js's JS replacement syntax (`$1`), once,
 * at compile time: a literal `$` is doubled so it is not read as a group.
 */
export function compileSubstitution(substitution: string): string {
  let out = '';
  for (let i = 0; i < substitution.length; i++) {
    const c = substitution[i];
    if (c === '$') out += '$$';
    else if (c === '\\' && i + 1 < substitution.length) {
      const next = substitution[i + 1] as string;
      if (next >= '0' && next <= '9') out += `$${next}`;
      else out += next;
      i++;
    } else out += c;
  }
  return out;
}

/** Replaces every match of `re` in `input` (RE2::GlobalReplace). */
export function replaceAll(re: RE2JS, input: string, jsReplacement: string): string {
  return re.matcher(input).replaceAll(jsReplacement);
}
