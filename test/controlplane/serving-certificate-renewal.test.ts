// The TLS xDS port's own certificate (istiod.istio-system.svc) is renewed on the control plane's clock,
// as istiod renews its DNS certificate: after a day of uptime a proxy on another host still completes
// the handshake, an open stream outlives the renewal, and a rotated signing root signs the next one.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { spiffeIdOf } from '../../src/ca/svid.ts';
import { x509 } from '../../src/ca/x509.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { defaultXdsTlsName, xdsClientTls } from '../../src/controlplane/xds-tls.ts';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const config = `apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 8080}]}
`;
const apiId = 'spiffe://cluster.local/ns/shop/sa/api';
const apiToken = { namespace: 'shop', serviceAccount: 'api', workload: 'api' };
const node = sidecarNode('shop', 'api-0', 'api', 'api');

interface Mesh {
  cp: ControlPlane;
  ca: CertificateAuthority;
  clock: ManualClock;
  logs: string[];
  /** The first log line matching `re`, once there is one (rejects after 10 s, the only bound on a wait here). */
  logged(re: RegExp): Promise<string>;
}

async function startMesh(t: TestContext, clock: ManualClock, ca: CertificateAuthority): Promise<Mesh> {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-serving-cert-'));
  await writeFile(path.join(dir, 'api.yaml'), config);
  const logs: string[] = [];
  const waiters = new Set<() => void>();
  const cp = await ControlPlane.start({
    configPaths: [dir],
    xdsAddress: '127.0.0.1:0',
    xdsTlsAddress: '127.0.0.1:0',
    rescanMs: 0,
    clock,
    ca,
    log: (l, m) => {
      logs.push(`${l} ${m}`);
      for (const w of waiters) w();
    },
  });
  t.after(async () => {
    await cp.close();
    await rm(dir, { recursive: true });
  });
  const logged = (re: RegExp) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const line = logs.find((l) => re.test(l));
        if (!line) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(line);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no log line ${re} within 10 s; control plane:\n${logs.join('\n')}`));
      }, 10_000);
      waiters.add(check);
      check();
    });
  return { cp, ca, clock, logs, logged };
}

/** The certificate the TLS port presents now, read from a raw TLS handshake (not verified). */
function served(address: string): Promise<X509Certificate> {
  const at = address.lastIndexOf(':');
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host: address.slice(0, at), port: Number(address.slice(at + 1)), servername: defaultXdsTlsName, ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      const cert = socket.getPeerX509Certificate();
      socket.destroy();
      if (cert) resolve(cert);
      else reject(new Error('no server certificate'));
    });
    socket.once('error', reject);
  });
}

/** A CSR over the TLS port as a proxy on another host sends it (trusting `roots`, checking istiod's name): the SPIFFE ID signed, or the gRPC status. */
async function csr(m: Mesh, roots: readonly string[]): Promise<string | grpc.status> {
  const token = m.cp.issueBootstrapToken(apiToken);
  const { credentials, options } = xdsClientTls(roots);
  const client = createCsrClient({ address: m.cp.xdsTlsAddress, token: () => token, credentials, options });
  try {
    const { csrPem } = await createWorkloadCsr(apiId);
    return await client.sign(csrPem, 3600).then(
      (chain) => spiffeIdOf(new x509.X509Certificate(chain[0] as string).rawData),
      (err: { grpcCode: grpc.status }) => err.grpcCode,
    );
  } finally {
    client.close();
  }
}

