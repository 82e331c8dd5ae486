// CSDS on the TLS xDS port authenticates its caller as ADS does: a workload certificate that proves its
// identity (before any token), else the bearer token; the identity's namespace decides what it sees, and
// a refusal has ADS's codes and is counted with ADS's refusals.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { xdsClientTls } from '../../src/controlplane/xds-tls.ts';
import { type ClientStatusResponse, CsdsMethods, csdsCodec } from '../../src/xds/csds-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';
import { certificateFrom, type Held } from './workload-certificate.ts';

const shopNode = sidecarNode('shop', 'api-0', 'api', 'api');
const payNode = sidecarNode('pay', 'pay-0', 'pay', 'pay');
const shopApi = { namespace: 'shop', serviceAccount: 'api' };
const istiod = { namespace: 'istio-system', serviceAccount: 'istiod' };

interface Mesh {
  cp: ControlPlane;
  ca: CertificateAuthority;
  clock: ManualClock;
  logs: string[];
  serverRoots: readonly string[];
}

/**
 * A control plane with its TLS port and two proxies, of `shop` and `pay`, joined with their tokens. Its
 * clock starts at the wall clock's time (TLS checks a chain by the wall clock, the control plane by its
 * own) and moves only when a test says.
 */
async function startMesh(t: TestContext): Promise<Mesh> {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-csds-cert-'));
  await writeFile(path.join(dir, 'empty.yaml'), '');
  const clock = new ManualClock(Date.now());
  const ca = await CertificateAuthority.ephemeral();
  const logs: string[] = [];
  const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', rescanMs: 0, clock, ca, log: (l, m) => logs.push(`${l} ${m}`) });
  const proxies = [
    new RawAdsClient(cp.xdsAddress, shopNode, cp.issueBootstrapToken({ ...shopApi, workload: 'api' })),
    new RawAdsClient(cp.xdsAddress, payNode, cp.issueBootstrapToken({ namespace: 'pay', serviceAccount: 'pay', workload: 'pay' })),
  ];
  for (const p of proxies) {
    p.subscribe(TypeUrl.Cluster);
    p.ack(await p.next());
  }
  t.after(async () => {
    for (const p of proxies) p.close();
    await cp.close();
    await rm(dir, { recursive: true });
  });
  assert.equal(cp.connections.length, 2);
  return { cp, ca, clock, logs, serverRoots: [...ca.trustBundle()] };
}

function bearer(token: string | undefined): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

function tokenOf(m: Mesh, namespace: string, expiresAtMs?: number): string {
  return m.cp.issueBootstrapToken({ namespace, serviceAccount: 'admin', workload: 'cli' }, expiresAtMs);
}

/** `FetchClientStatus` on the TLS port: the namespaces of the proxies answered, or the refusal's status. */
async function fetchOnTls(m: Mesh, token: string | undefined, cert: Held | undefined): Promise<string[] | grpc.ServiceError> {
  const tls = xdsClientTls(m.serverRoots, undefined, cert);
  const client = new grpc.Client(m.cp.xdsTlsAddress, tls.credentials, tls.options);
  try {
    const res = await new Promise<ClientStatusResponse>((resolve, reject) =>
      client.makeUnaryRequest(CsdsMethods.fetch, csdsCodec.encodeRequest, csdsCodec.decodeResponse, { exclude_resource_contents: true }, bearer(token), (err, r) =>
        err ? reject(err) : resolve(r as ClientStatusResponse),
      ),
    );
    return res.config.map((c) => c.node.id.split('~')[2]?.split('.')[1] ?? '').sort();
  } catch (err) {
    return err as grpc.ServiceError;
  } finally {
    client.close();
  }
}

