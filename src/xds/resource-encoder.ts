// Encodes xDS resources to wire `Any` once per distinct resource: proxies that share a resource object
// (the translation memo hands the same clusters, endpoints and routes to every proxy of a scope) share
// its bytes and its hash, and resources with the same bytes share one wire object across config
// generations. A per-type hash over names and resource hashes tells whether a push is needed.
import { createHash } from 'node:crypto';
import type { TypedAny, WireAny } from './any.ts';
import { packAny } from './any.ts';

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

/** Distinct subscribed-name lists whose sets are kept per source map and type. */
const MAX_NAME_LISTS = 1024;
/**
 * Resources (entries of the sets' arrays) kept per source map and type, over all its lists: about 4 MB of
 * references. A proxy's list selects from the source map, so a set is never larger than the map, and the
 * lists of one scope's proxies are few; a client sending ever new lists makes the memo start over.
 */
const MAX_HELD_RESOURCES = 1 << 18;

/** The sets of one source map and type, by the digest of their subscribed names. */
interface NameListSets {
  sets: Map<string, EncodedSet>;
  /** The sum of the sets' resource counts. */
  held: number;
}

export class ResourceEncoder {
  /** By object identity: a shared object is hashed and encoded once, whoever sends it. */
  #byObject = new WeakMap<object, Encoded>();
  /** By source map identity, then type, then subscribed names: a shared map's sets are built once. */
  #bySource = new WeakMap<ReadonlyMap<string, TypedAny>, Map<string, NameListSets>>();
  /** By content hash, this generation and the previous one: equal bytes are held once. */
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
    let byNames = bySource.get(typeUrl);
    if (!byNames) {
      byNames = { sets: new Map(), held: 0 };
      bySource.set(typeUrl, byNames);
    }
    // A digest of the names, once per list: the key is small whatever the list (the names are the
    // client's, up to the message limit), and a long list is hashed once, not per push.
    const key = names.length === 0 ? '' : this.#namesKey(names);
    let set = byNames.sets.get(key);
    if (!set) {
      set = this.encode(typeUrl, names.length === 0 ? source : pick(source, names), generation);
      // A stream sending ever new lists must not grow this for as long as the source map lives (a whole
      // config generation): the lists kept and the resources their sets hold are bounded.
      if (byNames.sets.size >= MAX_NAME_LISTS || byNames.held + set.resources.length > MAX_HELD_RESOURCES) {
        byNames.sets.clear();
        byNames.held = 0;
      }
      byNames.sets.set(key, set);
      byNames.held += set.resources.length;
    }
    return set;
  }

  /** Encodes the named resources of one type, sorted by name so the hash is stable. */
  encode(typeUrl: string, named: ReadonlyMap<string, TypedAny>, generation: string): EncodedSet {
    this.#rotate(generation);
    const names = [...named.keys()].sort();
    const resources: WireAny[] = [];
    const objects: TypedAny[] = [];
    // One digest over "name\0hash\0..." joined: a native hash call per resource costs more than the join.
    const parts: string[] = [];
    let bytes = 0;
    for (const name of names) {
      const r = named.get(name) as TypedAny;
      const e = this.#encoded(typeUrl, r);
      parts.push(name, e.hash);
      bytes += e.wire.value.length;
      resources.push(e.wire);
      objects.push(r);
    }
    parts.push('');
    return { hash: createHash('sha1').update(parts.join('\0')).digest('base64url'), resources, objects, bytes };
  }

  /** Digest of the subscribed names, once per list: a connection keeps its list until the names change. */
  #names = new WeakMap<readonly string[], string>();
  #namesKey(names: readonly string[]): string {
    let k = this.#names.get(names);
    if (k === undefined) {
      // One digest over the joined names (a native call per name costs more than the join); the count
      // first, so no two lists share the joined string. SHA-256: the client chooses the names.
      k = createHash('sha256').update(`${names.length}\0${names.join('\0')}`).digest('base64url');
      this.#names.set(names, k);
    }
    return k;
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
    // Encoding is cheaper than a JSON.stringify of the resource, so the bytes are the content key.
    const wire = packAny(typeUrl, resource);
    const hash = createHash('sha1').update(typeUrl).update('\0').update(wire.value).digest('base64url');
    let e = this.#current.get(hash);
    if (!e) {
      e = this.#previous.get(hash) ?? { wire, hash };
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
