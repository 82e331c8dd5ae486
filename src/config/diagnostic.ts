// A diagnostic is data with a place: stable code, severity, resource, field path and span.
import type { SourceSpan } from './source.ts';

export type Severity = 'error' | 'warning' | 'info';

export interface Diagnostic {
  /** Stable code: `IST0101` for Istio's own messages, `OR1xxx` for parse/validate, `OR2xxx` for Outrigger-only analyzers. */
  code: string;
  severity: Severity;
  message: string;
  /** `Kind namespace/name` of the resource, when the problem belongs to one. */
  resource?: string;
  /** Dotted field path inside the resource (`spec.http[0].route[1].weight`). */
  field?: string;
  span?: SourceSpan;
  /** One line on how to fix it. */
  fix?: string;
}

/** The headline of one diagnostic: `file:line:col: error CODE Kind ns/name: field: message`. */
export function headline(d: Diagnostic): string {
  const where = d.span ? `${d.span.file}:${d.span.start.line}:${d.span.start.col}: ` : '';
  const what = [d.resource, d.field].filter(Boolean).join(': ');
  return `${where}${d.severity} ${d.code}${what ? ` ${what}` : ''}: ${d.message}`;
}
