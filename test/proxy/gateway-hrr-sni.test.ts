// A 'tls' port (servers sharing TLS settings, SNI picks the certificate and CA): Node asks SNICallback for
// the first ClientHello only, so after a HelloRetryRequest a client can name another server in its second.
// a.example.com is MUTUAL against CA-A, other/* MUTUAL against CA-B: a CA-B client naming x.other first
// (CA-B's context checks its certificate) and a.example.com second is never served by a.example.com.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { serverKind } from '../../src/proxy/listener/bound-listener.ts';
import { type App, type Cred, type RouterEnv, startTenantsGateway } from './gateway-tls-fixture.ts';
import { hrrRequest } from './tls13-hrr-client.ts';

let env: RouterEnv;
let app: App;
let port: number;
let clientB: Cred;

before(async () => {
  ({ env, app, port, clientB } = await startTenantsGateway({ aMinTls13: false }));
});
after(async () => {
  await env?.close();
  app?.server.close();
});

test('the port is a "tls" port, and a client naming x.other in both ClientHellos is served by other/*', async () => {
  const listener = [...env.proxy.listeners.listeners()].find((l) => l.name === '0.0.0.0_8443');
  assert.ok(listener);
  assert.equal(serverKind(listener), 'tls');
  const r = await hrrRequest(port, 'x.other', 'x.other', 'x.other', clientB.cert, clientB.key);
  assert.match(r, /^HTTP\/1\.1 404/, r);
});

test('a CA-B client naming a.example.com in both ClientHellos is refused', async () => {
  const r = await hrrRequest(port, 'a.example.com', 'a.example.com', 'a.example.com', clientB.cert, clientB.key);
  assert.doesNotMatch(r, /^HTTP/, r);
});

test('a CA-B client switching SNI to a.example.com after a HelloRetryRequest is refused', async () => {
  const r = await hrrRequest(port, 'x.other', 'a.example.com', 'a.example.com', clientB.cert, clientB.key);
  assert.doesNotMatch(r, /^HTTP/, r);
});

test('a client naming no server first and a.example.com after a HelloRetryRequest is refused', async () => {
  const r = await hrrRequest(port, undefined, 'a.example.com', 'a.example.com', clientB.cert, clientB.key);
  assert.doesNotMatch(r, /^HTTP/, r);
});
