// One POST with node:http(s) for the HTTP span senders: resolves whether the answer was 2xx, false on
// any failure or once the timeout has passed since it began (connect, send and answer together, as
// Envoy's request_timeout), never throws.
import type { ClientRequest } from 'node:http';
import { createRequire } from 'node:module';
import type { LookupFunction } from 'node:net';
import { collectorLookup } from './collector-lookup.ts';
import { type DeadlineTimers, realDeadlineTimers } from './deadline-timers.ts';

// node:http and node:https through require(): an ESM import reads every export, and node:http's lazy
// WebSocket ones load Node's bundled undici, as global fetch does on its first call, which takes the
// event loop for about 50 ms (and 2.5 MB of heap) in a proxy that is serving requests by then.
const require = createRequire(import.meta.url);
const http = require('node:http') as typeof import('node:http');
const https = require('node:https') as typeof import('node:https');

export interface PostOptions {
  /** The collector's name lookup: collectorLookup, shared by every sender, by default. */
  lookup?: LookupFunction;
  timers?: DeadlineTimers;
}

export function postBody(url: string, body: string | Uint8Array, headers: Readonly<Record<string, string>>, timeoutMs: number, options: PostOptions = {}): Promise<boolean> {
  const timers = options.timers ?? realDeadlineTimers;
  return new Promise((resolve) => {
    let req: ClientRequest;
    let deadline: unknown;
    const done = (ok: boolean): void => {
      timers.clearTimeout(deadline);
      resolve(ok);
    };
    try {
      // A bad URL or header is a failed send, not a throw.
      const u = new URL(url);
      const lookup = options.lookup ?? collectorLookup;
      req = (u.protocol === 'https:' ? https : http).request(u, { method: 'POST', headers: { ...headers, 'content-length': Buffer.byteLength(body) }, agent: false, lookup }, (res) => {
        res.resume();
        res.on('end', () => done((res.statusCode ?? 0) >= 200 && (res.statusCode ?? 0) < 300));
        res.on('error', () => done(false));
      });
    } catch {
      return resolve(false);
    }
    // The whole exchange's deadline: a collector that trickles its answer (the socket never idle) is cut too.
    deadline = timers.setTimeout(() => {
      req.destroy();
      resolve(false);
    }, timeoutMs);
    req.on('error', () => done(false));
    req.end(body);
  });
}
