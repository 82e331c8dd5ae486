// The collector's name lookup for the span senders: one getaddrinfo in flight per host, its answer used
// again for a few seconds. Each export looking the name up itself left one more call on libuv's
// threadpool (4 threads, shared with file writes) per timed-out export while the resolver hung; Envoy
// resolves a collector's cluster once per refresh, never per export.
import dns, { type LookupAddress, type LookupOptions } from 'node:dns';
import type { LookupFunction } from 'node:net';

/** How long a host's addresses are used before it is looked up again. */
const TTL_MS = 5_000;

/** dns.lookup with `all: true`; called through the module, so it is the one in place at the time. */
export type ResolveAll = (hostname: string, options: LookupOptions & { all: true }, callback: (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void) => void;

type Answer = (err: NodeJS.ErrnoException | null, addresses: LookupAddress[]) => void;

interface Entry {
  /** Undefined while the lookup is in flight. */
  addresses: LookupAddress[] | undefined;
  expires: number;
  waiting: Answer[];
}

/** A `lookup` for net and http2 connects sharing one lookup per host (and family and hints). */
export function sharedLookup(resolve: ResolveAll = (h, o, cb) => dns.lookup(h, o, cb), now: () => number = performance.now.bind(performance), ttlMs = TTL_MS): LookupFunction {
  const hosts = new Map<string, Entry>();
  return (hostname, options, callback) => {
    const answer: Answer = (err, addresses) => {
      const first = addresses[0];
      if (err || !first) return callback(err ?? Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' }), []);
      if (options.all) return callback(null, addresses);
      callback(null, first.address, first.family);
    };
    const key = `${options.family ?? 0} ${options.hints ?? 0} ${hostname}`;
    const known = hosts.get(key);
    if (known?.addresses && known.expires > now()) return answer(null, known.addresses);
    if (known && !known.addresses) return void known.waiting.push(answer);
    const entry: Entry = { addresses: undefined, expires: 0, waiting: [answer] };
    hosts.set(key, entry);
    const settle: Answer = (err, addresses) => {
      if (err) hosts.delete(key);
      else {
        entry.addresses = addresses;
        entry.expires = now() + ttlMs;
      }
      for (const w of entry.waiting.splice(0)) w(err, addresses ?? []);
    };
    try {
      resolve(hostname, { ...options, all: true }, settle);
    } catch (err) {
      // A name dns.lookup refuses outright: no lookup is in flight for the next caller to wait on.
      hosts.delete(key);
      throw err;
    }
  };
}

/** The one every sender uses: exporters to the same collector share its lookups. */
export const collectorLookup = sharedLookup();
