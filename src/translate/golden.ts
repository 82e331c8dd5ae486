// Golden-file support for translation tests: a case folder (input.yaml + case.json) in, normalised
// xDS JSON per proxy out. Every resource is round-tripped through its Envoy proto on the way.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { loadPaths, loadText } from '../config/load.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import { buildSnapshot, type MeshSnapshot } from '../model/snapshot.ts';
import type { WorkloadInstance } from '../model/workload.ts';
import type { TypedAny } from '../xds/any.ts';
import { messageType, protoLoaderOptions } from '../xds/protos.ts';
import { buildProxyResources, type ProxyResources } from './proxy-resources.ts';

export interface GoldenCase {
  snapshot: MeshSnapshot;
  proxies: ProxyView[];
}

/** A case's config: its `input.yaml`, or the `inputs` paths (relative to the case) its case.json names. */
export function loadGoldenCase(dir: string): GoldenCase {
  const c = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as { workloads: WorkloadInstance[]; proxies: ProxyView[]; inputs?: string[] };
  const { resources, diagnostics } = c.inputs
    ? loadPaths(c.inputs.map((p) => path.join(dir, p)))
    : loadText(readFileSync(path.join(dir, 'input.yaml'), 'utf8'), 'input.yaml');
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`${dir}: invalid input: ${errors.map((d) => d.message).join('; ')}`);
  return { snapshot: buildSnapshot(resources, c.workloads, '1'), proxies: c.proxies };
}

/** Every resource every golden case under `fixturesDir` translates to, named by case, proxy and resource (codec tests run over all of them). */
export function goldenResources(fixturesDir: string): { where: string; typeUrl: string; resource: TypedAny }[] {
  const out: { where: string; typeUrl: string; resource: TypedAny }[] = [];
  for (const name of readdirSync(fixturesDir)) {
    const { snapshot, proxies } = loadGoldenCase(path.join(fixturesDir, name));
    for (const view of proxies) {
      for (const [typeUrl, named] of buildProxyResources(snapshot, view)) {
        for (const [resourceName, resource] of named) out.push({ where: `${name}, ${view.id}, ${resourceName}`, typeUrl, resource });
      }
    }
  }
  return out;
}

/** Proxy resources as sorted, canonical JSON: `{ typeUrl: { name: resource } }`. */
export function normalise(resources: ProxyResources): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const [typeUrl, byName] of [...resources].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const named: Record<string, unknown> = {};
    for (const [name, r] of [...byName].sort(([a], [b]) => (a < b ? -1 : 1))) named[name] = sortKeys(roundTrip(typeUrl, r));
    out[typeUrl] = named;
  }
  return out;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, sortKeys(o[k])]));
  }
  return v;
}

/**
 * A round trip through protobufjs's own codec (fromObject, verify, encode, decode, toObject): golden
 * files are its output, independent of Outrigger's encoder and decoder (docs/translation.md).
 */
export function roundTrip(typeUrl: string, resource: object): TypedAny {
  return { '@type': typeUrl, ...protobufjsDecode(typeUrl, protobufjsEncode(typeUrl, resource)) };
}

/** protobufjs's own encoding (fromObject, verify, encode); its `@type` key is ignored. The codecs are held to it. */
export function protobufjsEncode(typeUrl: string, resource: object): Uint8Array {
  const type = messageType(typeUrl);
  const message = type.fromObject(resource);
  const problem = type.verify(message);
  if (problem) throw new Error(`${typeUrl}: ${problem}`);
  return type.encode(message).finish();
}

/** protobufjs's own decoding, shown as `toObject` shows it with Outrigger's options. */
export function protobufjsDecode(typeUrl: string, bytes: Uint8Array): Record<string, unknown> {
  const type = messageType(typeUrl);
  return type.toObject(type.decode(bytes), protoLoaderOptions) as Record<string, unknown>;
}

/** Enum names that are their field's zero value: protobuf drops them, so they may vanish in a round trip. */
const zeroEnums = new Set(['STATIC', 'ROUND_ROBIN', 'MOVED_PERMANENTLY', 'HUNDRED', 'AUTO', 'V3', 'UNSPECIFIED', 'DEFAULT', 'APPEND_IF_EXISTS_OR_ADD', 'TLS_AUTO', 'NONE', 'ALL']);

/**
 * Paths of fields the translator emitted that did not survive the proto round trip: a misspelt
 * field is dropped silently by protobufjs, so this is how a typo fails a test.
 */
export function lostFields(original: unknown, canonical: unknown, at = ''): string[] {
  if (Array.isArray(original)) {
    if (!Array.isArray(canonical)) return [at];
    return original.flatMap((v, i) => lostFields(v, canonical[i], `${at}[${i}]`));
  }
  if (original && typeof original === 'object') {
    const c = (canonical ?? {}) as Record<string, unknown>;
    const out: string[] = [];
    for (const [k, v] of Object.entries(original)) {
      if (v === undefined) continue;
      if (!(k in c)) {
        if (isZero(v)) continue;
        out.push(`${at}.${k}`);
        continue;
      }
      out.push(...lostFields(v, c[k], `${at}.${k}`));
    }
    return out;
  }
  if (typeof original === 'number' && typeof canonical === 'string') return String(original) === canonical ? [] : [at];
  return original === canonical || canonical === undefined ? [] : [at];
}

function isZero(v: unknown): boolean {
  return v === 0 || v === false || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'string' && zeroEnums.has(v));
}
