// Turns zod issues into located diagnostics: the right OR1xxx code, a message a person can act on,
// the field path, its span, and a "did you mean" hint where one is cheap.
import type * as z from 'zod';
import type { Diagnostic } from './diagnostic.ts';
import { diagnostic, formatPath } from './diagnostic-build.ts';
import { closest } from './did-you-mean.ts';
import type { ParsedDocument } from './parse-yaml.ts';
import type { InnerPlace } from './schema/proxy-stats-matcher.ts';
import { fieldsAt } from './schema/walk.ts';

type Issue = z.core.$ZodIssue;

export interface IssueContext {
  doc: ParsedDocument;
  schema: z.ZodType;
  resource: string | undefined;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return `string "${value.length > 40 ? `${value.slice(0, 40)}…` : value}"`;
  return `${typeof value} ${String(value)}`;
}

const yaml11Words = /^(y|Y|yes|Yes|YES|n|N|no|No|NO|on|On|ON|off|Off|OFF|true|True|TRUE|false|False|FALSE)$/;

function typeHint(expected: string, value: unknown): string | undefined {
  if (expected === 'string' && (typeof value === 'boolean' || typeof value === 'number')) {
    return typeof value === 'boolean'
      ? 'quote the value: YAML reads unquoted yes/no/on/off/true/false as booleans (as kubectl does)'
      : 'quote the value to make it a string';
  }
  if (expected === 'number' && typeof value === 'string' && /^\d+(\.\d+)?$/.test(value)) return 'remove the quotes to make it a number';
  if (expected === 'boolean' && typeof value === 'string' && yaml11Words.test(value)) return 'remove the quotes to make it a boolean';
  return undefined;
}

function sizeMessage(issue: Issue & { code: 'too_small' | 'too_big' }, value: unknown): string {
  if (issue.message && !issue.message.startsWith('Too ')) return issue.message;
  const bound = issue.code === 'too_small' ? (issue as { minimum: unknown }).minimum : (issue as { maximum: unknown }).maximum;
  const op = issue.code === 'too_small' ? (issue.inclusive ? '>=' : '>') : issue.inclusive ? '<=' : '<';
  if (issue.origin === 'array') return `needs ${issue.code === 'too_small' ? 'at least' : 'at most'} ${String(bound)} item(s)`;
  if (issue.origin === 'string') return `length must be ${op} ${String(bound)}`;
  return `${describe(value)} must be ${op} ${String(bound)}`;
}

/**
 * A problem inside an annotation's text (`proxy.istio.io/config`): placed where it stands in the file,
 * when the text can be mapped back to it, else on the annotation's value; its field goes on inside the text.
 */
function innerDiagnostic(code: string, message: string, path: readonly PropertyKey[], inner: InnerPlace, ctx: IssueContext, fix: string | undefined): Diagnostic {
  const p = path as (string | number)[];
  const span = ctx.doc.embeddedSpan(p, inner.start, inner.end) ?? ctx.doc.valueSpan(p) ?? ctx.doc.nearestSpan(p, true) ?? ctx.doc.span;
  const key = JSON.stringify(String(path[path.length - 1]));
  const field = `${formatPath(path.slice(0, -1))}[${key}]${inner.field ? `.${inner.field}` : ''}`;
  return diagnostic(code, message, { span, resource: ctx.resource, field, fix });
}

export function issueDiagnostics(issue: Issue, root: unknown, ctx: IssueContext): Diagnostic[] {
  const path = issue.path as PropertyKey[];
  const place = (code: string, message: string, at: readonly PropertyKey[], opts: { key?: boolean; fix?: string | undefined } = {}): Diagnostic => {
    const p = at as (string | number)[];
    // A mapping or list is pointed at by its key: its value span would start on the next line.
    const compound = typeof valueAt(root, at) === 'object';
    const span = (opts.key || compound ? ctx.doc.keySpan(p) : ctx.doc.valueSpan(p)) ?? ctx.doc.nearestSpan(p, true) ?? ctx.doc.span;
    return diagnostic(code, message, { span, resource: ctx.resource, field: formatPath(at), fix: opts.fix });
  };
  const value = valueAt(root, path);
  switch (issue.code) {
    case 'unrecognized_keys': {
      const known = fieldsAt(ctx.schema, path);
      return issue.keys.map((key) => {
        const guess = closest(key, known);
        const fix = guess ? `did you mean "${guess}"?` : known.length ? `known fields: ${known.join(', ')}` : undefined;
        return place('OR1020', `unknown field "${key}"`, [...path, key], { key: true, fix });
      });
    }
    case 'invalid_type': {
      if (value === undefined) {
        const name = String(path[path.length - 1] ?? '');
        return [place('OR1022', `missing required field "${name}"`, path)];
      }
      return [place('OR1021', `expected ${issue.expected}, got ${describe(value)}`, path, { fix: typeHint(issue.expected, value) })];
    }
    case 'invalid_union': {
      if (value === undefined) return [place('OR1022', `missing required field "${String(path[path.length - 1] ?? '')}"`, path)];
      const expected = new Set(issue.errors.flat().flatMap((e) => (e.code === 'invalid_type' ? [e.expected] : [])));
      if (expected.size > 0) return [place('OR1021', `expected ${[...expected].join(' or ')}, got ${describe(value)}`, path)];
      return issue.errors.flat().flatMap((e) => issueDiagnostics({ ...e, path: [...path, ...e.path] } as Issue, root, ctx));
    }
    case 'invalid_value': {
      const allowed = issue.values.map(String);
      const guess = typeof value === 'string' ? closest(value, allowed) : undefined;
      const fix = guess ? `did you mean "${guess}"?` : `use one of ${allowed.join(', ')}`;
      return [place('OR1023', `${describe(value)} is not one of ${allowed.join(', ')}`, path, { fix })];
    }
    case 'too_small':
    case 'too_big':
      return [place('OR1024', sizeMessage(issue, value), path)];
    case 'custom': {
      const params = (issue.params ?? {}) as { code?: string; values?: string[]; key?: boolean; inner?: InnerPlace; fix?: string };
      const code = params.code ?? 'OR1024';
      if (params.inner) return [innerDiagnostic(code, issue.message, path, params.inner, ctx, params.fix)];
      let fix: string | undefined;
      if (code === 'OR1023' && params.values && typeof value === 'string') {
        const guess = closest(value, params.values);
        if (guess) fix = `did you mean "${guess}"?`;
      }
      if (params.key || code === 'OR1029') return [place(code, issue.message, path, { key: true, fix })];
      return [place(code, issue.message, path, { fix })];
    }
    default:
      return [place('OR1024', issue.message, path)];
  }
}
