// One YAML text → typed resources and diagnostics; and the merge of several such results.
import type { Diagnostic } from './diagnostic.ts';
import { diagnostic } from './diagnostic-build.ts';
import { parseYaml } from './parse-yaml.ts';
import { type AnyResource, resourceKey } from './resource.ts';
import { validateDocument } from './validate.ts';


export interface LoadResult {
  resources: AnyResource[];
  diagnostics: Diagnostic[];
}

/** Parses and validates every document of one YAML text. Never throws on bad input. */
export function loadText(text: string, file = '<input>'): LoadResult {
  const resources: AnyResource[] = [];
  const diagnostics: Diagnostic[] = [];
  const parsed = parseYaml(text, file);
  diagnostics.push(...parsed.diagnostics);
  for (const doc of parsed.documents) {
    const r = validateDocument(doc);
    diagnostics.push(...r.diagnostics);
    if (r.resource) resources.push(r.resource);
  }
  return mergeResults([{ resources, diagnostics }]);
}

/** Merges per-file results; a later definition of the same kind/namespace/name wins, with a warning. */
export function mergeResults(results: readonly LoadResult[]): LoadResult {
  const byKey = new Map<string, AnyResource>();
  const diagnostics: Diagnostic[] = [];
  for (const r of results) {
    diagnostics.push(...r.diagnostics);
    for (const res of r.resources) {
      const key = `${res.apiVersion.split('/')[0]}|${resourceKey(res)}`;
      const earlier = byKey.get(key);
      if (earlier) {
        const where = earlier.origin ? `${earlier.origin.span.file}:${earlier.origin.span.start.line}` : 'elsewhere';
        diagnostics.push(diagnostic('OR1014', `${resourceKey(res)} is also defined at ${where}; this definition wins`, { span: res.origin?.span, resource: resourceKey(res) }));
        byKey.delete(key);
      }
      byKey.set(key, res);
    }
  }
  return { resources: [...byKey.values()], diagnostics };
}
