// One parsed YAML document → a typed resource (when valid) and every diagnostic about it.
import type { Diagnostic } from './diagnostic.ts';
import { diagnostic, formatPath } from './diagnostic-build.ts';
import { closest } from './did-you-mean.ts';
import { issueDiagnostics } from './issue-diagnostics.ts';
import {
  apiVersionsOf,
  clusterScopedUnimplemented,
  foreignGroup,
  foreignKinds,
  type KindDef,
  kindDef,
  kinds,
  splitApiVersion,
  type UnimplementedKind,
  unimplementedKind,
  unimplementedKinds,
  usedForeignKinds,
} from './kinds.ts';
import type { ParsedDocument } from './parse-yaml.ts';
import { type AnyResource, type ResourceOrigin, resourceKey } from './resource.ts';
import * as z from 'zod';
import { objectMeta } from './schema/metadata.ts';
import { buildSpec } from './spec.ts';

export interface ValidateResult {
  resource?: AnyResource;
  diagnostics: Diagnostic[];
}

type Raw = Record<string, unknown>;

function isRecord(v: unknown): v is Raw {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function strings(v: unknown): Record<string, string> {
  return isRecord(v) ? (v as Record<string, string>) : {};
}

/** `Kind ns/name` from raw data, for diagnostics about a resource that may not be valid. */
function rawKey(raw: Raw, namespaced: boolean): string | undefined {
  const meta = raw['metadata'];
  const kind = raw['kind'];
  if (!isRecord(meta) || typeof meta['name'] !== 'string' || typeof kind !== 'string') return undefined;
  const ns = namespaced ? (typeof meta['namespace'] === 'string' ? meta['namespace'] : 'default') : '';
  return resourceKey({ kind, metadata: { name: meta['name'], namespace: ns } });
}

const allKinds = [...kinds.map((k) => k.kind), ...foreignKinds.flatMap((f) => f.kinds), ...unimplementedKinds.flatMap((u) => u.kinds)];

export function validateDocument(doc: ParsedDocument): ValidateResult {
  const raw = doc.value;
  const at = (path: (string | number)[]) => doc.valueSpan(path) ?? doc.nearestSpan(path, true) ?? doc.span;
  if (!isRecord(raw)) {
    return { diagnostics: [diagnostic('OR1008', `a document must be a mapping with apiVersion and kind, not ${Array.isArray(raw) ? 'a list' : typeof raw}`, { span: doc.span })] };
  }
  const diagnostics: Diagnostic[] = [];
  for (const field of ['apiVersion', 'kind']) {
    const v = raw[field];
    if (typeof v !== 'string' || v === '') {
      const msg = v === undefined ? `missing ${field}` : `${field} must be a non-empty string`;
      diagnostics.push(diagnostic('OR1010', msg, { span: v === undefined ? doc.span : at([field]), field }));
    }
  }
  if (diagnostics.length) return { diagnostics };
  const apiVersion = raw['apiVersion'] as string;
  const kind = raw['kind'] as string;
  const [group, version] = splitApiVersion(apiVersion);
  // Before the kinds Outrigger runs: a kind of one group is not taken for the same kind of another.
  const unimplemented = unimplementedKind(group, kind);
  if (unimplemented) return unimplementedResource(doc, raw, apiVersion, kind, unimplemented);
  const def = kindDef(kind, group);
  if (!def) {
    const foreign = foreignGroup(group);
    if (foreign) return foreignResource(doc, raw, apiVersion, kind, usedForeignKinds.has(kind));
    const home = foreignKinds.find((f) => f.kinds.includes(kind));
    if (home) {
      return {
        diagnostics: [diagnostic('OR1012', `${kind} belongs to ${home.group}, not ${apiVersion}`, { span: at(['apiVersion']), field: 'apiVersion', fix: `use apiVersion: ${home.group}/<version>` })],
      };
    }
    const guess = closest(kind, allKinds);
    return {
      diagnostics: [
        diagnostic('OR1011', `unknown kind "${kind}" (${apiVersion})`, { span: at(['kind']), field: 'kind', fix: guess ? `did you mean "${guess}"?` : undefined }),
      ],
    };
  }
  if (def.group !== group || !def.versions.includes(version)) {
    const accepted = apiVersionsOf(def);
    return {
      diagnostics: [
        diagnostic('OR1012', `${kind} is not served as ${apiVersion}; accepted: ${accepted.join(', ')}`, {
          span: at(['apiVersion']),
          field: 'apiVersion',
          fix: `use apiVersion: ${accepted[accepted.length - 1]}`,
        }),
      ],
    };
  }
  return typedResource(doc, raw, def);
}

function origin(doc: ParsedDocument): ResourceOrigin {
  return { span: doc.span, documentIndex: doc.index, lookup: (path) => doc.valueSpan(path) };
}

function typedResource(doc: ParsedDocument, raw: Raw, def: KindDef): ValidateResult {
  const resource = rawKey(raw, def.namespaced);
  const diagnostics: Diagnostic[] = [];
  const parsed = def.schema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) diagnostics.push(...issueDiagnostics(issue, raw, { doc, schema: def.schema, resource }));
  }
  if (!def.namespaced && isRecord(raw['metadata']) && raw['metadata']['namespace'] !== undefined) {
    diagnostics.push(diagnostic('OR1024', `${def.kind} is cluster-scoped; metadata.namespace is ignored`, { span: doc.keySpan(['metadata', 'namespace']), resource, field: 'metadata.namespace' }));
  }
  const spec = buildSpec(def.kind, raw, (path, message) => {
    diagnostics.push(diagnostic('OR1032', message, { span: doc.valueSpan(path) ?? doc.span, resource, field: formatPath(path) }));
  });
  if (def.kind === 'EnvoyFilter') {
    diagnostics.push(diagnostic('OR1040', 'EnvoyFilter is not supported: Outrigger does not patch proxy internals; this resource has no effect', { span: doc.keySpan(['kind']), resource }));
  }
  if (diagnostics.some((d) => d.severity === 'error')) return { diagnostics };
  const meta = raw['metadata'] as Raw;
  const built = {
    apiVersion: raw['apiVersion'] as string,
    kind: def.typedKind ?? def.kind,
    metadata: {
      name: meta['name'] as string,
      namespace: def.namespaced ? ((meta['namespace'] as string | undefined) ?? 'default') : '',
      labels: strings(meta['labels']),
      annotations: strings(meta['annotations']),
      resourceVersion: '0',
      ...(typeof meta['creationTimestamp'] === 'string' ? { creationTimestamp: meta['creationTimestamp'] } : {}),
    },
    spec,
    origin: origin(doc),
  };
  const labels = built.metadata.labels;
  if (def.kind === 'ConfigMap' && (labels['grafana_dashboard'] !== undefined || labels['grafana-dashboard'] !== undefined)) {
    diagnostics.push(diagnostic('OR1041', 'Grafana dashboard: not run locally (the Outrigger dashboard shows the same metrics)', { span: doc.keySpan(['kind']), resource }));
  }
  return { resource: built as AnyResource, diagnostics };
}

