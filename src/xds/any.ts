// xDS resources travel as protobuf `Any`. Inside Outrigger they are plain objects in Envoy's canonical
// JSON shape (snake_case fields, nested `Any` as `{ "@type": url, ...fields }`), the same shape an
// Envoy config_dump shows, so translator output, golden files and proxy input are one format.
import { XdsCodecError } from './codec-error.ts';
import { encodeJson } from './json-to-proto.ts';
import { decodeJson, setJsonKey } from './proto-to-json.ts';

/** A nested typed config, as it appears in Envoy JSON. */
export interface TypedAny {
  '@type': string;
  [field: string]: unknown;
}

/** Encoded `Any` as it crosses the wire. */
export interface WireAny {
  type_url: string;
  value: Uint8Array;
}

export { XdsCodecError };

/**
 * Encodes a resource into a wire `Any`. Enums by name or number, 64-bit integers as numbers or decimal
 * strings; an unknown field, enum name or `@type`, or a value of the wrong type, throws an
 * `XdsCodecError` that names its path (json-to-proto.ts).
 */
export function packAny(typeUrl: string, resource: object): WireAny {
  return { type_url: typeUrl, value: encodeJson(typeUrl, resource) };
}

/** Decodes a wire `Any` into Envoy JSON shape; nested `Any` fields come back as `TypedAny` (proto-to-json.ts). */
export function unpackAny(any: WireAny): TypedAny {
  return { '@type': any.type_url, ...decodeJson(any.type_url, any.value) };
}

/** A typed nested config, asserting its type URL. */
export function typedConfig<T>(value: unknown, typeUrl: string): T {
  if (typeof value !== 'object' || value === null || (value as TypedAny)['@type'] !== typeUrl) {
    const got = typeof value === 'object' && value !== null ? (value as TypedAny)['@type'] : typeof value;
    throw new XdsCodecError(`expected typed config ${typeUrl}, got ${String(got)}`);
  }
  return value as T;
}

/** Round-trips a resource through its protobuf encoding: proves the shape is valid Envoy config. */
export function canonicalize(typeUrl: string, resource: object): TypedAny {
  return unpackAny(packAny(typeUrl, resource));
}

/** A JSON value in protobuf `google.protobuf.Value` form; protobufjs bundles struct.proto with camelCase names. */
export type StructValue =
  | { nullValue: 0 }
  | { numberValue: number }
  | { stringValue: string }
  | { boolValue: boolean }
  | { structValue: { fields: Record<string, StructValue> } }
  | { listValue: { values: StructValue[] } };

/** JSON → `google.protobuf.Struct` (protobufjs has no JSON mapping for Struct). */
export function toStruct(json: Record<string, unknown>): { fields: Record<string, StructValue> } {
  const fields: Record<string, StructValue> = {};
  // Object.keys, not entries: this runs for every cluster's metadata, and entries allocates a pair per key.
  for (const k of Object.keys(json)) {
    const v = json[k];
    // A key named `__proto__` (a label, say) stays a key.
    if (v !== undefined) setJsonKey(fields, k, toStructValue(v));
  }
  return { fields };
}

function toStructValue(v: unknown): StructValue {
  if (v === null) return { nullValue: 0 };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(toStructValue) } };
  if (typeof v === 'object') return { structValue: toStruct(v as Record<string, unknown>) };
  throw new XdsCodecError(`cannot encode ${typeof v} in a Struct`);
}

/** `google.protobuf.Struct` → JSON. */
export function fromStruct(struct: unknown): Record<string, unknown> {
  const fields = (struct as { fields?: Record<string, unknown> } | undefined)?.fields ?? {};
  // fromEntries defines each key as an own property: a key named `__proto__` stays a key, where an
  // assignment would set the object's prototype and hide fields behind it.
  return Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fromStructValue(v)]));
}

function fromStructValue(v: unknown): unknown {
  const o = v as Record<string, unknown>;
  if ('numberValue' in o) return o['numberValue'];
  if ('stringValue' in o) return o['stringValue'];
  if ('boolValue' in o) return o['boolValue'];
  if ('structValue' in o) return fromStruct(o['structValue']);
  if ('listValue' in o) {
    const values = (o['listValue'] as { values?: unknown[] }).values ?? [];
    return values.map(fromStructValue);
  }
  return null;
}

/** Outrigger's own typed extension: `xds.type.v3.TypedStruct` with a JSON payload. */
export function typedStruct(typeUrl: string, value: Record<string, unknown>): TypedAny {
  return { '@type': 'type.googleapis.com/xds.type.v3.TypedStruct', type_url: typeUrl, value: toStruct(value) };
}

/** Reads an Outrigger typed extension back, asserting its inner type URL. */
export function readTypedStruct(any: unknown, typeUrl: string): Record<string, unknown> {
  const ts = typedConfig<{ type_url?: string; value?: unknown }>(any, 'type.googleapis.com/xds.type.v3.TypedStruct');
  if (ts.type_url !== typeUrl) throw new XdsCodecError(`expected TypedStruct ${typeUrl}, got ${String(ts.type_url)}`);
  return fromStruct(ts.value);
}
