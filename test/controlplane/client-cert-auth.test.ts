// istiod's ClientCertAuthenticator on the TLS xDS port (15012): a proxy that presents its workload
// certificate as its TLS client certificate is authenticated by it, for CSR (renewal) and ADS, when its
// token has expired or is gone. A certificate from another CA, expired by the control plane's clock,
// or from a root since removed proves nothing: the token decides, and without one the call is refused.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { spiffeIdOf } from '../../src/ca/svid.ts';
import { x509 } from '../../src/ca/x509.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { xdsClientTls } from '../../src/controlplane/xds-tls.ts';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';
import { xdsClientCredentials, xdsTlsTransport } from '../../src/proxy/xds-transport.ts';
import { AdsClient } from '../../src/xds/ads-client.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';
import { certificateFrom, type Held } from './workload-certificate.ts';

const config = `apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec:
      serviceAccountName: api
      containers: [{name: api, image: x, ports: [{containerPort: 8080}]}]
`;
const apiId = 'spiffe://cluster.local/ns/shop/sa/api';
const apiToken = { namespace: 'shop', serviceAccount: 'api', workload: 'api' };
const node = sidecarNode('shop', 'api-0', 'api', 'api');

interface Mesh {
  cp: ControlPlane;
  ca: CertificateAuthority;
  clock: ManualClock;
  logs: string[];
  /** The root the control plane's own certificate chains to (issued at its start). */
  serverRoots: readonly string[];
}

/**
 * A control plane with its TLS port. Its clock starts at the wall clock's time (TLS checks a chain by
 * the wall clock, the control plane by its own) and moves only when a test says.
 */
async function startMesh(t: TestContext): Promise<Mesh> {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-client-cert-'));
  await writeFile(path.join(dir, 'api.yaml'), config);
  const clock = new ManualClock(Date.now());
  const ca = await CertificateAuthority.ephemeral();
  const logs: string[] = [];
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', rescanMs: 0, clock, ca, log: (l, m) => logs.push(`${l} ${m}`) });
  t.after(async () => {
    await cp.close();
    await rm(dir, { recursive: true });
  });
  return { cp, ca, clock, logs, serverRoots: [...ca.trustBundle()] };
}

/** Asks the TLS port's CSR service for `spiffeId`: the SPIFFE ID signed, or the gRPC status of the refusal. */
async function renew(m: Mesh, spiffeId: string, token: string, cert?: Held): Promise<string | grpc.status> {
  const tls = xdsClientTls(m.serverRoots, undefined, cert);
  const csr = createCsrClient({ address: m.cp.xdsTlsAddress, token: () => token, credentials: tls.credentials, options: tls.options });
  try {
    const { csrPem } = await createWorkloadCsr(spiffeId);
    return await csr.sign(csrPem, 3600).then(
      (chain) => spiffeIdOf(new x509.X509Certificate(chain[0] as string).rawData),
      (err: { grpcCode: grpc.status }) => err.grpcCode,
    );
  } finally {
    csr.close();
  }
}

/** Opens an ADS stream on the TLS port: 'accepted' once it is answered, or the status it was refused with. */
async function adsOutcome(m: Mesh, token: string | undefined, cert: Held | undefined, n = node): Promise<'accepted' | grpc.status> {
  const c = new RawAdsClient(m.cp.xdsTlsAddress, n, token, xdsClientTls(m.serverRoots, undefined, cert));
  try {
    c.subscribe(TypeUrl.Cluster);
    const answered = new Promise<'accepted'>((resolve) => c.call.once('data', () => resolve('accepted')));
    return await Promise.race([answered, c.status.then((s) => s.code)]);
  } finally {
    c.close();
  }
}

