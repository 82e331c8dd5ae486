// Entry points of the input edge: text or paths in, typed resources and diagnostics out.
// PROVISIONAL: a minimal loader with no validation, so other stages can be built and tested from
// YAML strings while the real parser and validators are written. Keep these signatures.
import { parseAllDocuments } from 'yaml';
import type { Diagnostic } from './diagnostic.ts';
import type { AnyResource } from './resource.ts';

export interface LoadResult {
  resources: AnyResource[];
  diagnostics: Diagnostic[];
}

/** Parses and validates every document of one YAML text. Never throws on bad input. */
export function loadText(text: string, file = '<input>'): LoadResult {
  const resources: AnyResource[] = [];
  for (const doc of parseAllDocuments(text)) {
    const obj = doc.toJS() as Record<string, unknown> | null;
    if (!obj || typeof obj !== 'object') continue;
    const meta = (obj['metadata'] ?? {}) as Record<string, unknown>;
    const kind = String(obj['kind']);
    const spec =
      kind === 'Secret' || kind === 'ConfigMap' ? { data: obj['data'] ?? {} } : (obj['spec'] ?? {});
    resources.push({
      apiVersion: String(obj['apiVersion']),
      kind,
      metadata: {
        name: String(meta['name'] ?? ''),
        namespace: kind === 'Namespace' ? '' : String(meta['namespace'] ?? 'default'),
        labels: (meta['labels'] ?? {}) as Record<string, string>,
        annotations: (meta['annotations'] ?? {}) as Record<string, string>,
      },
      spec,
    } as AnyResource);
  }
  void file;
  return { resources, diagnostics: [] };
}