test('after a day of uptime the TLS port serves a renewed certificate: a proxy on another host still connects', async (t) => {
  // TLS checks the served certificate by the wall clock. The control plane and its CA run on a clock a day
  // and five minutes behind it: moving that clock to the wall clock's time is a day of uptime, and the
  // first certificate (24 h, issued at start) has expired by then.
  const clock = new ManualClock(Date.now() - DAY - 5 * 60_000);
  const m = await startMesh(t, clock, await CertificateAuthority.ephemeral({ now: () => clock.now() }));
  const first = await served(m.cp.xdsTlsAddress);
  assert.equal(Date.parse(first.validTo), Math.floor(clock.now() / 1000) * 1000 + DAY, 'the first certificate lives 24 h from the start');
  // What a proxy on another host meets a day after start when nothing renews: an expired certificate.
  assert.equal(await csr(m, m.ca.trustBundle()), grpc.status.UNAVAILABLE, 'TLS refuses an expired server certificate');

  clock.advance(Date.now() - clock.now());
  assert.ok(Date.parse(first.validTo) < clock.now(), 'the clock is past the first certificate');
  const line = await m.logged(/xDS TLS certificate for istiod\.istio-system\.svc renewed/);
  const renewed = await served(m.cp.xdsTlsAddress);
  assert.ok(Date.parse(renewed.validTo) > clock.now() + 23 * HOUR, `served notAfter ${renewed.validTo}, first ${first.validTo}`);
  assert.equal(line, `info xDS TLS certificate for istiod.istio-system.svc renewed (half its lifetime passed): expires ${new Date(renewed.validTo).toISOString()}`);
  assert.equal(m.logs.filter((l) => l.includes('renewed')).length, 1, 'one renewal, one line');

  // A proxy that trusts the mesh root and checks istiod's name completes a CSR and an ADS exchange.
  assert.equal(await csr(m, m.ca.trustBundle()), apiId);
  const ads = new RawAdsClient(m.cp.xdsTlsAddress, node, m.cp.issueBootstrapToken(apiToken), xdsClientTls(m.ca.trustBundle()));
  t.after(() => ads.close());
  ads.subscribe(TypeUrl.Cluster);
  assert.equal((await ads.next(10_000)).type_url, TypeUrl.Cluster);
});

test('an open ADS stream outlives the renewal; new handshakes get the new certificate; shutdown stops the timer', async (t) => {
  const clock = new ManualClock(Date.now());
  const m = await startMesh(t, clock, await CertificateAuthority.ephemeral());
  const ads = new RawAdsClient(m.cp.xdsTlsAddress, node, m.cp.issueBootstrapToken(apiToken), xdsClientTls(m.ca.trustBundle()));
  t.after(() => ads.close());
  ads.subscribe(TypeUrl.Cluster);
  ads.ack(await ads.next(10_000));
  await ads.barrier();
  const first = await served(m.cp.xdsTlsAddress);

  // Half the lifetime, counted from the expiry the CA stamped with the wall clock, which ran on while the
  // control plane started (the manual clock did not): a minute covers a slow start on a loaded machine.
  clock.advance(12 * HOUR + 60_000);
  await m.logged(/renewed \(half its lifetime passed\)/);
  const renewed = await served(m.cp.xdsTlsAddress);
  assert.notEqual(renewed.fingerprint256, first.fingerprint256, 'a new certificate from the next handshake on');
  // The stream opened with the first certificate still answers (after what the advance pushed on it).
  ads.subscribe(TypeUrl.Listener);
  const types: string[] = [];
  while (types.at(-1) !== TypeUrl.Listener && types.length < 5) types.push((await ads.next(10_000)).type_url);
  assert.equal(types.at(-1), TypeUrl.Listener, types.join(', '));
  assert.equal(m.cp.connections.length, 1);
  assert.equal(await csr(m, m.ca.trustBundle()), apiId);

  ads.close();
  await m.cp.close();
  // A renewal asks the CA at once (synchronously) when its timer fires: none does after close.
  let asked = 0;
  const issue = m.ca.issueServingCertificate.bind(m.ca);
  m.ca.issueServingCertificate = (names, ttl) => {
    asked++;
    return issue(names, ttl);
  };
  clock.advance(2 * DAY);
  assert.equal(asked, 0, 'no renewal after close');
});

test("a rotated signing root signs the next certificate at once; a root that signs nothing changes nothing", async (t) => {
  const clock = new ManualClock(Date.now());
  const m = await startMesh(t, clock, await CertificateAuthority.ephemeral());
  const oldRoot = await m.ca.rotateSelfSignedRoot();
  await m.logged(/renewed \(the CA signing root rotated\)/);
  const newRoot = m.ca.signingChain().at(-1) as string;
  const renewed = await served(m.cp.xdsTlsAddress);
  assert.ok(renewed.verify(new X509Certificate(newRoot).publicKey), 'signed by the new root');
  // A proxy that already trusts only the new root (its ROOTCA after the old one is removed) connects.
  assert.equal(await csr(m, [newRoot]), apiId);
  m.ca.removeTrustedRoot(oldRoot);
  assert.equal(await csr(m, m.ca.trustBundle()), apiId);
  assert.equal(m.logs.filter((l) => l.includes('renewed')).length, 1, 'removing a root that signs nothing is no renewal');
});
