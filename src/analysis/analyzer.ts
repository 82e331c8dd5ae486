// The shape of one cross-resource analyzer and of what it reports: a code, the resource, the field
// path inside it, a message and a fix. run.ts turns findings into located diagnostics.
import type { AnyResource } from '../config/resource.ts';
import type { AnalysisContext } from './context.ts';

export type FieldPath = readonly (string | number)[];

export interface Finding {
  code: string;
  resource: AnyResource;
  path: FieldPath;
  message: string;
  fix: string;
}

export type Report = (finding: Finding) => void;

export interface Analyzer {
  /** Istio's analyzer name where one exists (`virtualservice.DestinationHostAnalyzer`), else `outrigger.*`. */
  name: string;
  /** Every code this analyzer can report. */
  codes: readonly string[];
  analyze(ctx: AnalysisContext, report: Report): void;
}

/** `['spec','http',0,'route']` → `spec.http[0].route`. */
export function formatPath(path: FieldPath): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : out ? `.${part}` : part;
  return out;
}
