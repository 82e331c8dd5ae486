// HTTP/1.1 fuzz inputs: valid requests and responses built from a seeded generator, then mutated where
// smuggling and codec bugs live (framing fields, chunk lines, line ends, NUL, obs-fold, long lines),
// and split into writes at random points.
import type { Rng } from './fuzz-rng.ts';

const PATHS = ['/', '/a', '/a/b?x=1', '/%2e%2e/admin', '/x#frag', '//double', '/a;b=c', '/%00', '/\xe9'];
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'GET', 'POST'];
const BODY_BYTES = ['a', 'b', '0', '\r\n', 'GET / HTTP/1.1\r\nHost: a.example\r\n\r\n', '0\r\n\r\n', ';', ':', ' ', '\0', '\xff'];

/** Fields and fragments that change how a message is framed, or that no strict parser accepts. */
const NASTY = [
  '\r\n',
  '\n',
  '\r',
  ' ',
  '\t',
  '\0',
  ':',
  ';',
  '\x7f',
  '\xff',
  '\r\n ',
  '\r\n\t',
  '\r\n\r\n',
  '\n\n',
  '\r\n\rX',
  'Transfer-Encoding: chunked\r\n',
  'Transfer-Encoding: chunked, identity\r\n',
  'Transfer-Encoding: identity\r\n',
  'Transfer-Encoding : chunked\r\n',
  'Transfer-Encoding:\tchunked\r\n',
  'Transfer-Encoding: xchunked\r\n',
  'Transfer-Encoding: chunked\r\n , identity\r\n',
  'Content-Length: 0\r\n',
  'Content-Length: 5\r\n',
  'Content-Length: -1\r\n',
  'Content-Length: +3\r\n',
  'Content-Length: 3, 3\r\n',
  'Content-Length: 99999999999999999999\r\n',
  'Content-Length: 5\r\nContent-Length: 6\r\n',
  'Content-Length: 0x10\r\n',
  'Host: b.example\r\n',
  'Connection: close\r\n',
  'Connection: keep-alive\r\n',
  'Connection: upgrade\r\nUpgrade: websocket\r\n',
  'Expect: 100-continue\r\n',
  'x_fuzz: underscore\r\n',
  '0\r\n\r\n',
  'ffffffffffffffff\r\n',
  'fffffffffffff\r\n',
  '5;ext="x y"\r\nhello\r\n',
  '5 \r\nhello\r\n',
  '0x5\r\nhello\r\n',
  ';ext=1',
  ';\x01',
  'GET /smuggled HTTP/1.1\r\nHost: a.example\r\nx-fuzz: smuggled\r\n\r\n',
  'POST /smuggled HTTP/1.1\r\nHost: a.example\r\nContent-Length: 4\r\nx-fuzz: smuggled\r\n\r\nbody',
  ' HTTP/1.1',
  'HTTP/1.0',
  'HTTP/1.7',
  'HTTP/2.0',
  'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
  'http://a.example',
];

function body(rng: Rng): string {
  let b = '';
  const n = rng.chance(0.3) ? rng.range(0, 3) : rng.range(1, 40);
  for (let i = 0; i < n; i++) b += rng.chance(0.8) ? String.fromCharCode(rng.range(0x61, 0x7a)) : rng.pick(BODY_BYTES);
  return b;
}

function chunked(rng: Rng, data: string): string {
  let out = '';
  let at = 0;
  while (at < data.length) {
    const n = rng.range(1, data.length - at);
    const ext = rng.chance(0.2) ? rng.pick([';a', ';a=b', ';a="q"', ';a=b;c']) : '';
    out += `${n.toString(16)}${ext}\r\n${data.slice(at, at + n)}\r\n`;
    at += n;
  }
  out += '0\r\n';
  if (rng.chance(0.2)) out += 'x-trailer: t\r\n';
  return `${out}\r\n`;
}

