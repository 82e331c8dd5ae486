// The SecretStore's secure contexts for chains whose certificates are files: a context is shared only by
// chains naming the same files, never by chains whose different files happen to hold the same PEM, and a
// client CA file read empty is watched until a CA is written to it. Timers are fired by hand; file events are real.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import tls from 'node:tls';
import { makeCa } from '../../../test/proxy/certs.ts';
import { ManualTimers } from '../../../test/proxy/harness.ts';
import { compileDownstreamTls } from '../tls/downstream-tls.ts';
import { FILE_DEBOUNCE_MS } from '../tls/file-credential-watch.ts';
import { SecretStore } from './secrets.ts';

const chain = (cert: string, key: string, ca: string) =>
  compileDownstreamTls({
    require_client_certificate: true,
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: `file-cert:${cert}~${key}` }],
      combined_validation_context: { validation_context_sds_secret_config: { name: `file-root:${ca}` } },
    },
  });

async function until(what: string, ok: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(ok(), `timed out waiting for ${what}`);
}

/** Whether a server on `ctx` finds the client's certificate signed by its CA. */
async function clientAccepted(ctx: tls.SecureContext, client: { cert: string; key: string }): Promise<boolean> {
  const server = tls.createServer({ SNICallback: (_n, cb) => cb(null, ctx), requestCert: true, rejectUnauthorized: false });
  const authorized = new Promise<boolean>((resolve) =>
    server.once('secureConnection', (s) => {
      resolve(s.authorized);
      s.destroy();
    }),
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = tls.connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port, servername: 'gw.example.com', rejectUnauthorized: false, ...client });
  c.on('error', () => {});
  const ok = await authorized;
  c.destroy();
  server.close();
  return ok;
}

const [server, ca1, ca2] = await Promise.all([makeCa('secrets-srv'), makeCa('secrets-ca1'), makeCa('secrets-ca2')]);
const leaf = await server.issueWithSans([{ type: 'dns', value: 'gw.example.com' }]);
const ca2Client = await ca2.issueWithSans([{ type: 'dns', value: 'client.example' }]);

function setup() {
  const dir = mkdtempSync(path.join(tmpdir(), 'secrets-'));
  const f = (n: string) => path.join(dir, n);
  writeFileSync(f('tls.crt'), leaf.cert);
  writeFileSync(f('tls.key'), leaf.key);
  const timers = new ManualTimers();
  return { f, timers, store: new SecretStore({ timers }) };
}

test('chains naming different client-CA files that hold the same CA get contexts of their own: one file rotated, the other chain keeps its CA', async () => {
  const { f, timers, store } = setup();
  writeFileSync(f('ca-a.pem'), ca1.ca);
  writeFileSync(f('ca-b.pem'), ca1.ca);
  const a = chain(f('tls.crt'), f('tls.key'), f('ca-a.pem'));
  const b = chain(f('tls.crt'), f('tls.key'), f('ca-b.pem'));
  assert.notEqual(a.contextKey, b.contextKey);
  assert.equal(chain(f('tls.crt'), f('tls.key'), f('ca-a.pem')).contextKey, a.contextKey, 'the same files: one context');
  store.holdListenerFiles([a, b]);
  writeFileSync(f('ca-a.pem'), ca2.ca);
  await until('the event', () => timers.pending.size > 0);
  timers.fire(FILE_DEBOUNCE_MS);
  await until('the new CA', () => store.file(`root:${f('ca-a.pem')}`) === ca2.ca);
  const ctxA = store.secureContext(a);
  const ctxB = store.secureContext(b);
  assert.ok(ctxA && ctxB);
  assert.notEqual(ctxA, ctxB);
  assert.equal(await clientAccepted(ctxA, ca2Client), true);
  assert.equal(await clientAccepted(ctxB, ca2Client), false, 'b trusts only what its own file holds');
  store.close();
});

test('a client-CA file read empty is watched: until a CA is written no client verifies (not the public roots), then it does', async () => {
  const { f, timers, store } = setup();
  writeFileSync(f('ca.pem'), '');
  const t = chain(f('tls.crt'), f('tls.key'), f('ca.pem'));
  store.holdListenerFiles([t]);
  assert.deepEqual(store.watchedDirs(), [path.dirname(f('ca.pem'))]);
  assert.deepEqual(store.contextOptions(t)?.ca, []);
  writeFileSync(f('ca.pem'), ca2.ca);
  await until('the event', () => timers.pending.size > 0);
  timers.fire(FILE_DEBOUNCE_MS);
  await until('the CA', () => store.file(`root:${f('ca.pem')}`) === ca2.ca);
  const ctx = store.secureContext(t);
  assert.ok(ctx);
  assert.equal(await clientAccepted(ctx, ca2Client), true);
  store.close();
});

test('a client-CA file let go (its gateway removed), rotated meanwhile and named again: the context built before is not served', async () => {
  const { f, store } = setup();
  const ca1Client = await ca1.issueWithSans([{ type: 'dns', value: 'client.example' }]);
  writeFileSync(f('ca.pem'), ca1.ca);
  const v1 = chain(f('tls.crt'), f('tls.key'), f('ca.pem'));
  store.holdListenerFiles([v1]);
  const before = store.secureContext(v1);
  assert.ok(before);
  assert.equal(await clientAccepted(before, ca1Client), true);
  store.holdListenerFiles([]);
  // Revoked while nothing watched the file; the gateway's return reads CA2.
  writeFileSync(f('ca.pem'), ca2.ca);
  const v2 = chain(f('tls.crt'), f('tls.key'), f('ca.pem'));
  store.holdListenerFiles([v2]);
  const after = store.secureContext(v2);
  assert.ok(after);
  assert.notEqual(after, before);
  assert.equal(await clientAccepted(after, ca1Client), false);
  assert.equal(await clientAccepted(after, ca2Client), true);
  store.close();
});
