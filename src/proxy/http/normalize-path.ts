// Istio's meshConfig.pathNormalization, applied once per request so that authorization, routing and
// forwarding all see the same path. Order (Istio best practices): decode %2F/%5C, RFC 3986 + backslash, merge slashes.

export type PathNormalizationMode = 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';

export type NormalizedPath =
  | { readonly ok: true; readonly path: string; readonly query: string }
  | { readonly ok: false; readonly status: 400; readonly code: 'PATH_NUL' | 'PATH_INVALID'; readonly details: string };

export type PathNormalizer = (target: string) => NormalizedPath;

/** Accepts Istio's names, including `DEFAULT` (= BASE) and an absent setting. */
export function parsePathNormalizationMode(value: string | undefined): PathNormalizationMode {
  switch (value) {
    case undefined:
    case '':
    case 'DEFAULT':
    case 'BASE':
      return 'BASE';
    case 'NONE':
    case 'MERGE_SLASHES':
    case 'DECODE_AND_MERGE_SLASHES':
      return value;
    default:
      throw Object.assign(new Error(`unknown pathNormalization ${value}`), { code: 'PATH_NORMALIZATION_MODE' });
  }
}

const NUL = /%00/;
const HEX = '0123456789abcdefABCDEF';

/** RFC 3986 unreserved characters: the only ones BASE decodes (one round, never twice). */
function isUnreserved(code: number): boolean {
  return (
    (code >= 0x30 && code <= 0x39) ||
    (code >= 0x41 && code <= 0x5a) ||
    (code >= 0x61 && code <= 0x7a) ||
    code === 0x2d ||
    code === 0x2e ||
    code === 0x5f ||
    code === 0x7e
  );
}

function decodeSelected(path: string, pick: (code: number) => boolean): string {
  if (!path.includes('%')) return path;
  let out = '';
  let i = 0;
  while (i < path.length) {
    const ch = path[i]!;
    if (ch === '%' && i + 2 < path.length && HEX.includes(path[i + 1] ?? 'x') && HEX.includes(path[i + 2] ?? 'x')) {
      const code = Number.parseInt(path.slice(i + 1, i + 3), 16);
      if (pick(code)) {
        out += String.fromCharCode(code);
        i += 3;
        continue;
      }
    }
    out += ch;
    i += 1;
  }
  return out;
}

const isSlashEscape = (code: number): boolean => code === 0x2f || code === 0x5c;

/** RFC 3986 §5.2.4 remove_dot_segments. */
export function removeDotSegments(input: string): string {
  const out: string[] = [];
  // Segments after the leading '/', keeping empty ones (they matter unless slashes are merged).
  const segments = input.split('/').slice(1);
  for (let i = 0; i < segments.length; i++) {
    const seg = segments[i]!;
    const last = i === segments.length - 1;
    if (seg === '.') {
      if (last) out.push('');
    } else if (seg === '..') {
      out.pop();
      if (last) out.push('');
    } else {
      out.push(seg);
    }
  }
  return `/${out.join('/')}`;
}

/** Compiles the mode once; the returned function splits off the query, strips the fragment and normalises. */
const compiled = new Map<PathNormalizationMode, PathNormalizer>();

/** One normaliser per mode, shared: chains with the same mode hold the same function (identity compares modes). */
export function compilePathNormalizer(mode: PathNormalizationMode): PathNormalizer {
  let n = compiled.get(mode);
  if (!n) {
    n = buildPathNormalizer(mode);
    compiled.set(mode, n);
  }
  return n;
}

function buildPathNormalizer(mode: PathNormalizationMode): PathNormalizer {
  const rfc = mode !== 'NONE';
  const merge = mode === 'MERGE_SLASHES' || mode === 'DECODE_AND_MERGE_SLASHES';
  const decodeSlashes = mode === 'DECODE_AND_MERGE_SLASHES';
  return (target) => {
    const hash = target.indexOf('#');
    const noFragment = hash === -1 ? target : target.slice(0, hash);
    const q = noFragment.indexOf('?');
    let path = q === -1 ? noFragment : noFragment.slice(0, q);
    const query = q === -1 ? '' : noFragment.slice(q + 1);
    if (NUL.test(path) || path.includes('\0')) {
      return { ok: false, status: 400, code: 'PATH_NUL', details: 'path_contains_nul' };
    }
    if (path === '*' || !rfc) {
      if (path !== '*' && !path.startsWith('/')) {
        return { ok: false, status: 400, code: 'PATH_INVALID', details: 'path_not_absolute' };
      }
      return { ok: true, path, query };
    }
    if (!path.startsWith('/') && !path.startsWith('\\')) {
      return { ok: false, status: 400, code: 'PATH_INVALID', details: 'path_not_absolute' };
    }
    // Most paths hold no escape, backslash or dot segment: for them the steps below are the identity.
    if (path.includes('%') || path.includes('\\') || path.includes('/.')) {
      if (decodeSlashes) path = decodeSelected(path, isSlashEscape);
      path = decodeSelected(path, isUnreserved).replaceAll('\\', '/');
      path = removeDotSegments(path);
    }
    if (merge) path = path.replace(/\/{2,}/g, '/');
    return { ok: true, path, query };
  };
}
