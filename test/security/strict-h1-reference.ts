// A strict HTTP/1.1 reference parser (RFC 9112), written apart from the proxy's codec so the fuzz tests
// can compare the two: what the proxy forwards must be what this parser reads from the same bytes, and
// the proxy's answers must be well-formed responses. Slow and simple on purpose; tests only.

export interface RefRequest {
  method: string;
  target: string;
  /** The `x-fuzz` field, repeated ones joined with `, `, as the origin sees it. */
  fuzzId: string | undefined;
  body: string;
}

export interface RefParse {
  requests: RefRequest[];
  /**
   * How the bytes end: `closed` after a request that closes the connection (what follows is never read),
   * `idle` at a message boundary of a persistent connection, `incomplete` inside a message, `error` at
   * bytes no strict parser accepts, `handover` at CONNECT or an upgrade (what follows is not HTTP/1.1).
   */
  end: 'closed' | 'idle' | 'incomplete' | 'error' | 'handover';
}

const TCHAR = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const FIELD_VALUE = /^[\x09\x20-\x7e\x80-\xff]*$/;
const TARGET = /^[\x21-\x7e]+$/;
const CHUNK_EXT = /^[\x09\x20-\x7e\x80-\xff]*$/;
const HEX = /^[0-9a-fA-F]{1,12}$/;
/** The proxy's head budget (60 KiB, Envoy's default): beyond it any answer is an error. */
const MAX_HEAD = 60 * 1024;

function owsTrim(s: string): string {
  return s.replace(/^[ \t]+|[ \t]+$/g, '');
}

function listHas(value: string | undefined, token: string): boolean {
  return value?.split(',').some((v) => owsTrim(v).toLowerCase() === token) ?? false;
}

/** Every line in `text` ends with CRLF, and no CR or LF stands alone. */
function crlfOnly(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0d && text.charCodeAt(i + 1) !== 0x0a) return false;
    if (c === 0x0a && text.charCodeAt(i - 1) !== 0x0d) return false;
  }
  return true;
}

/** Parses a client's byte stream into the requests a strict server reads from it. */
export function parseRequests(bytes: Buffer): RefParse {
  const s = bytes.toString('latin1');
  const requests: RefRequest[] = [];
  let at = 0;
  for (;;) {
    if (at === s.length) return { requests, end: 'idle' };
    const endHead = s.indexOf('\r\n\r\n', at);
    if (endHead < 0) return { requests, end: s.length - at > MAX_HEAD ? 'error' : 'incomplete' };
    if (endHead + 4 - at > MAX_HEAD) return { requests, end: 'error' };
    const head = s.slice(at, endHead + 2);
    if (!crlfOnly(head)) return { requests, end: 'error' };
    const lines = head.split('\r\n');
    lines.pop();
    const requestLine = (lines.shift() as string).split(' ');
    if (requestLine.length !== 3) return { requests, end: 'error' };
    const [method, target, version] = requestLine as [string, string, string];
    if (!TCHAR.test(method) || !TARGET.test(target) || (version !== 'HTTP/1.1' && version !== 'HTTP/1.0')) return { requests, end: 'error' };
    const fields = new Map<string, string[]>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      if (colon <= 0) return { requests, end: 'error' };
      const name = line.slice(0, colon);
      const value = owsTrim(line.slice(colon + 1));
      if (!TCHAR.test(name) || !FIELD_VALUE.test(value)) return { requests, end: 'error' };
      const key = name.toLowerCase();
      fields.set(key, [...(fields.get(key) ?? []), value]);
    }
    const one = (name: string) => fields.get(name)?.join(', ');
    const hosts = fields.get('host') ?? [];
    if (hosts.length > 1 || (version === 'HTTP/1.1' && hosts.length === 0)) return { requests, end: 'error' };
    at = endHead + 4;
    const connection = one('connection');
    if (method === 'CONNECT' || (fields.has('upgrade') && listHas(connection, 'upgrade'))) return { requests, end: 'handover' };
    const te = one('transfer-encoding');
    const cls = fields.get('content-length');
    let body = '';
    if (te !== undefined) {
      if (cls !== undefined || te.toLowerCase() !== 'chunked') return { requests, end: 'error' };
      const chunked = readChunked(s, at);
      if (chunked === 'error' || chunked === 'incomplete') return { requests, end: chunked };
      body = chunked.body;
      at = chunked.next;
    } else if (cls !== undefined) {
      if (cls.some((v) => !/^\d{1,15}$/.test(v) || v !== cls[0])) return { requests, end: 'error' };
      const n = Number(cls[0]);
      if (s.length - at < n) return { requests, end: 'incomplete' };
      body = s.slice(at, at + n);
      at += n;
    }
    requests.push({ method, target, fuzzId: one('x-fuzz'), body });
    // A chunked HTTP/1.0 request is faulty: the server closes after answering it (RFC 9112 §6.1).
    const persists = version === 'HTTP/1.1' ? !listHas(connection, 'close') : listHas(connection, 'keep-alive') && te === undefined;
    if (!persists) return { requests, end: 'closed' };
  }
}

