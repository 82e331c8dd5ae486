// A SIMPLE server sharing a port with a MUTUAL one asks for no client certificate and writes no
// x-forwarded-client-cert, as Envoy's: even for a certificate from a CA in Node's default root store
// (NODE_EXTRA_CA_CERTS stands for one), since a chain without a CA trusts none.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';

test('SIMPLE server beside a MUTUAL one writes no XFCC for a client cert from a default-root CA', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'pubca-'));
  const sh = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
  sh(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '1', '-subj', '/CN=Public Root']);
  sh(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=anyone']);
  execFileSync('sh', ['-c', 'printf "subjectAltName=DNS:admin.internal,URI:spiffe://cluster.local/ns/admin/sa/admin\\nextendedKeyUsage=clientAuth\\n" > ext && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out client.pem -days 1 -extfile ext'], { cwd: dir, stdio: 'ignore' });
  const out = execFileSync(process.execPath, [new URL('./gateway-simple-xfcc.child.ts', import.meta.url).pathname, dir], { env: { ...process.env, NODE_EXTRA_CA_CERTS: path.join(dir, 'ca.pem') }, encoding: 'utf8', timeout: 30000 });
  assert.doesNotMatch(out, /x-forwarded-client-cert/i, out.slice(0, 600));
});
