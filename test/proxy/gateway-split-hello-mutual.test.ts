// a.example.com is MUTUAL with CA-A; another server on the port, hosts "other/*" (no SNI names), is
// MUTUAL with CA-B. A CA-B client that splits its ClientHello so the SNI is in the second record is
// still checked against CA-A: the server chosen from the ClientHello is the one that serves.
import assert from 'node:assert/strict';
import type tls from 'node:tls';
import { after, before, test } from 'node:test';
import { type Fetched, fetchFragmented as fetchOver } from './client-hello-split.ts';
import { type App, type Cred, type RouterEnv, startTenantsGateway } from './gateway-tls-fixture.ts';

let env: RouterEnv;
let app: App;
let port: number;
let clientB: Cred;

before(async () => {
  ({ env, app, port, clientB } = await startTenantsGateway({ aMinTls13: true }));
});
after(async () => {
  await env?.close();
  app?.server.close();
});

function fetchFragmented(maxVersion: tls.SecureVersion, fragment: boolean, servername = 'a.example.com'): Promise<Fetched> {
  return fetchOver(port, { maxVersion, fragment, servername, client: clientB });
}

const OK = /^HTTP\/1\.1 200/;
const none = () => ({ protocol: null, head: '' });

test('controls: tenant B (CA-B) cannot reach a.example.com unfragmented, nor through its own other/* server', async () => {
  const direct = await fetchFragmented('TLSv1.3', false).catch(none);
  assert.doesNotMatch(direct.head, OK);
  const own = await fetchFragmented('TLSv1.3', false, 'x.other');
  assert.match(own.head, /^HTTP\/1\.1 404/);
});

test('a ClientHello for a.example.com split over two records is still verified against CA-A', async () => {
  const r = await fetchFragmented('TLSv1.3', true).catch(none);
  if (OK.test(r.head)) assert.fail(`CA-B client served by the a.example.com MUTUAL server: ${r.head.split('\r\n').filter((l) => /^HTTP|x-served/i.test(l)).join(' | ')}`);
});
