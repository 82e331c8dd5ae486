// Config as Envoy's admin API prints it. Outrigger holds `google.protobuf.Struct` values (metadata,
// TypedStruct payloads) in protobuf's own form, `{fields: {k: {stringValue: v}}}`; Envoy's JSON mapping
// prints a Struct as the plain JSON it stands for, `{k: v}`. The CLI shows what Envoy would.
import { fromStruct } from '../xds/any.ts';

const valueKinds = new Set(['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue']);

/** A `google.protobuf.Value`: exactly one of its kinds. */
function isValue(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && valueKinds.has(keys[0] as string);
}

/** A `google.protobuf.Struct`: only `fields`, each a Value. */
function isStruct(v: Record<string, unknown>): boolean {
  const keys = Object.keys(v);
  if (keys.length !== 1 || keys[0] !== 'fields') return false;
  const fields = v['fields'];
  return typeof fields === 'object' && fields !== null && !Array.isArray(fields) && Object.values(fields).every(isValue);
}

/** `value` with every Struct in it as plain JSON; everything else as it was (a copy, the input is left alone). */
export function envoyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(envoyJson);
  if (typeof value !== 'object' || value === null) return value;
  const o = value as Record<string, unknown>;
  if (isStruct(o)) return fromStruct(o);
  // fromEntries keeps a key named `__proto__` a key.
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, envoyJson(v)]));
}
