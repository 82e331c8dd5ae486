// ProxyConfig.proxyStatsMatcher where it is written: the mesh's defaultConfig (a field like any other)
// and a pod template's annotations, whose values are text (`proxy.istio.io/config` holds ProxyConfig
// YAML, `sidecar.istio.io/statsInclusion*` comma-separated lists). An error inside an annotation's
// text points into it: its issue carries the range in the text (`params.inner`), which
// issueDiagnostics turns into the file's line and column.
import { RE2JS } from 're2js';
import { type Document, parseDocument } from 'yaml';
import * as z from 'zod';
import { PROXY_CONFIG_ANNOTATION, statsInclusionAnnotations } from '../../model/proxy-stats-matcher.ts';
import { formatPath } from '../diagnostic-build.ts';
import { findNode } from '../span.ts';
import { issueCode, obj, strMap } from './common.ts';

/** Istio's bootstrap raises Envoy's `re2.max_program_size.error_level` to this, so the stats matcher's regexes may be this big. */
const ISTIO_RE2_MAX_PROGRAM_SIZE = 32768;

/** Why a stats matcher pattern would not load in Envoy's bootstrap, or undefined. */
function patternProblem(pattern: string, regexp: boolean): { code: string; message: string } | undefined {
  // Envoy's StringMatcher refuses an empty prefix, suffix or regex.
  if (pattern === '') return { code: 'OR1024', message: 'an empty pattern: Envoy refuses it and the proxy would not start; remove it' };
  if (!regexp) return undefined;
  try {
    const size = RE2JS.compile(pattern).programSize();
    if (size > ISTIO_RE2_MAX_PROGRAM_SIZE) return { code: 'OR1026', message: `regex program size ${size} exceeds ${ISTIO_RE2_MAX_PROGRAM_SIZE}, the limit Istio's bootstrap sets; simplify it` };
  } catch (err) {
    return { code: 'OR1026', message: `"${pattern}" is not an RE2 regex: ${err instanceof Error ? err.message : String(err)}` };
  }
  return undefined;
}

const pattern = (regexp: boolean) =>
  z.string().superRefine((p, ctx) => {
    const problem = patternProblem(p, regexp);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.message, ...issueCode(problem.code) });
  });

export const proxyStatsMatcher = obj({
  inclusionPrefixes: z.array(pattern(false)).optional(),
  inclusionSuffixes: z.array(pattern(false)).optional(),
  inclusionRegexps: z.array(pattern(true)).optional(),
});

/** Where in an annotation's text an issue is: offsets into the value, and the field inside it. */
export interface InnerPlace {
  start: number;
  end: number;
  field: string;
}

type Add = (code: string, message: string, inner: InnerPlace, fix?: string) => void;

/** A pod template's annotations: strings, and the stats matcher ones checked inside. */
export const podAnnotations = strMap.superRefine((annotations, ctx) => {
  for (const [key, text] of Object.entries(annotations)) {
    const add: Add = (code, message, inner, fix) => ctx.addIssue({ code: 'custom', path: [key], message, params: { code, inner, ...(fix ? { fix } : {}) } });
    if (key === PROXY_CONFIG_ANNOTATION) checkProxyConfig(text, add);
    for (const [field, name] of Object.entries(statsInclusionAnnotations)) if (key === name) checkList(text, field === 'inclusionRegexps', add);
  }
});

/** `a,b,c` as Istio splits it (no trimming); each entry checked where it stands. */
function checkList(text: string, regexp: boolean, add: Add): void {
  if (text === '') return;
  let start = 0;
  text.split(',').forEach((entry, i) => {
    const problem = patternProblem(entry, regexp);
    const fix = entry === '' ? 'remove the doubled or trailing comma' : 'write the regex in RE2 syntax, e.g. .*outlier_detection.*';
    if (problem) add(problem.code, `entry ${i}: ${problem.message}`, { start, end: start + entry.length, field: '' }, fix);
    start += entry.length + 1;
  });
}

function checkProxyConfig(text: string, add: Add): void {
  const doc = parseDocument(text, { version: '1.1', uniqueKeys: true, prettyErrors: false });
  const first = doc.errors[0];
  if (first) {
    add('OR1001', `${PROXY_CONFIG_ANNOTATION} is not YAML: ${first.message.split('\n', 1)[0]}`, { start: first.pos[0], end: first.pos[1], field: '' }, 'write the annotation as ProxyConfig YAML or JSON');
    return;
  }
  const value: unknown = doc.toJS();
  if (value === null || value === undefined) return;
  if (typeof value !== 'object' || Array.isArray(value)) {
    add('OR1021', `${PROXY_CONFIG_ANNOTATION} must be a ProxyConfig mapping, not ${Array.isArray(value) ? 'a list' : typeof value}`, { start: 0, end: text.length, field: '' });
    return;
  }
  const m = (value as Record<string, unknown>)['proxyStatsMatcher'];
  if (m === undefined) return;
  const parsed = proxyStatsMatcher.safeParse(m);
  if (parsed.success) return;
  for (const issue of parsed.error.issues) {
    const path = ['proxyStatsMatcher', ...(issue.path as (string | number)[])];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) add('OR1020', `unknown field "${k}"`, innerPlace(doc, [...path, k], true, text), 'known fields: inclusionPrefixes, inclusionSuffixes, inclusionRegexps');
      continue;
    }
    const params = ('params' in issue ? (issue.params ?? {}) : {}) as { code?: string };
    const code = params.code ?? (issue.code === 'invalid_type' ? 'OR1021' : 'OR1024');
    add(code, issue.code === 'invalid_type' ? `expected ${issue.expected}` : issue.message, innerPlace(doc, path, false, text));
  }
}

/** The range in the annotation's text of the node at `path` (its key for `key`), the whole text if not found. */
function innerPlace(doc: Document, path: (string | number)[], key: boolean, text: string): InnerPlace {
  const found = findNode(doc, path);
  const node = key ? (found?.key ?? found?.value) : (found?.value ?? found?.key);
  const r = node?.range;
  return { start: r?.[0] ?? 0, end: r?.[1] ?? text.length, field: formatPath(path) };
}
