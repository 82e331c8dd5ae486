// Envoy JSON (the canonical shape of any.ts: snake_case fields, enums by name, nested `Any` as
// `{ "@type": url, ...fields }`) straight to protobuf bytes, in one walk per resource, with an encoder
// compiled per message type from protobufjs reflection.
//
// protobufjs's own path (`fromObject`, `verify`, `encode`) builds a message object for every node of
// the tree first, and `fromObject` encodes each nested `Any` into a buffer of its own; the control plane
// encodes every workload's listeners on every config change, and that walk was most of a push. This
// one writes into a single protobufjs `Writer`. It is also stricter: an unknown field, an unknown enum
// name, two members of one oneof or a value of the wrong type is an error naming its path, where
// `fromObject` drops the field or coerces the value.
import protobuf from 'protobufjs';
import { XdsCodecError } from './codec-error.ts';
import { fieldKind, messageType } from './protos.ts';

type Writer = protobuf.Writer;

/** Writes one scalar or enum value (no tag); errors name no path, the callers add it. */
type WriteValue = (w: Writer, v: unknown) => void;

interface FieldCodec {
  readonly name: string;
  readonly repeated: boolean;
  /** Repeated scalars and enums in one length-delimited run. */
  readonly packed: boolean;
  /** Tag of one value (or of the packed run, or of one map entry). */
  readonly tag: number;
  /** Scalar or enum writer; undefined for a message. */
  readonly write: WriteValue | undefined;
  /** The message type of a message field (or of a map's values). */
  readonly messageType: protobuf.Type | undefined;
  /** Map fields: the key's tag and writer, and the value's tag (field 2 of the entry). */
  readonly map: { keyTag: number; writeKey: WriteValue; valueTag: number } | undefined;
  /** Bit of the oneof this field belongs to (0: none). */
  readonly oneofBit: number;
}

interface MessageCodec {
  readonly type: protobuf.Type;
  readonly fields: ReadonlyMap<string, FieldCodec>;
  readonly isAny: boolean;
}

const codecs = new Map<protobuf.Type, MessageCodec>();
const ANY = '.google.protobuf.Any';

/** Encodes `resource` (its `@type` key, if any, ignored) as a message of the type `typeUrl` names. */
export function encodeJson(typeUrl: string, resource: object): Uint8Array {
  const w = protobuf.Writer.create();
  try {
    writeFields(codecFor(messageType(typeUrl)), resource, w, true);
  } catch (err) {
    if (err instanceof PathError) throw new XdsCodecError(`${typeUrl}: ${err.path.join('').replace(/^\./, '')}: ${err.message}`);
    throw err;
  }
  return w.finish();
}

class PathError extends Error {
  readonly path: string[] = [];
}

function fail(message: string): never {
  throw new PathError(message);
}

function codecFor(type: protobuf.Type): MessageCodec {
  let c = codecs.get(type);
  if (c) return c;
  const oneofBits = new Map<string, number>();
  type.oneofsArray.forEach((o, i) => {
    for (const name of o.oneof) oneofBits.set(name, 1 << i);
  });
  const fields = new Map<string, FieldCodec>();
  for (const f of type.fieldsArray) fields.set(f.name, fieldCodec(f, oneofBits.get(f.name) ?? 0));
  c = { type, fields, isAny: type.fullName === ANY };
  codecs.set(type, c);
  return c;
}

function fieldCodec(f: protobuf.Field, oneofBit: number): FieldCodec {
  const { message, enumType, packable } = fieldKind(f);
  const write = message ? undefined : valueWriter(f.type, enumType);
  if (f instanceof protobuf.MapField) {
    const keyWire = (protobuf.types.mapKey as Record<string, number>)[f.keyType] as number;
    return {
      name: f.name,
      repeated: false,
      packed: false,
      tag: tag(f.id, 2),
      write,
      messageType: message,
      map: { keyTag: tag(1, keyWire), writeKey: keyWriter(f.keyType), valueTag: tag(2, message ? 2 : wireType(f.type, enumType)) },
      oneofBit,
    };
  }
  // Only numeric types pack, whatever the field's option says.
  const packed = f.repeated && f.packed && packable;
  return {
    name: f.name,
    repeated: f.repeated,
    packed,
    tag: tag(f.id, message || packed ? 2 : wireType(f.type, enumType)),
    write,
    messageType: message,
    map: undefined,
    oneofBit,
  };
}

