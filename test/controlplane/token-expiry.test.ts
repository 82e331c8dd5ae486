// A token issued with an expiry (`outrigger token --duration`) is refused from that instant on, by ADS
// and by the CSR service, on the control plane's clock; the refusal says why in the control plane's log.
// A proxy reads its token file again at each connection, so a token rotated in place is taken without
// a restart, and an expired one is named in the proxy's own log.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { tokenFileReader } from '../../src/proxy/run-proxy.ts';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';
import { AdsClient, type AdsEvent } from '../../src/xds/ads-client.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

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
const id = { namespace: 'shop', serviceAccount: 'api', workload: 'api' };
const clock = new ManualClock(Date.parse('2030-01-01T00:00:00Z'));
const logs: string[] = [];
let dir: string;
let cp: ControlPlane;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-token-expiry-'));
  await writeFile(path.join(dir, 'api.yaml'), config);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, clock, ca: await CertificateAuthority.ephemeral(), log: (l, m) => logs.push(`${l} ${m}`) });
});
after(async () => {
  await cp.close();
  await rm(dir, { recursive: true });
});

const node = sidecarNode('shop', 'api-0', 'api', 'api');

/** The stream's fate: 'accepted' once the control plane answers, or the status code it was refused with. */
async function adsOutcome(token: string): Promise<'accepted' | grpc.status> {
  const c = new RawAdsClient(cp.xdsAddress, node, token);
  try {
    c.subscribe(TypeUrl.Listener);
    const answered = new Promise<'accepted'>((resolve) => c.call.once('data', () => resolve('accepted')));
    return await Promise.race([answered, c.status.then((s) => s.code)]);
  } finally {
    c.close();
  }
}

async function csrOutcome(token: string): Promise<'signed' | grpc.status> {
  const csr = createCsrClient({ address: cp.xdsAddress, token: () => token });
  try {
    const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/shop/sa/api');
    return await csr.sign(csrPem, 3600).then(
      () => 'signed' as const,
      (err: { grpcCode: grpc.status }) => err.grpcCode,
    );
  } finally {
    csr.close();
  }
}

test('a token is accepted until its expiry, then refused by ADS and CSR with the reason logged', async () => {
  const token = cp.issueBootstrapToken(id, clock.now() + 60_000);
  assert.equal(await adsOutcome(token), 'accepted');
  assert.equal(await csrOutcome(token), 'signed');

  clock.advance(59_999);
  assert.equal(await adsOutcome(token), 'accepted');

  clock.advance(1);
  assert.equal(await adsOutcome(token), grpc.status.UNAUTHENTICATED);
  assert.equal(await csrOutcome(token), grpc.status.UNAUTHENTICATED);
  assert.ok(
    logs.some((l) => l.includes('TOKEN_EXPIRED token expired at 2030-01-01T00:01:00.000Z')),
    logs.join('\n'),
  );
  // A token without an expiry holds; one whose expiry was rewritten is no longer ours.
  assert.equal(await adsOutcome(cp.issueBootstrapToken(id)), 'accepted');
  const [p, body, mac] = token.split('.');
  const later = Buffer.from(JSON.stringify(['shop', 'api', 'api', Math.floor(clock.now() / 1000) + 3600])).toString('base64url');
  assert.notEqual(body, later);
  assert.equal(await adsOutcome(`${p}.${later}.${mac}`), grpc.status.UNAUTHENTICATED);
});

test('a proxy reads its token file at each connection: a token rotated in place is taken without a restart', async (t) => {
  const file = path.join(dir, 'api.token');
  const expiredAt = Math.floor(clock.now() / 1000) * 1000 - 1000;
  const expired = cp.issueBootstrapToken(id, expiredAt);
  await writeFile(file, `${expired}\n`);
  const proxyLogs: string[] = [];
  const token = tokenFileReader(file, (level, m) => proxyLogs.push(`${level} ${m}`), () => clock.now());

  let reconnect: (() => void) | undefined;
  const events: AdsEvent[] = [];
  const { promise: refused, resolve: onRefused } = Promise.withResolvers<void>();
  const { promise: acked, resolve: onAck } = Promise.withResolvers<void>();
  const client = new AdsClient({
    address: cp.xdsAddress,
    node: { id: node.id, metadata: node.metadata },
    token,
    subscriber: { apply: () => {}, resourceNames: (type) => (type === TypeUrl.Cluster || type === TypeUrl.Listener ? undefined : []) },
    schedule: (fn) => {
      reconnect = fn;
      return {};
    },
    onEvent: (e) => {
      events.push(e);
      if (e.kind === 'disconnected') onRefused();
      if (e.kind === 'ack') onAck();
    },
  });
  t.after(() => client.stop());
  client.start();
  assert.equal(await Promise.race([refused.then(() => 'refused'), acked.then(() => 'accepted')]), 'refused');
  assert.match(events.find((e) => e.kind === 'disconnected')?.reason ?? '', /^16: /);
  assert.deepEqual(
    proxyLogs.filter((l) => l.includes('expired')),
    [`error --token-file ${file}: the token expired at ${new Date(expiredAt).toISOString()}; write a new one there (outrigger token ... -o ${file}): the proxy reads it at its next connection`],
  );

  await writeFile(file, `${cp.issueBootstrapToken(id, clock.now() + 3_600_000)}\n`);
  assert.ok(reconnect, 'a reconnect was scheduled');
  reconnect();
  await acked;
  assert.equal(proxyLogs.filter((l) => l.includes('expired')).length, 1, 'the expiry is said once');
});

test('a token file that cannot be read, or is empty, keeps the token read before; a read error is said once', async () => {
  const file = path.join(dir, 'gone.token');
  await writeFile(file, 'or1.a.b\n');
  const proxyLogs: string[] = [];
  const token = tokenFileReader(file, (level, m) => proxyLogs.push(`${level} ${m}`));
  assert.equal(token(), 'or1.a.b');
  await writeFile(file, '');
  assert.equal(token(), 'or1.a.b', 'an empty file (one being written) keeps the token read before');
  await rm(file);
  assert.equal(token(), 'or1.a.b');
  assert.equal(token(), 'or1.a.b');
  assert.deepEqual(proxyLogs, [`warning --token-file ${file}: no such file or directory; the token read before is used`]);
});

test('a proxy that renews with its workload certificate says its expired token is needed only to join again, and the error once the certificate expires', async () => {
  const file = path.join(dir, 'cert.token');
  let now = Date.parse('2030-06-01T00:00:00Z');
  await writeFile(file, `${cp.issueBootstrapToken(id, now - 1000)}\n`);
  const notAfter = new Date(now + 60_000);
  const proxyLogs: string[] = [];
  const token = tokenFileReader(file, (level, m) => proxyLogs.push(`${level} ${m}`), () => now, () => notAfter);
  token();
  token();
  const expired = `--token-file ${file}: the token expired at 2030-05-31T23:59:59.000Z`;
  assert.deepEqual(proxyLogs, [
    `info ${expired}; the proxy renews with its workload certificate (valid until 2030-06-01T00:01:00.000Z), and needs a new token (outrigger token ... -o ${file}) only to join again after its certificate expires`,
  ]);
  now = notAfter.getTime();
  token();
  token();
  assert.deepEqual(proxyLogs.slice(1), [`error ${expired}; write a new one there (outrigger token ... -o ${file}): the proxy reads it at its next connection`]);
});