function readChunked(s: string, start: number): { body: string; next: number } | 'error' | 'incomplete' {
  let at = start;
  let body = '';
  for (;;) {
    const eol = s.indexOf('\r\n', at);
    if (eol < 0) return s.length - at > MAX_HEAD ? 'error' : 'incomplete';
    const line = s.slice(at, eol);
    if (line.includes('\n') || line.includes('\r') || line.length > MAX_HEAD) return 'error';
    const semi = line.indexOf(';');
    const hex = semi < 0 ? line : line.slice(0, semi);
    if (!HEX.test(hex) || (semi >= 0 && !CHUNK_EXT.test(line.slice(semi)))) return 'error';
    const size = Number.parseInt(hex, 16);
    at = eol + 2;
    if (size === 0) break;
    if (s.length < at + size + 2) return s.length >= at + size && s.slice(at + size, at + size + 1) !== '\r' ? 'error' : 'incomplete';
    body += s.slice(at, at + size);
    if (s.slice(at + size, at + size + 2) !== '\r\n') return 'error';
    at += size + 2;
  }
  // Trailer fields, then the blank line: all of them within one line's budget.
  const trailersFrom = at;
  for (;;) {
    const eol = s.indexOf('\r\n', at);
    if (eol < 0) return s.length - at > MAX_HEAD ? 'error' : 'incomplete';
    const line = s.slice(at, eol);
    at = eol + 2;
    if (at - trailersFrom > MAX_HEAD) return 'error';
    if (line === '') return { body, next: at };
    const colon = line.indexOf(':');
    if (colon <= 0 || !TCHAR.test(line.slice(0, colon)) || !FIELD_VALUE.test(line.slice(colon + 1))) return 'error';
  }
}

export interface RefResponse {
  status: number;
  headers: Map<string, string>;
  body: string;
  /** The body ended by its framing (not cut by the connection's close). */
  complete: boolean;
}

/**
 * Parses a server's byte stream (the whole of it, up to the close) into responses; throws on anything
 * that is not a well-formed HTTP/1.1 response. `bodiless(i)`: response i answers HEAD. `partial`: the
 * stream may still grow; a head not yet whole ends the list instead of failing. `firstOnly`: what follows
 * the first response is not read.
 */
export function parseResponses(bytes: Buffer, opts: { bodiless?: (i: number) => boolean; partial?: boolean; firstOnly?: boolean } = {}): RefResponse[] {
  const bodiless = opts.bodiless ?? (() => false);
  const s = bytes.toString('latin1');
  const out: RefResponse[] = [];
  let at = 0;
  while (at < s.length) {
    if (opts.firstOnly && out.length > 0) return out;
    const endHead = s.indexOf('\r\n\r\n', at);
    if (endHead < 0 && opts.partial) return out;
    if (endHead < 0) throw new Error(`response head cut at byte ${at}: ${JSON.stringify(s.slice(at, at + 80))}`);
    const head = s.slice(at, endHead + 2);
    if (!crlfOnly(head)) throw new Error('response head with bare CR or LF');
    const lines = head.split('\r\n');
    lines.pop();
    const m = /^HTTP\/1\.1 (\d{3}) [\x09\x20-\x7e]*$/.exec(lines.shift() as string);
    if (!m) throw new Error(`bad status line ${JSON.stringify(head.slice(0, 60))}`);
    const status = Number(m[1]);
    const headers = new Map<string, string>();
    for (const line of lines) {
      const colon = line.indexOf(':');
      const name = line.slice(0, colon).toLowerCase();
      if (colon <= 0 || !TCHAR.test(name) || !FIELD_VALUE.test(line.slice(colon + 1))) throw new Error(`bad response field ${JSON.stringify(line)}`);
      if (headers.has(name) && (name === 'content-length' || name === 'transfer-encoding')) throw new Error(`repeated ${name}`);
      headers.set(name, owsTrim(line.slice(colon + 1)));
    }
    at = endHead + 4;
    const length = headers.get('content-length');
    if (length !== undefined && !/^\d{1,15}$/.test(length)) throw new Error(`response content-length ${length}`);
    if (status < 200 || status === 204 || status === 304 || bodiless(out.length)) {
      if (headers.has('transfer-encoding')) throw new Error(`${status} with transfer-encoding`);
      if (status >= 200) out.push({ status, headers, body: '', complete: true });
      continue;
    }
    const te = headers.get('transfer-encoding');
    const cl = headers.get('content-length');
    if (te !== undefined && cl !== undefined) throw new Error('response with content-length and transfer-encoding');
    if (te !== undefined) {
      if (te.toLowerCase() !== 'chunked') throw new Error(`response transfer-encoding ${te}`);
      const chunked = readChunked(s, at);
      if (chunked === 'error') throw new Error('bad chunked response body');
      if (chunked === 'incomplete') {
        out.push({ status, headers, body: s.slice(at), complete: false });
        return out;
      }
      out.push({ status, headers, body: chunked.body, complete: true });
      at = chunked.next;
    } else if (cl !== undefined) {
      const n = Number(cl);
      const complete = s.length - at >= n;
      out.push({ status, headers, body: s.slice(at, at + n), complete });
      at += n;
    } else {
      out.push({ status, headers, body: s.slice(at), complete: true });
      return out;
    }
  }
  return out;
}
