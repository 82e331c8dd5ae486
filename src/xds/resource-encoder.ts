// Encodes xDS resources to wire `Any` once per distinct resource: proxies that share a resource (most
// clusters and endpoints) share its bytes, and a per-type hash tells whether a push is needed at all.
import { createHash } from 'node:crypto';
import type { TypedAny, WireAny } from './any.ts';
import { XdsCodecError } from './any.ts';
import { messageType } from './protos.ts';

export interface EncodedSet {
  /** Hash over the names and contents of every resource in the set. */
  hash: string;
  resources: WireAny[];
  bytes: number;
}

export class ResourceEncoder {
  #cache = new Map<string, WireAny>();
  #generation = '';
  #limit: number;

  /** `limit` bounds the cache; it is also dropped whenever the config generation changes. */
  constructor(limit = 20_000) {
    this.#limit = limit;
  }

  /** Encodes the named resources of one type, sorted by name so the hash is stable. */
  encode(typeUrl: string, named: ReadonlyMap<string, TypedAny>, generation: string): EncodedSet {
    if (generation !== this.#generation) {
      this.#cache.clear();
      this.#generation = generation;
    }
    const hash = createHash('sha1');
    const resources: WireAny[] = [];
    let bytes = 0;
    for (const name of [...named.keys()].sort()) {
      const resource = named.get(name) as TypedAny;
      const json = JSON.stringify(resource);
      hash.update(name).update('\0').update(json).update('\0');
      let wire = this.#cache.get(json);
      if (!wire) {
        wire = encodeResource(typeUrl, resource);
        if (this.#cache.size >= this.#limit) this.#cache.clear();
        this.#cache.set(json, wire);
      }
      bytes += wire.value.length;
      resources.push(wire);
    }
    return { hash: hash.digest('base64url'), resources, bytes };
  }
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