function issued(m: Mesh, auth: string): number {
  const line = m.cp.metrics.registry.render().split('\n').find((l) => l.startsWith(`citadel_server_success_cert_issuance_count{auth="${auth}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

test('with its token expired, a proxy renews by presenting its certificate: the certificate identity is signed', async (t) => {
  const m = await startMesh(t);
  const token = m.cp.issueBootstrapToken(apiToken, m.clock.now() + 60_000);
  // Bootstrap: the token alone.
  const tls = xdsClientTls(m.serverRoots);
  const first = createCsrClient({ address: m.cp.xdsTlsAddress, token: () => token, credentials: tls.credentials, options: tls.options });
  const { keyPem, csrPem } = await createWorkloadCsr(apiId);
  const chain = await first.sign(csrPem, 3600);
  first.close();
  const held: Held = { certChainPem: chain.slice(0, -1).join(''), keyPem, notAfter: new x509.X509Certificate(chain[0] as string).notAfter.getTime() };
  assert.equal(issued(m, 'token'), 1);

  m.clock.advance(61_000);
  assert.equal(await renew(m, apiId, token), grpc.status.UNAUTHENTICATED, 'the token alone no longer renews');
  assert.equal(await renew(m, apiId, token, held), apiId, 'the expired token and the certificate');
  assert.equal(await renew(m, apiId, '', held), apiId, 'the certificate and no token at all');
  assert.equal(issued(m, 'client_certificate'), 2);
  // The certificate proves its identity only: a CSR for another is refused as a token's would be.
  assert.equal(await renew(m, 'spiffe://cluster.local/ns/shop/sa/admin', '', held), grpc.status.PERMISSION_DENIED);
  assert.ok(m.logs.some((l) => l.includes('certificate refused for shop/api: CA_IDENTITY_MISMATCH')), m.logs.join('\n'));
});

test('a certificate from another CA, or expired by the control plane clock, proves nothing: the token decides', async (t) => {
  const m = await startMesh(t);
  const other = await certificateFrom(await CertificateAuthority.ephemeral(), apiToken);
  assert.equal(await renew(m, apiId, '', other), grpc.status.UNAUTHENTICATED);
  assert.equal(await adsOutcome(m, undefined, other), grpc.status.UNAUTHENTICATED);
  // Beside a valid token, the foreign certificate is ignored and the token authenticates.
  assert.equal(await renew(m, apiId, m.cp.issueBootstrapToken(apiToken), other), apiId);
  assert.equal(issued(m, 'client_certificate'), 0);

  const mine = await certificateFrom(m.ca, apiToken, 600);
  assert.equal(await renew(m, apiId, '', mine), apiId);
  // TLS checks the chain by the wall clock, where it is still valid; the control plane by its own.
  m.clock.advance(mine.notAfter - m.clock.now());
  assert.equal(await renew(m, apiId, '', mine), grpc.status.UNAUTHENTICATED);
  assert.equal(await adsOutcome(m, undefined, mine), grpc.status.UNAUTHENTICATED);
  const expiredAt = new Date(mine.notAfter).toISOString();
  assert.ok(m.logs.some((l) => l.includes(`refused ADS stream from `) && l.endsWith(`CERT_EXPIRED client certificate ${apiId} expired at ${expiredAt}`)), m.logs.join('\n'));
  assert.ok(m.logs.some((l) => /refused certificate request from \S+: CERT_EXPIRED client certificate/.test(l)), m.logs.join('\n'));
  assert.match(m.cp.metrics.registry.render(), /outrigger_xds_refused_streams_total\{code="CERT_EXPIRED"\} 1/);
  // An expired token beside it is refused for its own reason, the certificate's said too.
  const stale = m.cp.issueBootstrapToken(apiToken, m.clock.now() - 1000);
  assert.equal(await adsOutcome(m, stale, mine), grpc.status.UNAUTHENTICATED);
  assert.ok(m.logs.some((l) => l.includes('TOKEN_EXPIRED token expired at') && l.includes('; CERT_EXPIRED client certificate')), m.logs.join('\n'));
});

test("ADS takes the certificate's identity: the node must be of its service account; the stream ends at its expiry", async (t) => {
  const m = await startMesh(t);
  const held = await certificateFrom(m.ca, apiToken, 600);
  const c = new RawAdsClient(m.cp.xdsTlsAddress, node, undefined, xdsClientTls(m.serverRoots, undefined, held));
  t.after(() => c.close());
  c.subscribe(TypeUrl.Cluster);
  c.ack(await c.next(10_000));
  await c.barrier();
  assert.deepEqual(
    m.cp.connections.map((x) => x.identity),
    [{ namespace: 'shop', serviceAccount: 'api', workload: 'api' }],
  );
  // The certificate proves shop/api: a node claiming another service account is refused.
  assert.equal(await adsOutcome(m, undefined, held, sidecarNode('shop', 'admin-0', 'admin', 'admin')), grpc.status.PERMISSION_DENIED);
  assert.ok(m.logs.some((l) => l.includes(`IDENTITY_MISMATCH node shop/admin is not the certificate's ${apiId}`)), m.logs.join('\n'));
  // A SPIFFE ID names no workload: a declared pod of another workload of the service account is refused, said of the certificate.
  assert.equal(await adsOutcome(m, undefined, held, sidecarNode('shop', 'api-0', 'api', 'api-batch')), grpc.status.PERMISSION_DENIED);
  const notYours = 'NOT_YOUR_WORKLOAD pod shop/api-0 is declared for service account api (workload api); the client certificate is for shop/api and the node claims workload api-batch';
  assert.ok(m.logs.some((l) => l.endsWith(notYours)), m.logs.join('\n'));

  m.clock.advance(held.notAfter - m.clock.now());
  assert.equal((await c.status).code, grpc.status.UNAUTHENTICATED);
  assert.ok(m.logs.some((l) => l.endsWith(`CERT_EXPIRED client certificate ${apiId} expired at ${new Date(held.notAfter).toISOString()} on an open stream`)), m.logs.join('\n'));
});

test("the CA's current roots decide: a certificate of a rotated-out root holds until that root is removed", async (t) => {
  const m = await startMesh(t);
  const before = await certificateFrom(m.ca, apiToken);
  const oldRoot = await m.ca.rotateSelfSignedRoot();
  // The control plane's own certificate is signed again by the new root: the proxy trusts both (its ROOTCA).
  const rotated = { ...m, serverRoots: [...m.ca.trustBundle()] };
  const after = await certificateFrom(m.ca, apiToken);
  assert.equal(await renew(rotated, apiId, '', before), apiId, 'the old root is still in the trust bundle');
  assert.equal(await renew(rotated, apiId, '', after), apiId, 'the new root signs now');
  m.ca.removeTrustedRoot(oldRoot);
  assert.equal(await renew(rotated, apiId, '', before), grpc.status.UNAUTHENTICATED);
  assert.equal(await renew(rotated, apiId, '', after), apiId);
});

test("a root the bundle merely trusts (federated) signs no identity here, even one in the mesh's trust domain", async (t) => {
  const m = await startMesh(t);
  // Another CA of the same trust domain, its root added to this mesh's bundle: TLS now accepts its
  // leaves, so only the authenticator stands between them and a certificate from this CA.
  const federated = await CertificateAuthority.ephemeral({ trustDomain: 'cluster.local' });
  m.ca.addTrustedRoot(federated.trustBundle()[0] as string);
  const istiod = { namespace: 'istio-system', serviceAccount: 'istiod' };
  const forged = await certificateFrom(federated, istiod);
  assert.equal(await renew(m, 'spiffe://cluster.local/ns/istio-system/sa/istiod', '', forged), grpc.status.UNAUTHENTICATED);
  const forgedApi = await certificateFrom(federated, apiToken);
  assert.equal(await renew(m, apiId, '', forgedApi), grpc.status.UNAUTHENTICATED);
  assert.equal(await adsOutcome(m, undefined, forgedApi), grpc.status.UNAUTHENTICATED);
  assert.ok(m.logs.some((l) => l.includes(`BAD_CERT client certificate ${apiId} is not signed by the mesh CA`)), m.logs.join('\n'));
  // This CA's own leaves still prove theirs.
  assert.equal(await renew(m, apiId, '', await certificateFrom(m.ca, apiToken)), apiId);
});

test('a renewed certificate is presented from the next connection on: ADS and CSR clients open a new channel for it', async (t) => {
  const m = await startMesh(t);
  const dir = await mkdtemp(path.join(tmpdir(), 'or-client-cert-root-'));
  t.after(() => rm(dir, { recursive: true }));
  const rootFile = path.join(dir, 'root-cert.pem');
  await writeFile(rootFile, m.serverRoots.join(''));
  const transport = xdsTlsTransport({ xdsTls: true, rootCert: rootFile });
  assert.ok(transport);
  const short = await certificateFrom(m.ca, apiToken, 600);
  const toHold = async (h: Held) => ({ ...h, notAfter: new Date(h.notAfter) });
  let held = await toHold(short);
  // As the proxy does: the certificate it holds now, read at each connection and each CSR.
  const credentials = xdsClientCredentials(transport, () => held, () => m.clock.now());
  let reconnect: (() => void) | undefined;
  const { promise: disconnected, resolve: onDisconnected } = Promise.withResolvers<string>();
  let onData: (() => void) | undefined;
  const client = new AdsClient({
    address: m.cp.xdsTlsAddress,
    serverName: transport.serverName,
    node: { id: node.id, metadata: node.metadata },
    credentials,
    subscriber: { apply: () => onData?.(), resourceNames: (type) => (type === TypeUrl.Cluster ? undefined : []) },
    schedule: (fn) => {
      reconnect = fn;
      return {};
    },
    onEvent: (e) => {
      if (e.kind === 'disconnected') onDisconnected(e.reason);
    },
  });
  t.after(() => client.stop());
  // Config applied, or a rejection after 10 s (the only bound on a wait here).
  const applied = () =>
    new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no config within 10 s; control plane:\n${m.logs.join('\n')}`)), 10_000);
      onData = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  let got = applied();
  client.start();
  await got;
  const csr = createCsrClient({ address: m.cp.xdsTlsAddress, token: () => '', credentials, options: transport.options });
  t.after(() => csr.close());
  const { csrPem, keyPem } = await createWorkloadCsr(apiId);
  const chain = await csr.sign(csrPem, 3600);

  // Renewed: the CSR client's next request and the ADS client's next stream present the new certificate.
  held = await toHold({ certChainPem: chain.slice(0, -1).join(''), keyPem, notAfter: new x509.X509Certificate(chain[0] as string).notAfter.getTime() });
  m.clock.advance(short.notAfter - m.clock.now());
  assert.match(await disconnected, /^16: /, 'the stream the first certificate opened ends at its expiry');
  assert.ok(m.logs.some((l) => l.includes(`CERT_EXPIRED client certificate ${apiId} expired at ${new Date(short.notAfter).toISOString()} on an open stream`)), m.logs.join('\n'));
  const again = await createWorkloadCsr(apiId);
  assert.equal(spiffeIdOf(new x509.X509Certificate((await csr.sign(again.csrPem, 3600))[0] as string).rawData), apiId);
  assert.ok(reconnect, 'a reconnect was scheduled');
  got = applied();
  reconnect();
  await got;
  assert.equal(m.cp.connections.length, 1);
});

test('a stream its certificate opened ends at its next push once that certificate no longer verifies (its root removed)', async (t) => {
  const m = await startMesh(t);
  const before = await certificateFrom(m.ca, apiToken);
  const oldRoot = await m.ca.rotateSelfSignedRoot();
  const c = new RawAdsClient(m.cp.xdsTlsAddress, node, undefined, xdsClientTls([...m.ca.trustBundle()], undefined, before));
  t.after(() => c.close());
  c.subscribe(TypeUrl.Cluster);
  c.ack(await c.next(10_000));
  await c.barrier();
  assert.equal(m.cp.connections.length, 1);

  m.ca.removeTrustedRoot(oldRoot);
  // A new subscription is answered by a push: the stream ends instead, as at the certificate's expiry.
  const outcome = await Promise.race([c.status.then((s) => s.code), c.barrier().then(() => 'answered' as const)]);
  assert.equal(outcome, grpc.status.UNAUTHENTICATED);
  assert.equal(m.cp.connections.length, 0);
  assert.ok(m.logs.some((l) => l.endsWith(`BAD_CERT client certificate ${apiId} is not signed by the mesh CA on an open stream`)), m.logs.join('\n'));
});

test("a certificate that proves its identity wins over a token for another: the token's identity is not reachable beside it", async (t) => {
  const m = await startMesh(t);
  const held = await certificateFrom(m.ca, apiToken);
  const adminToken = m.cp.issueBootstrapToken({ namespace: 'shop', serviceAccount: 'admin', workload: 'admin' });
  const adminNode = sidecarNode('shop', 'admin-0', 'admin', 'admin');
  // The token alone is admin's; beside the api certificate it is not looked at.
  assert.equal(await renew(m, 'spiffe://cluster.local/ns/shop/sa/admin', adminToken), 'spiffe://cluster.local/ns/shop/sa/admin');
  assert.equal(await renew(m, 'spiffe://cluster.local/ns/shop/sa/admin', adminToken, held), grpc.status.PERMISSION_DENIED);
  assert.equal(await adsOutcome(m, adminToken, undefined, adminNode), 'accepted');
  assert.equal(await adsOutcome(m, adminToken, held, adminNode), grpc.status.PERMISSION_DENIED);
  assert.equal(await adsOutcome(m, adminToken, held), 'accepted', 'the certificate identity, api');
});
