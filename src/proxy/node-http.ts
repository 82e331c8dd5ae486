// node:http for the proxy, through require() rather than an ESM import. An ESM import of a builtin reads
// every export to build the module namespace, and reading node:http's lazy WebSocket, MessageEvent and
// CloseEvent exports loads Node's bundled undici: about 2.5 MB of heap in every proxy that never uses
// them. require() hands over the module object and reads only what the proxy uses.
import { createRequire } from 'node:module';

export const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
