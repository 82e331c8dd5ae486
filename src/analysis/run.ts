// Runs every cross-resource analyzer over a set of valid resources.
// PROVISIONAL body: the analysis owner replaces it; keep the signature.
import type { Diagnostic } from '../config/diagnostic.ts';
import type { AnyResource } from '../config/resource.ts';

export interface AnalyzeOptions {
  /** Namespaces to report on; all when absent. Resources elsewhere are still used as context. */
  namespaces?: readonly string[];
}

export function runAnalyzers(resources: readonly AnyResource[], options: AnalyzeOptions = {}): Diagnostic[] {
  void resources;
  void options;
  return [];
}