/** One valid request; `last` asks to close the connection after it (most of the time). */
export function validRequest(rng: Rng, id: string, last: boolean): string {
  const method = rng.pick(METHODS);
  const http10 = rng.chance(0.08);
  let head = `${method} ${rng.pick(PATHS)} HTTP/1.${http10 ? 0 : 1}\r\n`;
  const fields = [`Host: ${rng.pick(['a.example', 'a.example:80', 'A.EXAMPLE'])}`, `x-fuzz: ${id}`];
  if (rng.chance(0.3)) fields.push(`x-extra: ${'v'.repeat(rng.range(0, 50))}`);
  if (rng.chance(0.1)) fields.push('accept: */*');
  let payload = '';
  if (method !== 'GET' && method !== 'OPTIONS' && method !== 'DELETE' && rng.chance(0.8)) {
    const data = body(rng);
    if (!http10 && rng.chance(0.5)) {
      fields.push('Transfer-Encoding: chunked');
      payload = chunked(rng, data);
    } else {
      fields.push(`Content-Length: ${data.length}`);
      payload = data;
    }
  }
  if (http10) {
    if (!last) fields.push('Connection: keep-alive');
  } else if (last && rng.chance(0.9)) fields.push('Connection: close');
  for (let i = fields.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [fields[i], fields[j]] = [fields[j] as string, fields[i] as string];
  }
  head += fields.map((f) => `${f}\r\n`).join('');
  return `${head}\r\n${payload}`;
}

/** Applies 0 to 3 mutations: bytes flipped, inserted, deleted, duplicated, whole lines swapped or cut. */
export function mutate(rng: Rng, input: string): string {
  let s = input;
  const n = rng.chance(0.12) ? 0 : rng.range(1, 3);
  for (let k = 0; k < n; k++) {
    const at = rng.int(s.length + 1);
    switch (rng.int(8)) {
      case 0:
        s = s.slice(0, at) + String.fromCharCode(rng.int(256)) + s.slice(at + 1);
        break;
      case 1:
      case 2:
        s = s.slice(0, at) + rng.pick(NASTY) + s.slice(at);
        break;
      case 3: {
        // At a line start: a whole field inserted where fields go.
        const line = s.lastIndexOf('\r\n', at);
        const p = line < 0 ? at : line + 2;
        s = s.slice(0, p) + rng.pick(NASTY) + s.slice(p);
        break;
      }
      case 4:
        s = s.slice(0, at) + s.slice(at + rng.range(1, 8));
        break;
      case 5: {
        const len = rng.range(1, 40);
        s = s.slice(0, at) + s.slice(at, at + len) + s.slice(at);
        break;
      }
      case 6: {
        const unit = rng.pick(['a', 'x-long: ', '0']);
        s = s.slice(0, at) + unit.repeat(Math.ceil(rng.pick([200, 9000, 70_000]) / unit.length)) + s.slice(at);
        break;
      }
      default:
        s = s.slice(0, Math.max(at, s.length - rng.range(1, 12)));
    }
  }
  return s;
}

/** Split points: the bytes go out as 1 to 6 writes. */
export function splits(rng: Rng, length: number): number[] {
  const cuts = new Set<number>();
  const n = rng.chance(0.3) ? 0 : rng.range(1, 5);
  for (let i = 0; i < n; i++) cuts.add(rng.int(length));
  return [...cuts].filter((c) => c > 0).sort((a, b) => a - b);
}

/** A fuzzed client stream: 1 to 3 requests, mutated. */
export function clientStream(rng: Rng, caseId: string): Buffer {
  const count = rng.range(1, 3);
  let s = '';
  for (let i = 0; i < count; i++) s += validRequest(rng, `${caseId}r${i}`, i === count - 1);
  return Buffer.from(mutate(rng, s), 'latin1');
}

/** A valid origin response, then mutated: what an origin that cannot frame its answers sends. */
export function originResponse(rng: Rng): Buffer {
  const status = rng.pick([200, 200, 201, 204, 301, 404, 500, 503]);
  const data = status === 204 ? '' : body(rng);
  const fields = ['x-origin: yes'];
  let payload = data;
  const framing = status === 204 ? 'none' : rng.pick(['length', 'chunked', 'close']);
  if (framing === 'length') fields.push(`Content-Length: ${data.length}`);
  else if (framing === 'chunked') {
    fields.push('Transfer-Encoding: chunked');
    payload = chunked(rng, data);
  }
  if (rng.chance(0.5)) fields.push('Connection: close');
  const head = `HTTP/1.1 ${status} ${rng.pick(['OK', 'Whatever', ''])}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`;
  return Buffer.from(mutate(rng, head + payload), 'latin1');
}
