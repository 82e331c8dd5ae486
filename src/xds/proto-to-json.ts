// Protobuf bytes straight to Envoy JSON (the shape of any.ts), the mirror of json-to-proto.ts: one walk
// over the bytes with a decoder compiled per message type from protobufjs reflection.
//
// protobufjs's own path decodes into message objects and then converts them with `toObject`, and its
// `Any` conversion decodes each nested config again inside that; a proxy decodes every listener of
// every push. The output is what `toObject` gives with `protoLoaderOptions` (snake_case fields, enums
// and 64-bit integers as strings, fields present only when on the wire, non-finite floats as strings,
// bytes as Buffers, nested `Any` as `{ "@type": url, ...fields }`), which proto-to-json.test.ts checks
// on every golden resource.
import protobuf from 'protobufjs';
import { XdsCodecError } from './codec-error.ts';
import { fieldKind, messageType } from './protos.ts';

type Reader = protobuf.Reader;
type Json = Record<string, unknown>;

/** Reads one scalar or enum value. */
type ReadValue = (r: Reader) => unknown;

interface FieldDecoder {
  readonly name: string;
  readonly repeated: boolean;
  /** A numeric type, so a repeated field may arrive as one length-delimited run. */
  readonly packable: boolean;
  readonly read: ReadValue | undefined;
  readonly messageType: protobuf.Type | undefined;
  /** Map fields: the key reader, and what an entry without its key or value holds (the types' defaults). */
  readonly map: { readKey: ReadValue; keyDefault: unknown; valueDefault: unknown } | undefined;
}

interface MessageDecoder {
  readonly byId: ReadonlyMap<number, FieldDecoder>;
  readonly isAny: boolean;
}

/** Nesting deeper than this is refused, as protobufjs refuses it: a hostile peer cannot exhaust the stack. */
const maxDepth = 100;

const decoders = new Map<protobuf.Type, MessageDecoder>();

/** Decodes `bytes` as the message `typeUrl` names, into Envoy JSON (without a top-level `@type`). */
export function decodeJson(typeUrl: string, bytes: Uint8Array): Json {
  const r = protobuf.Reader.create(bytes);
  try {
    return readMessage(decoderFor(messageType(typeUrl)), r, r.len, 0);
  } catch (err) {
    if (err instanceof XdsCodecError) throw err;
    throw new XdsCodecError(`${typeUrl}: ${(err as Error).message}`, { cause: err });
  }
}

function decoderFor(type: protobuf.Type): MessageDecoder {
  let d = decoders.get(type);
  if (d) return d;
  const byId = new Map<number, FieldDecoder>();
  for (const f of type.fieldsArray) {
    const { message, enumType, packable } = fieldKind(f);
    const read = message ? undefined : valueReader(f.type, enumType);
    const map = f instanceof protobuf.MapField ? { readKey: valueReader(f.keyType, undefined), keyDefault: defaultOf(f.keyType, undefined), valueDefault: message ? undefined : defaultOf(f.type, enumType) } : undefined;
    byId.set(f.id, { name: f.name, repeated: f.repeated, packable, read, messageType: message, map });
  }
  d = { byId, isAny: type.fullName === '.google.protobuf.Any' };
  decoders.set(type, d);
  return d;
}

function float(v: number): number | string {
  return Number.isFinite(v) ? v : String(v);
}

function valueReader(type: string, enumType: protobuf.Enum | undefined): ReadValue {
  if (enumType) {
    const names = enumType.valuesById;
    return (r) => {
      const n = r.int32();
      return names[n] ?? n;
    };
  }
  switch (type) {
    case 'string':
      return (r) => r.string();
    case 'bool':
      return (r) => r.bool();
    case 'bytes':
      return (r) => r.bytes();
    case 'double':
      return (r) => float(r.double());
    case 'float':
      return (r) => float(r.float());
    case 'int32':
      return (r) => r.int32();
    case 'sint32':
      return (r) => r.sint32();
    case 'sfixed32':
      return (r) => r.sfixed32();
    case 'uint32':
      return (r) => r.uint32();
    case 'fixed32':
      return (r) => r.fixed32();
    case 'int64':
      return (r) => r.int64().toString();
    case 'uint64':
      return (r) => r.uint64().toString();
    case 'sint64':
      return (r) => r.sint64().toString();
    case 'fixed64':
      return (r) => r.fixed64().toString();
    case 'sfixed64':
      return (r) => r.sfixed64().toString();
    default:
      throw new Error(`no reader for protobuf type ${type}`);
  }
}