function refusedCount(m: Mesh, code: string): number {
  const line = m.cp.metrics.registry.render().split('\n').find((l) => l.startsWith(`outrigger_xds_refused_streams_total{code="${code}"}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

const unauthenticated = (res: string[] | grpc.ServiceError) =>
  !Array.isArray(res) && res.code === grpc.status.UNAUTHENTICATED && res.details === 'authentication failed';

test("a certificate of istio-system sees every proxy; any other only its own namespace's, with no token", async (t) => {
  const m = await startMesh(t);
  assert.deepEqual(await fetchOnTls(m, undefined, await certificateFrom(m.ca, istiod)), ['pay', 'shop']);
  assert.deepEqual(await fetchOnTls(m, undefined, await certificateFrom(m.ca, shopApi)), ['shop']);
  // A token still works on the TLS port, with the same rule.
  assert.deepEqual(await fetchOnTls(m, tokenOf(m, 'pay'), undefined), ['pay']);
  assert.deepEqual(await fetchOnTls(m, tokenOf(m, 'istio-system'), undefined), ['pay', 'shop']);
});

test('the streaming method takes the certificate too, checked again at each request by the control plane clock', async (t) => {
  const m = await startMesh(t);
  const held = await certificateFrom(m.ca, shopApi, 600);
  const tls = xdsClientTls(m.serverRoots, undefined, held);
  const client = new grpc.Client(m.cp.xdsTlsAddress, tls.credentials, tls.options);
  t.after(() => client.close());
  const call = client.makeBidiStreamRequest(CsdsMethods.stream, csdsCodec.encodeRequest, csdsCodec.decodeResponse, new grpc.Metadata());
  call.on('error', () => {});
  const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
  const first = new Promise<ClientStatusResponse>((resolve) => call.once('data', resolve));
  call.write({ exclude_resource_contents: true });
  const answered = await Promise.race([first, status]);
  assert.ok('config' in answered, `refused: ${'details' in answered ? answered.details : ''}`);
  assert.equal(answered.config.length, 1);

  m.clock.advance(held.notAfter - m.clock.now());
  call.write({ exclude_resource_contents: true });
  assert.equal((await status).code, grpc.status.UNAUTHENTICATED);
  assert.equal(refusedCount(m, 'CERT_EXPIRED'), 1);
});

test('a certificate that proves its identity wins over the token; one that proves nothing leaves the token to decide', async (t) => {
  const m = await startMesh(t);
  const shop = await certificateFrom(m.ca, shopApi);
  assert.deepEqual(await fetchOnTls(m, tokenOf(m, 'istio-system'), shop), ['shop'], "the system token is not looked at beside shop's certificate");
  // A root the bundle merely trusts (federated): its istio-system leaf proves nothing here, and the pay token decides.
  const federated = await CertificateAuthority.ephemeral({ trustDomain: 'cluster.local' });
  m.ca.addTrustedRoot(federated.trustBundle()[0] as string);
  assert.deepEqual(await fetchOnTls(m, tokenOf(m, 'pay'), await certificateFrom(federated, istiod)), ['pay']);
  assert.equal(refusedCount(m, 'BAD_CERT'), 0);
});

test("refusals carry ADS's codes, are logged and counted in outrigger_xds_refused_streams_total", async (t) => {
  const m = await startMesh(t);
  // A root the bundle merely trusts (federated, same trust domain): TLS takes its leaves, the authenticator does not.
  const federated = await CertificateAuthority.ephemeral({ trustDomain: 'cluster.local' });
  m.ca.addTrustedRoot(federated.trustBundle()[0] as string);
  assert.ok(unauthenticated(await fetchOnTls(m, undefined, await certificateFrom(federated, istiod))));
  assert.equal(refusedCount(m, 'BAD_CERT'), 1);
  assert.ok(
    m.logs.some((l) => /refused CSDS call from \S+: BAD_CERT client certificate spiffe:\/\/cluster\.local\/ns\/istio-system\/sa\/istiod is not signed by the mesh CA$/.test(l)),
    m.logs.join('\n'),
  );

  assert.ok(unauthenticated(await fetchOnTls(m, undefined, undefined)));
  assert.equal(refusedCount(m, 'NO_TOKEN'), 1);
  assert.ok(unauthenticated(await fetchOnTls(m, 'forged', undefined)));
  assert.equal(refusedCount(m, 'BAD_TOKEN'), 1);

  // Expired by the control plane's clock (TLS, by the wall clock, still takes the chain).
  const held = await certificateFrom(m.ca, istiod, 600);
  m.clock.advance(held.notAfter - m.clock.now());
  assert.ok(unauthenticated(await fetchOnTls(m, undefined, held)));
  assert.equal(refusedCount(m, 'CERT_EXPIRED'), 1);
  // An expired token beside it: the token's code, the certificate's reason said too.
  assert.ok(unauthenticated(await fetchOnTls(m, tokenOf(m, 'istio-system', m.clock.now() - 1000), held)));
  assert.equal(refusedCount(m, 'TOKEN_EXPIRED'), 1);
  assert.ok(m.logs.some((l) => l.includes('refused CSDS call from ') && l.includes(': TOKEN_EXPIRED token expired at') && l.includes('; CERT_EXPIRED client certificate')), m.logs.join('\n'));
});
