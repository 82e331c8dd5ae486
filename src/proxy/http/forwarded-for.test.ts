import assert from 'node:assert/strict';
import { test } from 'node:test';
import { appendForwardedFor, forwardedAddresses, trustedClientAddress } from './forwarded-for.ts';

test('the trusted client is N hops from the right of XFF and the peer', () => {
  const cases: [string[], number, string][] = [
    [[], 0, '10.0.0.9'],
    [['1.1.1.1'], 0, '10.0.0.9'], // nothing trusted: a client-written XFF changes nothing
    [['1.1.1.1'], 1, '1.1.1.1'], // one trusted proxy in front (the peer): the client is its XFF entry
    [['6.6.6.6', '1.1.1.1'], 1, '1.1.1.1'], // a forged leftmost entry is ignored
    [['6.6.6.6', '1.1.1.1', '2.2.2.2'], 2, '1.1.1.1'],
    [['1.1.1.1'], 5, '10.0.0.9'], // fewer entries than hops: the peer, as Envoy (the entry may be the client's own)
    [['1.2.3.4'], 2, '10.0.0.9'], // one entry, two trusted hops: a client writing XFF directly does not choose its address
    [[], 1, '10.0.0.9'],
  ];
  for (const [xff, hops, want] of cases) assert.equal(trustedClientAddress(xff, '10.0.0.9', hops), want, `${xff.join(',')} hops=${hops}`);
});

test('XFF lines and lists are one list, and the edge appends its peer', () => {
  assert.deepEqual(forwardedAddresses(['1.1.1.1, 2.2.2.2', ' 3.3.3.3 ']), ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
  assert.deepEqual(forwardedAddresses(undefined), []);
  assert.equal(appendForwardedFor('1.1.1.1', '10.0.0.9'), '1.1.1.1, 10.0.0.9');
  assert.equal(appendForwardedFor(undefined, '10.0.0.9'), '10.0.0.9');
});

// A dual-stack listener's IPv4 peer is `::ffff:a.b.c.d` on the socket: Envoy reports it as IPv4 and writes
// it so into XFF, and it is the client as IPv4 when it stands in. Entries are kept as they were written
// (Envoy parses XFF with v6only true, so a written `::ffff:` entry is an IPv6 address).
test('the peer is written and used as IPv4; entries stay as written', () => {
  assert.equal(appendForwardedFor(undefined, '::ffff:10.0.0.9'), '10.0.0.9');
  assert.equal(appendForwardedFor('::ffff:1.1.1.1', '::ffff:10.0.0.9'), '::ffff:1.1.1.1, 10.0.0.9');
  assert.equal(appendForwardedFor('1.1.1.1', '2001:db8::9'), '1.1.1.1, 2001:db8::9');
  assert.equal(trustedClientAddress(['::ffff:1.1.1.1'], '::ffff:10.0.0.9', 1), '::ffff:1.1.1.1');
  assert.equal(trustedClientAddress([], '::ffff:10.0.0.9', 0), '10.0.0.9');
  assert.equal(trustedClientAddress(['1.1.1.1'], '::ffff:10.0.0.9', 3), '10.0.0.9');
});