function readMessage(d: MessageDecoder, r: Reader, end: number, depth: number): Json {
  if (depth > maxDepth) throw new XdsCodecError(`message nesting deeper than ${maxDepth}`);
  if (d.isAny) return readAny(r, end, depth);
  const o: Json = {};
  while (r.pos < end) {
    const t = r.uint32();
    const f = d.byId.get(t >>> 3);
    const wire = t & 7;
    if (!f) {
      r.skipType(wire);
      continue;
    }
    if (f.map) {
      let m = o[f.name] as Json | undefined;
      if (!m) {
        m = {};
        o[f.name] = m;
      }
      readMapEntry(f, f.map, r, m, depth);
    } else if (f.repeated) {
      if (f.packable && wire === 2) {
        const runEnd = r.uint32() + r.pos;
        const read = f.read as ReadValue;
        // An empty run leaves the field absent, as protobufjs's toObject leaves an empty list out.
        while (r.pos < runEnd) listOf(o, f.name).push(read(r));
      } else {
        listOf(o, f.name).push(f.read ? f.read(r) : readNested(f.messageType as protobuf.Type, r, depth));
      }
    } else {
      o[f.name] = f.read ? f.read(r) : readNested(f.messageType as protobuf.Type, r, depth);
    }
  }
  if (r.pos !== end) throw new XdsCodecError(`a field runs ${r.pos - end} bytes past the end of its message`);
  return o;
}

function listOf(o: Json, name: string): unknown[] {
  let list = o[name] as unknown[] | undefined;
  if (!list) {
    list = [];
    o[name] = list;
  }
  return list;
}

function readNested(type: protobuf.Type, r: Reader, depth: number): Json {
  const end = r.uint32() + r.pos;
  if (end > r.len) throw new XdsCodecError(`a message says ${end - r.pos} bytes, ${r.len - r.pos} remain`);
  return readMessage(decoderFor(type), r, end, depth + 1);
}

/**
 * Sets `key` on a JSON object built from data (a map from the wire, a Struct): as an own property even
 * when it is `__proto__`, which an assignment would take as the object's prototype, hiding fields.
 */
export function setJsonKey(into: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(into, key, { value, enumerable: true, writable: true, configurable: true });
  else into[key] = value;
}

function readMapEntry(f: FieldDecoder, m: NonNullable<FieldDecoder['map']>, r: Reader, into: Json, depth: number): void {
  const end = r.uint32() + r.pos;
  let key: unknown = m.keyDefault;
  let value: unknown;
  while (r.pos < end) {
    const t = r.uint32();
    if (t >>> 3 === 1) key = m.readKey(r);
    else if (t >>> 3 === 2) value = f.read ? f.read(r) : readNested(f.messageType as protobuf.Type, r, depth);
    else r.skipType(t & 7);
  }
  setJsonKey(into, String(key), value ?? (f.messageType ? {} : m.valueDefault));
}

/** A scalar's or enum's default as `toObject` shows it: 64-bit integers as strings, enums by name. */
function defaultOf(type: string, enumType: protobuf.Enum | undefined): unknown {
  if (enumType) return enumType.valuesById[0] ?? 0;
  if ((protobuf.types.long as Record<string, number | undefined>)[type] !== undefined) return '0';
  if (type === 'bytes') return Buffer.alloc(0);
  return (protobuf.types.defaults as Record<string, unknown>)[type];
}

/** `{ "@type": url, ...fields }` when the URL names a known message; the raw `type_url` and `value` otherwise. */
function readAny(r: Reader, end: number, depth: number): Json {
  let typeUrl = '';
  let value: Uint8Array | undefined;
  while (r.pos < end) {
    const t = r.uint32();
    if (t >>> 3 === 1) typeUrl = r.string();
    else if (t >>> 3 === 2) value = r.bytes();
    else r.skipType(t & 7);
  }
  if (!typeUrl) return value ? { value } : {};
  let type: protobuf.Type;
  try {
    type = messageType(typeUrl);
  } catch {
    return value ? { type_url: typeUrl, value } : { type_url: typeUrl };
  }
  const inner = protobuf.Reader.create(value ?? new Uint8Array(0));
  const o = readMessage(decoderFor(type), inner, inner.len, depth + 1);
  o['@type'] = typeUrl;
  return o;
}
