// Istio's validation of AuthorizationPolicy path templates (`{*}` one segment, `{**}` any segments):
// a path with a template may hold only those operators and RFC 3986 pchar literals between slashes,
// and nothing but literals may follow `{**}` (pkg/config/security CheckValidPathTemplate).

const MATCH_ONE = '{*}';
const MATCH_ANY = '{**}';
/** pchar without `*` and `/`: unreserved, pct-encoded, sub-delims but `*`, `:`, `@`, `=`. */
const LITERAL = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;

export function containsPathTemplate(path: string): boolean {
  return path.includes(MATCH_ONE) || path.includes(MATCH_ANY);
}

/** Why a path is not a valid Istio path (template), or null when it is. */
export function pathTemplateProblem(path: string): string | null {
  const template = containsPathTemplate(path);
  let sawAny = false;
  for (const glob of path.replace(/^\/+|\/+$/g, '').split('/')) {
    if (glob === MATCH_ONE || glob === MATCH_ANY) {
      if (sawAny) return `${MATCH_ANY} must be the last operator of the template, found ${glob} after it`;
      sawAny = glob === MATCH_ANY;
      continue;
    }
    if (/[{}]/.test(glob)) return `segment "${glob}" holds { or } outside a {*} or {**} operator (named variables are not supported)`;
    if (template && !LITERAL.test(glob)) return `segment "${glob}" is not a valid literal in a path template (empty, or a character outside RFC 3986 pchar such as * ? /)`;
  }
  return null;
}
