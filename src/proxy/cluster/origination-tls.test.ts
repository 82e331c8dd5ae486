// What an origination UpstreamTlsContext checks on the server: the untyped SAN list, the SNI auto_sni
// sends beside a fixed one, a CA that reads empty, and a client key pair that does not match.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import { makeCa } from '../../../test/proxy/certs.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import { compileCluster } from './compile-cluster.ts';
import { originationOptions } from './origination-tls.ts';

const HPO = 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions';

function origination(validation: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const s = compileCluster({ name: 'c', type: 'STATIC', transport_socket: { name: 'tls', typed_config: { '@type': TypeUrl.UpstreamTlsContext, sni: 'api.example.com', common_tls_context: { validation_context: validation } } }, ...extra } as never);
  assert.ok(s.origination);
  return s.origination;
}

/** The verdict of the connection's name check on a certificate with these SANs. */
async function nameCheck(opts: ConnectionOptions | string, sans: Parameters<Awaited<ReturnType<typeof makeCa>>['issueWithSans']>[0]): Promise<Error | undefined> {
  assert.equal(typeof opts, 'object');
  const pem = (await (await makeCa()).issueWithSans(sans)).cert;
  const x = new X509Certificate(pem);
  const peer = { raw: x.raw, subjectaltname: x.subjectAltName } as PeerCertificate;
  return (opts as ConnectionOptions).checkServerIdentity?.('api.example.com', peer);
}

test('the untyped match_subject_alt_names is checked, each matcher against every SAN type (Envoy)', async () => {
  const o = origination({ trusted_ca: { inline_string: 'CA' }, match_subject_alt_names: [{ exact: 'only-this.example.com' }, { prefix: 'spiffe://td/' }] });
  const opts = originationOptions(o, () => undefined);
  assert.equal(await nameCheck(opts, [{ type: 'dns', value: 'only-this.example.com' }]), undefined);
  assert.equal(await nameCheck(opts, [{ type: 'url', value: 'spiffe://td/ns/a' }]), undefined, 'prefix matcher on a URI SAN');
  assert.match(String(await nameCheck(opts, [{ type: 'dns', value: 'api.example.com' }])), /presents none of/, 'the sni alone does not pass');
});

test('the untyped list without a CA is refused, as the typed one', () => {
  assert.throws(() => origination({ match_subject_alt_names: [{ exact: 'a.example.com' }] }), /without trusted CA is insecure/);
});

test('auto_sni beside a fixed sni: the request host is sent (the router override wins), an IP host leaves the sni', () => {
  const o = origination({}, { typed_extension_protocol_options: { [HPO]: { '@type': TypeUrl.HttpProtocolOptions, explicit_http_config: { http_protocol_options: {} }, upstream_http_protocol_options: { auto_sni: true } } } });
  const sent = (forHost?: string) => (originationOptions(o, () => undefined, forHost) as ConnectionOptions).servername;
  assert.equal(sent('req.example.com'), 'req.example.com');
  assert.equal(sent('10.0.0.1'), 'api.example.com');
  assert.equal(sent(undefined), 'api.example.com', 'TCP: no request host');
});

test('an empty trusted_ca (an empty CA file) is refused, not read as "verify nothing"', () => {
  assert.throws(() => origination({ trusted_ca: { inline_string: '' } }), /trusted_ca: is empty/);
  assert.throws(() => origination({ trusted_ca: { inline_string: '\n' } }), /trusted_ca: is empty/);
});

test('a client key pair read mid-rotation (the key not the certificate\'s) refuses the cluster, naming both files', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'origination-pair-'));
  const ca = await makeCa('origination-pair');
  const [a, b] = [await ca.issueWithSans([{ type: 'dns', value: 'c' }]), await ca.issueWithSans([{ type: 'dns', value: 'c' }])];
  const cert = path.join(dir, 'tls.crt');
  const key = path.join(dir, 'tls.key');
  writeFileSync(cert, b.cert);
  writeFileSync(key, a.key);
  const tc = { '@type': TypeUrl.UpstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: `file-cert:${cert}~${key}` }] } };
  assert.throws(() => compileCluster({ name: 'c', type: 'STATIC', transport_socket: { name: 'tls', typed_config: tc } } as never), { message: new RegExp(`tls_certificate_sds_secret_configs\\[0\\]\\.name: ${cert} and ${key} are not a certificate and its key$`) });
});
