// The checks the debug API and the dashboard share against a browser sent by a page of another site
// (a DNS rebinding of its name to 127.0.0.1, or a request it makes across sites).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isLoopbackHostHeader, isLoopbackOrigin, loopbackRequestRefusal } from './loopback-request.ts';

test('Host: 127.0.0.1, localhost and [::1], any case, with or without a port; nothing else', () => {
  for (const h of ['127.0.0.1:15014', '127.0.0.1', 'localhost:15014', 'LOCALHOST', '[::1]:15014', '[::1]', ' localhost:1 ']) assert.ok(isLoopbackHostHeader(h), h);
  for (const h of [undefined, '', 'attacker.example', 'attacker.example:15014', '127.0.0.1.attacker.example', 'localhost.attacker.example:15014', '[::2]:15014', '0.0.0.0:15014']) assert.ok(!isLoopbackHostHeader(h), String(h));
});

test('Origin: a page served from loopback, over http or https; not null, not another site', () => {
  for (const o of ['http://127.0.0.1:15014', 'http://localhost:3000', 'https://localhost', 'http://[::1]:8080']) assert.ok(isLoopbackOrigin(o), o);
  for (const o of ['null', '', 'http://attacker.example', 'http://127.0.0.1.attacker.example', 'file://', 'http://127.0.0.1:1, http://attacker.example']) assert.ok(!isLoopbackOrigin(o), o);
});

test('the refusal: 421 for the Host, then 403 for a foreign Origin or a cross-site fetch; the CLI and curl pass', () => {
  assert.equal(loopbackRequestRefusal({ host: 'attacker.example:15014' }, 'the debug API')?.status, 421);
  assert.match(loopbackRequestRefusal({ host: 'attacker.example:15014' }, 'the debug API')?.error ?? '', /^the debug API answers requests addressed to 127\.0\.0\.1, localhost or \[::1\] only, not Host "attacker\.example:15014"$/);
  assert.equal(loopbackRequestRefusal({ host: '127.0.0.1:15014', origin: 'http://attacker.example' }, 'x')?.status, 403);
  assert.equal(loopbackRequestRefusal({ host: '127.0.0.1:15014', 'sec-fetch-site': 'cross-site' }, 'x')?.status, 403);
  assert.equal(loopbackRequestRefusal({ host: '127.0.0.1:15014', 'sec-fetch-site': 'something-new' }, 'x')?.status, 403);
  // Node's fetch: Host and `sec-fetch-mode: cors`, no Origin, no Sec-Fetch-Site; curl: Host only.
  assert.equal(loopbackRequestRefusal({ host: '127.0.0.1:15014', 'sec-fetch-mode': 'cors' }, 'x'), undefined);
  assert.equal(loopbackRequestRefusal({ host: 'localhost:15014' }, 'x'), undefined);
  assert.equal(loopbackRequestRefusal({ host: '[::1]:15014', origin: 'http://localhost:3000', 'sec-fetch-site': 'same-site' }, 'x'), undefined);
});
