// Runs every cross-resource analyzer over a set of valid resources and turns their findings into
// diagnostics located at the offending field (file:line:col when the resource has an origin).
import type { Diagnostic } from '../config/diagnostic.ts';
import { type AnyResource, resourceKey } from '../config/resource.ts';
import type { SourceSpan } from '../config/source.ts';
import { type FieldPath, type Finding, formatPath } from './analyzer.ts';
import { catalogueEntry } from './catalogue.ts';
import { AnalysisContext } from './context.ts';
import { analyzers } from './registry.ts';

export interface AnalyzeOptions {
  /** Namespaces to report on; all when absent. Resources elsewhere are still used as context. */
  namespaces?: readonly string[];
}

/** The span of the field, or of its nearest ancestor that exists (an absent selector points at `spec`). */
function spanOf(resource: AnyResource, path: FieldPath): SourceSpan | undefined {
  const origin = resource.origin;
  if (!origin) return undefined;
  for (let n = path.length; n > 0; n--) {
    const span = origin.lookup(path.slice(0, n));
    if (span) return span;
  }
  return origin.span;
}

function toDiagnostic(f: Finding): Diagnostic {
  const entry = catalogueEntry(f.code);
  const span = spanOf(f.resource, f.path);
  return {
    code: f.code,
    severity: entry.severity,
    message: f.message,
    resource: resourceKey(f.resource),
    field: formatPath(f.path),
    fix: f.fix,
    ...(span ? { span } : {}),
  };
}

export function runAnalyzers(resources: readonly AnyResource[], options: AnalyzeOptions = {}): Diagnostic[] {
  const ctx = new AnalysisContext(resources);
  const only = options.namespaces ? new Set(options.namespaces) : undefined;
  const seen = new Set<string>();
  const out: Diagnostic[] = [];
  for (const analyzer of analyzers) {
    analyzer.analyze(ctx, (finding) => {
      const ns = finding.resource.metadata.namespace || finding.resource.metadata.name;
      if (only && !only.has(ns)) return;
      const d = toDiagnostic(finding);
      const key = `${d.code} ${d.resource} ${d.field}`;
      if (seen.has(key)) return;
      seen.add(key);
      out.push(d);
    });
  }
  return out;
}
