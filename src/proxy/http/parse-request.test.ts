import assert from 'node:assert/strict';
import { test } from 'node:test';
import { h1ServerDefaults } from './h1-server.ts';
import { compilePathNormalizer } from './normalize-path.ts';
import { parseRequest, type RawHead } from './parse-request.ts';
import type { ConnectionInfo } from './stream.ts';

const conn: ConnectionInfo = { remoteAddress: '10.0.0.1', remotePort: 40000, localAddress: '10.0.0.2', localPort: 8080, tls: false };
const normalize = compilePathNormalizer('BASE');
const pseudo = [':method', 'GET', ':path', '/', ':scheme', 'http', ':authority', 'a.example'];

function h2(fields: string[]): RawHead {
  const rawHeaders = [...pseudo, ...fields];
  return { method: 'GET', target: '/', protocol: 'HTTP/2', rawHeaders, h2: { ':method': 'GET', ':path': '/', ':scheme': 'http', ':authority': 'a.example' } };
}

test('HTTP/2: a decoded head past the HTTP/1.1 head limit is refused, 431 http2.too_many_headers, whatever its field count', () => {
  // Under the 100-field limit, as HPACK makes it: one 4,000-byte field named 20 times (80 KB decoded).
  const fields: string[] = [];
  for (let i = 0; i < 20; i++) fields.push('x-big', 'A'.repeat(4000));
  const r = parseRequest(h2(fields), conn, normalize);
  assert.equal(r.ok, false);
  if (r.ok) return;
  assert.equal(r.reply.status, 431);
  assert.equal(r.reply.flag, 'DPE');
  assert.equal(r.reply.details, 'http2.too_many_headers');
});

test('HTTP/2: the limit counts name and value of every field, pseudo-headers included, cookie crumbs apart (Envoy sets them aside)', () => {
  const limit = h1ServerDefaults.maxHeadBytes;
  const pseudoBytes = pseudo.reduce((n, s) => n + s.length, 0);
  // Exactly at the limit: accepted. One byte more, in a pseudo-header (a longer :path): refused.
  const filler = limit - pseudoBytes - 'x-fill'.length;
  const fields = ['x-fill', 'f'.repeat(filler)];
  assert.equal(parseRequest(h2(fields), conn, normalize).ok, true);
  const longerPath = h2(fields);
  (longerPath.rawHeaders as string[])[3] = '/x';
  assert.equal(parseRequest(longerPath, conn, normalize).ok, false);
  // A full head and 40 KiB of crumbs besides (a browser's cookies, one per crumb): accepted, as by Envoy.
  const crumbs: string[] = [];
  for (let i = 0; i < 400; i++) crumbs.push('cookie', `c${String(i).padStart(3, '0')}=${'v'.repeat(96)}`);
  const r = parseRequest(h2([...fields, ...crumbs]), conn, normalize);
  assert.equal(r.ok, true);
  if (r.ok) assert.equal(String(r.request.headers.get('cookie')).length, 400 * 101 + 399 * 2);
});

test('HTTP/2: the joined cookie is bounded on its own at the same 60 KiB (HPACK must not carry an unbounded one to the app)', () => {
  const limit = h1ServerDefaults.maxHeadBytes;
  // Crumbs whose join is exactly the limit ("; " between them counts): accepted; one byte more: 431.
  const crumb = 'v'.repeat(1022);
  const n = Math.floor((limit + 2) / (crumb.length + 2));
  const last = 'w'.repeat(limit - n * (crumb.length + 2));
  const fields: string[] = [];
  for (let i = 0; i < n; i++) fields.push('cookie', crumb);
  fields.push('cookie', last);
  const ok = parseRequest(h2(fields), conn, normalize);
  assert.equal(ok.ok, true);
  if (ok.ok) assert.equal(String(ok.request.headers.get('cookie')).length, limit);
  const over = parseRequest(h2([...fields.slice(0, -1), `${last}w`]), conn, normalize);
  assert.equal(over.ok, false);
  if (!over.ok) assert.deepEqual([over.reply.status, over.reply.details], [431, 'http2.too_many_headers']);
});

test('HTTP/1.1: parseRequest does not count the head (its codec bounded it whole)', () => {
  const r = parseRequest({ method: 'GET', target: '/', protocol: 'HTTP/1.1', rawHeaders: ['host', 'a.example', 'x-big', 'b'.repeat(h1ServerDefaults.maxHeadBytes + 10)], lowerCaseNames: true }, conn, normalize);
  assert.equal(r.ok, true);
});

test('HTTP/2: cookie crumbs are one cookie, joined with "; " (RFC 9113 §8.2.3); other repeats stay a list', () => {
  const r = parseRequest(h2(['cookie', 'a=1', 'x-r', '1', 'cookie', 'b=2', 'x-r', '2', 'cookie', 'c=3']), conn, normalize);
  assert.ok(r.ok);
  assert.equal(r.request.headers.get('cookie'), 'a=1; b=2; c=3');
  assert.deepEqual(r.request.headers.get('x-r'), ['1', '2']);
});

test('HTTP/2: joined cookie crumbs count as one field against the field limit (Envoy reassembles them before its count)', () => {
  const fields: string[] = [];
  for (let i = 0; i < 99; i++) fields.push(`x-${i}`, 'v');
  for (let i = 0; i < 20; i++) fields.push('cookie', `k${i}=v`);
  const r = parseRequest(h2(fields), conn, normalize);
  assert.ok(r.ok);
  assert.equal(String(r.request.headers.get('cookie')).split('; ').length, 20);
});

test('HTTP/1.1: repeated Cookie fields are left as they came', () => {
  const r = parseRequest({ method: 'GET', target: '/', protocol: 'HTTP/1.1', rawHeaders: ['host', 'a.example', 'cookie', 'a=1', 'cookie', 'b=2'], lowerCaseNames: true }, conn, normalize);
  assert.ok(r.ok);
  assert.deepEqual(r.request.headers.get('cookie'), ['a=1', 'b=2']);
});
