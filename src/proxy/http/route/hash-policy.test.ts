// The cookie hash policy's generated Set-Cookie, as Envoy's Http::Utility::makeSetCookieValue writes it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DownstreamRequest } from '../stream.ts';
import { HashPolicy } from './hash-policy.ts';

function req(headers: Record<string, string> = {}): DownstreamRequest {
  return {
    method: 'GET',
    scheme: 'http',
    authority: 'a',
    sentAuthority: 'a',
    path: '/',
    query: '',
    headers: new Map(Object.entries(headers)),
    protocol: 'HTTP/1.1',
    connection: { remoteAddress: '10.1.2.3', remotePort: 4444, localAddress: '', localPort: 80, tls: false },
  };
}

const cookieOf = (cookie: Record<string, unknown>) => new HashPolicy([{ cookie: { name: 'user', ...cookie } }], 'hp').compute(req())?.setCookie;

test('cookie ttl 0 (Istio httpCookie {ttl: 0s}): a session cookie, no Max-Age (Envoy writes Max-Age only when it is not 0)', () => {
  assert.match(cookieOf({ ttl: { seconds: '0' } }) ?? '', /^user="[0-9a-f]{8}"; HttpOnly$/);
  assert.match(cookieOf({ ttl: {} }) ?? '', /^user="[0-9a-f]{8}"; HttpOnly$/);
  // Below a second rounds down to 0 seconds, as Envoy's std::chrono::seconds of the ttl.
  assert.match(cookieOf({ ttl: { seconds: '0', nanos: 500_000_000 }, path: '/app' }) ?? '', /^user="[0-9a-f]{8}"; Path=\/app; HttpOnly$/);
});

test('cookie ttl above 0: Max-Age, then Path, then HttpOnly; no ttl: no cookie generated', () => {
  assert.match(cookieOf({ ttl: { seconds: '60' }, path: '/' }) ?? '', /^user="[0-9a-f]{8}"; Max-Age=60; Path=\/; HttpOnly$/);
  assert.match(cookieOf({ ttl: { seconds: '90' } }) ?? '', /^user="[0-9a-f]{8}"; Max-Age=90; HttpOnly$/);
  assert.equal(new HashPolicy([{ cookie: { name: 'user' } }], 'hp').compute(req()), null);
  // A request that has the cookie gets none.
  assert.equal(new HashPolicy([{ cookie: { name: 'user', ttl: { seconds: '0' } } }], 'hp').compute(req({ cookie: 'user="abc"' }))?.setCookie, null);
});

test('cookie attributes: `; name=value` (or `; name`) after Path, before HttpOnly (makeSetCookieValue)', () => {
  const attributes = [{ name: 'SameSite', value: 'Strict' }, { name: 'Secure' }];
  assert.match(cookieOf({ ttl: { seconds: '60' }, path: '/', attributes }) ?? '', /^user="[0-9a-f]{8}"; Max-Age=60; Path=\/; SameSite=Strict; Secure; HttpOnly$/);
  assert.throws(() => cookieOf({ ttl: { seconds: '60' }, attributes: [{ name: '' }] }), /attributes\[0\]\.name/);
  assert.throws(() => cookieOf({ ttl: { seconds: '60' }, attributes: [{ name: 'a', value: 'x\r\nSet-Cookie: b=1' }] }), /attributes\[0\]\.value/);
});

test('query_parameter hashes the value as sent: Envoy\'s hash_policy.cc does not percent-decode it', () => {
  const policy = new HashPolicy([{ query_parameter: { name: 'sid' } }], 'hp');
  const hash = (query: string) => policy.compute({ ...req(), query })?.hash;
  assert.equal(hash('sid=abc'), hash('x=1&sid=abc'));
  assert.notEqual(hash('sid=a%62c'), hash('sid=abc'));
});