function tag(id: number, wire: number): number {
  return ((id << 3) | wire) >>> 0;
}

function wireType(type: string, enumType: protobuf.Enum | undefined): number {
  if (enumType) return 0;
  const wire = (protobuf.types.basic as Record<string, number | undefined>)[type];
  if (wire === undefined) throw new Error(`no wire type for ${type}`);
  return wire;
}

function number(v: unknown): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return fail(`number expected, got ${typeof v}`);
}

function integer(v: unknown): number {
  const n = number(v);
  if (!Number.isInteger(n)) fail(`integer expected, got ${n}`);
  return n;
}

/** 64-bit integers: numbers, or decimal strings as protobuf's JSON mapping writes them. */
function long(v: unknown): number | string {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return v;
  return fail(`integer expected, got ${typeof v === 'string' ? JSON.stringify(v) : typeof v}`);
}

function valueWriter(type: string, enumType: protobuf.Enum | undefined): WriteValue {
  if (enumType) {
    const values = enumType.values;
    return (w, v) => {
      if (typeof v === 'number' && Number.isInteger(v)) w.int32(v);
      else if (typeof v === 'string' && Object.hasOwn(values, v)) w.int32(values[v] as number);
      else fail(`${JSON.stringify(v)} is not a value of enum ${enumType.name}`);
    };
  }
  switch (type) {
    case 'string':
      return (w, v) => {
        if (typeof v !== 'string') fail(`string expected, got ${typeof v}`);
        w.string(v);
      };
    case 'bool':
      return (w, v) => {
        if (typeof v !== 'boolean') fail(`boolean expected, got ${typeof v}`);
        w.bool(v);
      };
    case 'bytes':
      return (w, v) => {
        if (typeof v !== 'string' && !(v instanceof Uint8Array)) fail(`bytes (base64 string or Uint8Array) expected, got ${typeof v}`);
        w.bytes(v);
      };
    case 'double':
      return (w, v) => w.double(number(v));
    case 'float':
      return (w, v) => w.float(number(v));
    case 'int32':
      return (w, v) => w.int32(integer(v));
    case 'sint32':
      return (w, v) => w.sint32(integer(v));
    case 'sfixed32':
      return (w, v) => w.sfixed32(integer(v));
    case 'uint32':
      return (w, v) => w.uint32(integer(v));
    case 'fixed32':
      return (w, v) => w.fixed32(integer(v));
    case 'int64':
      return (w, v) => w.int64(long(v));
    case 'uint64':
      return (w, v) => w.uint64(long(v));
    case 'sint64':
      return (w, v) => w.sint64(long(v));
    case 'fixed64':
      return (w, v) => w.fixed64(long(v));
    case 'sfixed64':
      return (w, v) => w.sfixed64(long(v));
    default:
      throw new Error(`no writer for protobuf type ${type}`);
  }
}

/** Map keys arrive as object keys, so as strings: integers parse, booleans are `true` or `false`. */
function keyWriter(type: string): WriteValue {
  if (type !== 'bool') return valueWriter(type, undefined);
  return (w, k) => {
    if (k !== 'true' && k !== 'false') fail(`true or false expected, got ${JSON.stringify(k)}`);
    w.bool(k === 'true');
  };
}