/** Other systems' kinds: only metadata is checked; the rest belongs to their own schemas. */
const foreignDoc = z.looseObject({ metadata: objectMeta(false) });

/**
 * A kind Outrigger does not implement: said (OR1043 or OR1044), its metadata checked, and left out of the
 * resources, where the Gateway API's Gateway would pass for Istio's.
 */
function unimplementedResource(doc: ParsedDocument, raw: Raw, apiVersion: string, kind: string, u: UnimplementedKind): ValidateResult {
  const resource = rawKey(raw, !clusterScopedUnimplemented.has(kind));
  const parsed = foreignDoc.safeParse(raw);
  if (!parsed.success) return { diagnostics: parsed.error.issues.flatMap((issue) => issueDiagnostics(issue, raw, { doc, schema: foreignDoc, resource })) };
  const message = u.severity === 'warning' ? `${kind} (${apiVersion}) has no effect here: ${u.why}` : `${kind} (${apiVersion}) is not run locally: ${u.why}`;
  const said = diagnostic(u.severity === 'warning' ? 'OR1043' : 'OR1044', message, { span: doc.keySpan(['kind']), resource });
  // Not started, but kept as an untyped resource: `analyze` counts Pods as workloads, as Istio's analyzers do.
  if (kind === 'Pod') return { ...foreignResource(doc, raw, apiVersion, kind, true), diagnostics: [said] };
  return { diagnostics: [said] };
}

/** Another system's kind, kept (OR1041 "not run locally" unless Outrigger `used` it). */
function foreignResource(doc: ParsedDocument, raw: Raw, apiVersion: string, kind: string, used: boolean): ValidateResult {
  const resource = rawKey(raw, true);
  const diagnostics: Diagnostic[] = [];
  const parsed = foreignDoc.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) diagnostics.push(...issueDiagnostics(issue, raw, { doc, schema: foreignDoc, resource }));
    return { diagnostics };
  }
  if (!used) diagnostics.push(diagnostic('OR1041', `${kind} (${apiVersion}): not run locally`, { span: doc.keySpan(['kind']), resource }));
  const meta = raw['metadata'] as Raw;
  const r = {
    apiVersion,
    kind,
    metadata: {
      name: meta['name'] as string,
      namespace: (meta['namespace'] as string | undefined) ?? 'default',
      labels: strings(meta['labels']),
      annotations: strings(meta['annotations']),
      resourceVersion: '0',
    },
    spec: isRecord(raw['spec']) ? raw['spec'] : {},
    origin: origin(doc),
    foreign: true as const,
  };
  return { resource: r, diagnostics };
}
