// Encodes xDS resources to wire `Any` once per distinct resource: proxies that share a resource object
// (the translation memo hands the same clusters, endpoints and routes to every proxy of a scope) share
// its bytes and its hash, and resources whose content did not change across config generations are
// not encoded again. A per-type hash over names and resource hashes tells whether a push is needed.
import { createHash } from 'node:crypto';
import type { TypedAny, WireAny } from './any.ts';
import { XdsCodecError } from './any.ts';
import { messageType } from './protos.ts';

export interface EncodedSet {
  /** Hash over the names and contents of every resource in the set. */
  hash: string;
  resources: WireAny[];
  /** The resources as given, in the order of `resources`. */
  objects: TypedAny[];
  bytes: number;
}

interface Encoded {
  wire: WireAny;
  hash: string;
}

export class ResourceEncoder {
  /** By object identity: a shared object is hashed and encoded once, whoever sends it. */
  #byObject = new WeakMap<object, Encoded>();
  /** By source map identity, then type and subscribed names: a shared map's sets are built once. */
  #bySource = new WeakMap<ReadonlyMap<string, TypedAny>, Map<string, EncodedSet>>();
  /** By content hash, this generation and the previous one: unchanged resources keep their bytes. */
  #current = new Map<string, Encoded>();
  #previous = new Map<string, Encoded>();
  #generation = '';
  #limit: number;

  /** `limit` bounds the content cache of one generation. */
  constructor(limit = 50_000) {
    this.#limit = limit;
  }

  /**
   * The resources of `source` a proxy subscribed to (`names`; none: all of them). Proxies handed the
   * same source map (replicas of one workload, see translate/proxy-resources.ts) share one set.
   */
  encodeSelected(typeUrl: string, source: ReadonlyMap<string, TypedAny> | undefined, names: readonly string[], generation: string): EncodedSet {
    if (!source) return this.encode(typeUrl, new Map(), generation);
    this.#rotate(generation);
    let bySource = this.#bySource.get(source);
    if (!bySource) {
      bySource = new Map();
      this.#bySource.set(source, bySource);
    }
    const key = `${typeUrl}\0${names.join('\0')}`;
    let set = bySource.get(key);
    if (!set) {
      set = this.encode(typeUrl, names.length === 0 ? source : pick(source, names), generation);
      bySource.set(key, set);
    }
    return set;
  }

  /** Encodes the named resources of one type, sorted by name so the hash is stable. */
  encode(typeUrl: string, named: ReadonlyMap<string, TypedAny>, generation: string): EncodedSet {
    this.#rotate(generation);
    const hash = createHash('sha1');
    const resources: WireAny[] = [];
    const objects: TypedAny[] = [];
    let bytes = 0;
    for (const name of [...named.keys()].sort()) {
      const r = named.get(name) as TypedAny;
      const e = this.#encoded(typeUrl, r);
      hash.update(name).update('\0').update(e.hash).update('\0');
      bytes += e.wire.value.length;
      resources.push(e.wire);
      objects.push(r);
    }
    return { hash: hash.digest('base64url'), resources, objects, bytes };
  }

  #rotate(generation: string): void {
    if (generation === this.#generation) return;
    this.#previous = this.#current;
    this.#current = new Map();
    this.#generation = generation;
  }

  #encoded(typeUrl: string, resource: TypedAny): Encoded {
    const known = this.#byObject.get(resource);
    if (known && known.wire.type_url === typeUrl) return known;
    const hash = createHash('sha1').update(typeUrl).update('\0').update(JSON.stringify(resource)).digest('base64url');
    let e = this.#current.get(hash);
    if (!e) {
      e = this.#previous.get(hash) ?? { wire: encodeResource(typeUrl, resource), hash };
      if (this.#current.size >= this.#limit) this.#current.clear();
      this.#current.set(hash, e);
    }
    this.#byObject.set(resource, e);
    return e;
  }
}

function pick(source: ReadonlyMap<string, TypedAny>, names: readonly string[]): Map<string, TypedAny> {
  const out = new Map<string, TypedAny>();
  for (const n of names) {
    const r = source.get(n);
    if (r) out.set(n, r);
  }
  return out;
}

/**
 * Encodes one resource. `fromObject` first (it maps enum names to numbers), then `verify` on the
 * message, so string enums in Envoy's JSON pass and wrong field types are still refused with a path.
 */
export function encodeResource(typeUrl: string, resource: TypedAny): WireAny {
  const type = messageType(typeUrl);
  const { '@type': _t, ...fields } = resource;
  let message: ReturnType<typeof type.fromObject>;
  try {
    message = type.fromObject(fields);
  } catch (err) {
    throw new XdsCodecError(`${typeUrl}: ${(err as Error).message}`, { cause: err });
  }
  const problem = type.verify(message);
  if (problem) throw new XdsCodecError(`${typeUrl}: ${problem}`);
  return { type_url: typeUrl, value: type.encode(message).finish() };
}
