// The tunnel listener's TLS settings proved with real clients: openssl s_client, curl and sslscan.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { CertificateManager } from '../../src/proxy/tls/certificate-manager.ts';
import { MESH_CIPHERS } from '../../src/proxy/tls/mesh-tls-policy.ts';
import { MeshFixture, startTunnelServer, type TunnelServer } from './mesh-tls-harness.ts';
import { runTool, type ToolResult } from './run-tool.ts';

let fx: MeshFixture;
let serverManager: CertificateManager;
let server: TunnelServer;
let client: { cert: string; key: string };

before(async () => {
  fx = await MeshFixture.create();
  serverManager = await fx.manager('podinfo', 'podinfo');
  server = await startTunnelServer(serverManager);
  client = fx.writeIdentity('frontend', await fx.manager('frontend', 'frontend'));
});

after(async () => {
  await server.close();
  fx.close();
});

function sClient(args: string[]): Promise<ToolResult> {
  return runTool(
    'openssl',
    ['s_client', '-connect', `127.0.0.1:${server.port}`, '-CAfile', fx.file('root.pem'), '-alpn', 'h2', '-ign_eof', ...args],
    // The HTTP/2 preface as the first application bytes: the read after the handshake is what matters.
    { input: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n' },
  );
}

/**
 * How s_client's read ends when the server refuses its certificate after the TLS 1.3 handshake: EOF, an
 * alert, or a reset, the last when the server closes with s_client's preface still unread in its socket
 * buffer (the kernel then answers with RST): which one depends on timing, each means refused.
 */
const refusedRead = /unexpected eof|alert|errno=104|connection reset/i;

function curl(args: string[]): Promise<ToolResult> {
  // `-k`: an SVID has no DNS SAN, so curl's hostname check cannot pass; chain and identity checks
  // under test here are the server's, on the client certificate.
  return runTool('curl', ['-sS', '-k', '--http2', '--max-time', '10', ...args, `https://127.0.0.1:${server.port}/`]);
}

test('TLS 1.3 without a client certificate: handshake completes, the read gets alert 116', async () => {
  const before = server.served.length;
  const r = await sClient(['-tls1_3']);
  assert.match(r.out, /TLSv1\.3/);
  assert.match(r.out, /alert certificate required|alert number 116/i);
  assert.equal(server.served.length, before);
});

test('TLS 1.2 without a client certificate: handshake failure', async () => {
  const r = await sClient(['-tls1_2']);
  assert.match(r.out, /handshake failure|alert number 40/i);
});

test('TLS 1.1 is refused', async () => {
  const r = await sClient(['-tls1_1']);
  assert.doesNotMatch(r.out, /Cipher is ECDHE|New, TLSv1\.1/);
  assert.notEqual(r.status, 0);
});

test('curl with the mesh client certificate gets through and is seen as its SPIFFE ID', async () => {
  const r = await curl(['--cert', client.cert, '--key', client.key]);
  assert.equal(r.status, 0, r.out);
  assert.match(r.out, /^ok spiffe:\/\/cluster\.local\/ns\/frontend\/sa\/frontend$/m);
});

test('curl without a client certificate is refused', async () => {
  const r = await curl([]);
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.out, /^ok /m);
});

test('a certificate from an untrusted CA is refused', async () => {
  const seen = server.clientErrors.length;
  const bad = await fx.mint('untrusted', { uris: ['spiffe://cluster.local/ns/frontend/sa/frontend'], untrusted: true });
  const r = await curl(['--cert', bad.cert, '--key', bad.key]);
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.out, /^ok /m);
  // Node checks the chain after OpenSSL's handshake and closes without an alert: the server's reason is
  // the evidence, and the client's read ends in EOF with no response.
  // Same issuer name as the mesh root, other key: the chain check fails on the signature.
  const reasons = server.clientErrors.slice(seen);
  assert.ok(reasons.some((c) => /SIGNATURE|UNABLE_TO_VERIFY|UNKNOWN_CA/.test(c)), reasons.join());
  const s = await sClient(['-cert', bad.cert, '-key', bad.key]);
  assert.match(s.out, refusedRead);
  assert.doesNotMatch(s.out, /HTTP\/2|ok spiffe/);
});

test('an expired certificate is refused', async () => {
  const seen = server.clientErrors.length;
  const served = server.served.length;
  const bad = await fx.mint('expired', {
    uris: ['spiffe://cluster.local/ns/frontend/sa/frontend'],
    notBefore: new Date(Date.now() - 7200_000),
    notAfter: new Date(Date.now() - 3600_000),
  });
  const r = await curl(['--cert', bad.cert, '--key', bad.key]);
  assert.notEqual(r.status, 0);
  assert.doesNotMatch(r.out, /^ok /m);
  // The server refuses the handshake (no request served); the client's read ends without a response.
  assert.ok(server.clientErrors.length > seen);
  const s = await sClient(['-cert', bad.cert, '-key', bad.key]);
  assert.match(s.out, refusedRead);
  assert.equal(server.served.length, served);
});

test('a certificate with two URI SANs or a non-SPIFFE SAN is closed before any request', async () => {
  const rejectedBefore = server.rejected;
  const two = await fx.mint('two-sans', {
    uris: ['spiffe://cluster.local/ns/frontend/sa/frontend', 'spiffe://cluster.local/ns/kube-system/sa/admin'],
  });
  const web = await fx.mint('web-san', { uris: ['https://frontend.example'] });
  for (const bad of [two, web]) {
    const r = await curl(['--cert', bad.cert, '--key', bad.key]);
    assert.notEqual(r.status, 0, r.out);
    assert.doesNotMatch(r.out, /^ok /m);
  }
  assert.equal(server.rejected, rejectedBefore + 2);
});

test('sslscan with a client certificate lists only TLS 1.2/1.3 and the allowed suites', async (t) => {
  const probe = await runTool('sslscan', ['--version']);
  if (probe.missing) {
    t.skip('sslscan is not installed (apt-get install -y sslscan)');
    return;
  }
  const r = await runTool(
    'sslscan',
    ['--no-colour', '--no-heartbleed', `--certs=${client.cert}`, `--pk=${client.key}`, `127.0.0.1:${server.port}`],
    { timeoutMs: 30_000 },
  );
  const out = r.out;
  for (const old of ['SSLv2', 'SSLv3', 'TLSv1.0', 'TLSv1.1']) assert.match(out, new RegExp(`${old}\\s+disabled`));
  assert.match(out, /TLSv1\.2\s+enabled/);
  assert.match(out, /TLSv1\.3\s+enabled/);
  const allowed = new Set(MESH_CIPHERS.split(':'));
  const tls12 = [...out.matchAll(/^(?:Preferred|Accepted)\s+TLSv1\.2\s+\d+ bits\s+(\S+)/gm)].map((m) => m[1]!);
  assert.ok(tls12.length > 0, out);
  for (const suite of tls12) assert.ok(allowed.has(suite), `unexpected TLS 1.2 suite ${suite}`);
  const tls13 = [...out.matchAll(/^(?:Preferred|Accepted)\s+TLSv1\.3\s+\d+ bits\s+(\S+)/gm)].map((m) => m[1]!);
  for (const suite of tls13) assert.match(suite, /GCM|CHACHA20/);
});
