// TLS session resumption on a MUTUAL server of a mixed port (a TLS socket over a stream, its context
// from createSecureContext): each chain's context has its own session ID context, without which OpenSSL
// aborts a resumed session when it asks for a client certificate.
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { after, before, test } from 'node:test';
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

function once(servername: string, session?: Buffer, maxVersion: tls.SecureVersion = 'TLSv1.2'): Promise<{ status: string; session: Buffer | undefined; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const t = tls.connect({ host: '127.0.0.1', port, servername, rejectUnauthorized: false, cert: clientB.cert, key: clientB.key, maxVersion, ...(session ? { session } : {}) });
    let data = '';
    let sess: Buffer | undefined;
    t.on('session', (s) => (sess = s));
    t.on('secureConnect', () => t.write(`GET / HTTP/1.1\r\nhost: ${servername}\r\nconnection: close\r\n\r\n`));
    t.on('data', (d) => (data += d));
    t.on('end', () => resolve({ status: data.split('\r\n')[0] ?? '', session: sess ?? t.getSession(), reused: t.isSessionReused() }));
    t.on('error', reject);
  });
}

for (const version of ['TLSv1.2', 'TLSv1.3'] as const) {
  test(`a client resuming its ${version} session on the MUTUAL other/* server is served`, async () => {
    const first = await once('x.other', undefined, version);
    assert.match(first.status, /^HTTP\/1\.1 404/);
    const second = await once('x.other', first.session, version);
    assert.match(second.status, /^HTTP\/1\.1 404/, `second: ${JSON.stringify(second.status)} reused=${second.reused}`);
    assert.equal(second.reused, true);
  });
}

test("Node's https Agent resumes its session on the MUTUAL server: both requests are served", async () => {
  const agent = new https.Agent({ keepAlive: false, maxVersion: 'TLSv1.2' });
  const request = () =>
    new Promise<{ status: number; reused: boolean }>((resolve, reject) => {
      const req = https.request({ host: '127.0.0.1', port, servername: 'x.other', path: '/', headers: { host: 'x.other' }, agent, rejectUnauthorized: false, cert: clientB.cert, key: clientB.key }, (res) => {
        const reused = (res.socket as tls.TLSSocket).isSessionReused();
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, reused }));
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal((await request()).status, 404);
  const second = await request();
  agent.destroy();
  assert.deepEqual(second, { status: 404, reused: true });
});