/** A plain JSON object: not an array, not bytes. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Writes the fields of `obj` as a message of `codec`'s type; `typed`: its `@type` key is metadata. */
function writeFields(codec: MessageCodec, obj: unknown, w: Writer, typed: boolean): void {
  if (!isObject(obj)) fail(`object expected, got ${Array.isArray(obj) ? 'array' : typeof obj}`);
  if (codec.isAny && typeof obj['@type'] === 'string') {
    writeAny(obj['@type'], obj, w);
    return;
  }
  let key = '';
  let oneofs = 0;
  try {
    for (key in obj) {
      const v = obj[key];
      if (v === undefined || v === null) continue;
      const f = codec.fields.get(key);
      if (!f) {
        if (typed && key === '@type') continue;
        fail(`no such field in ${codec.type.fullName.slice(1)}`);
      }
      if (f.oneofBit !== 0) {
        if ((oneofs & f.oneofBit) !== 0) fail('a second member of the same oneof is set');
        oneofs |= f.oneofBit;
      }
      if (f.map) writeMap(f, f.map, v, w);
      else if (f.repeated) writeRepeated(f, v, w);
      else writeOne(f, v, w);
    }
  } catch (err) {
    if (err instanceof PathError) err.path.unshift(`.${key}`);
    throw err;
  }
}

function writeOne(f: FieldCodec, v: unknown, w: Writer): void {
  w.uint32(f.tag);
  if (f.write) f.write(w, v);
  else writeMessage(f.messageType as protobuf.Type, v, w);
}

function writeMessage(type: protobuf.Type, v: unknown, w: Writer): void {
  w.fork();
  writeFields(codecFor(type), v, w, false);
  w.ldelim();
}

function writeRepeated(f: FieldCodec, v: unknown, w: Writer): void {
  if (!Array.isArray(v)) fail(`array expected, got ${typeof v}`);
  if (v.length === 0) return;
  if (f.packed) {
    const write = f.write as WriteValue;
    w.uint32(f.tag).fork();
    let i = 0;
    try {
      for (; i < v.length; i++) write(w, v[i]);
    } catch (err) {
      if (err instanceof PathError) err.path.unshift(`[${i}]`);
      throw err;
    }
    w.ldelim();
    return;
  }
  let i = 0;
  try {
    for (; i < v.length; i++) {
      const item = v[i];
      if (item === null || item === undefined) fail('null in a repeated field');
      writeOne(f, item, w);
    }
  } catch (err) {
    if (err instanceof PathError) err.path.unshift(`[${i}]`);
    throw err;
  }
}

function writeMap(f: FieldCodec, m: NonNullable<FieldCodec['map']>, v: unknown, w: Writer): void {
  if (!isObject(v)) fail(`object expected for a map, got ${typeof v}`);
  let key = '';
  try {
    for (key in v) {
      const value = v[key];
      if (value === undefined || value === null) continue;
      w.uint32(f.tag).fork();
      w.uint32(m.keyTag);
      m.writeKey(w, key);
      w.uint32(m.valueTag);
      if (f.write) f.write(w, value);
      else writeMessage(f.messageType as protobuf.Type, value, w);
      w.ldelim();
    }
  } catch (err) {
    if (err instanceof PathError) err.path.unshift(`[${JSON.stringify(key)}]`);
    throw err;
  }
}

const anyTypes = new Map<string, MessageCodec>();

function knownType(typeUrl: string): protobuf.Type {
  try {
    return messageType(typeUrl);
  } catch {
    return fail(`@type ${typeUrl} names no known message type`);
  }
}

/** `google.protobuf.Any` from `{ "@type": url, ...fields }`: the URL, then the fields as the URL's message. */
function writeAny(typeUrl: string, obj: Record<string, unknown>, w: Writer): void {
  let codec = anyTypes.get(typeUrl);
  if (!codec) {
    codec = codecFor(knownType(typeUrl));
    anyTypes.set(typeUrl, codec);
  }
  w.uint32(tag(1, 2)).string(typeUrl);
  w.uint32(tag(2, 2)).fork();
  writeFields(codec, obj, w, true);
  w.ldelim();
}
