// Config as Envoy's admin API prints it. Outrigger holds `google.protobuf.Struct` values (metadata,
// TypedStruct payloads) in protobuf's own form, `{fields: {k: {stringValue: v}}}`; Envoy's JSON mapping
// prints a Struct as the plain JSON it stands for, `{k: v}`, and bytes as base64. The proxy's admin
// `/config_dump` and the CLI show what Envoy would; `structForm` turns such JSON back into Outrigger's
// form, for the encoder.
import protobuf from 'protobufjs';
import { fromStruct, toStruct } from './any.ts';
import { setJsonKey } from './proto-to-json.ts';
import { isObject } from './json-to-proto.ts';
import { fieldKind, messageType } from './protos.ts';

const valueKinds = new Set(['nullValue', 'numberValue', 'stringValue', 'boolValue', 'structValue', 'listValue']);

/** A `google.protobuf.Value`: exactly one of its kinds. */
function isValue(v: unknown): boolean {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const keys = Object.keys(v);
  return keys.length === 1 && valueKinds.has(keys[0] as string);
}

/** A `google.protobuf.Struct` in protobuf's form: only `fields`, each a Value. */
function isStruct(v: Record<string, unknown>): boolean {
  const keys = Object.keys(v);
  if (keys.length !== 1 || keys[0] !== 'fields') return false;
  const fields = v['fields'];
  return typeof fields === 'object' && fields !== null && !Array.isArray(fields) && Object.values(fields).every(isValue);
}

/** `value` with every Struct in it as plain JSON and bytes as base64; everything else as it was (a copy, the input is left alone). */
export function envoyJson(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(envoyJson);
  if (typeof value !== 'object' || value === null) return value;
  // Bytes as protobuf's JSON mapping prints them, and Envoy with it: base64 with padding (a Buffer's
  // own JSON is `{"type":"Buffer","data":[...]}`). The encoder takes the string back as bytes.
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('base64');
  const o = value as Record<string, unknown>;
  if (isStruct(o)) return fromStruct(o);
  // fromEntries keeps a key named `__proto__` a key.
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [k, envoyJson(v)]));
}

const STRUCT = '.google.protobuf.Struct';
const ANY = '.google.protobuf.Any';

/**
 * `resource` (a message of the type `typeUrl` names, in Envoy JSON) with every `google.protobuf.Struct`
 * field in protobuf's form, whichever form it came in: `envoyJson`'s inverse, led by the schema, so
 * plain JSON (Envoy's admin output) and protobuf form (Outrigger's own) encode alike. A Struct whose
 * plain JSON is itself only `fields` of protobuf Values reads as protobuf form: the one ambiguity.
 * Fields the schema does not know are left as they are, for the encoder to name.
 */
export function structForm(typeUrl: string, resource: Record<string, unknown>): Record<string, unknown> {
  return withStructForm(messageType(typeUrl), resource) as Record<string, unknown>;
}

function withStructForm(type: protobuf.Type, value: unknown): unknown {
  if (!isObject(value)) return value;
  if (type.fullName === STRUCT) return isStruct(value) ? value : toStruct(value);
  if (type.fullName === ANY) {
    const url = value['@type'];
    if (typeof url !== 'string') return value;
    let inner: protobuf.Type;
    try {
      inner = messageType(url);
    } catch {
      return value; // a type the schema does not know: left for the encoder to refuse
    }
    return withStructForm(inner, value);
  }
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    const f = Object.hasOwn(type.fields, key) ? type.fields[key] : undefined;
    const message = f ? fieldKind(f).message : undefined;
    if (!f || !message) setJsonKey(out, key, v);
    else if (f instanceof protobuf.MapField && isObject(v)) {
      const map: Record<string, unknown> = {};
      for (const k of Object.keys(v)) setJsonKey(map, k, withStructForm(message, v[k]));
      setJsonKey(out, key, map);
    } else if (f.repeated && Array.isArray(v)) setJsonKey(out, key, v.map((item) => withStructForm(message, item)));
    else setJsonKey(out, key, withStructForm(message, v));
  }
  return out;
}
