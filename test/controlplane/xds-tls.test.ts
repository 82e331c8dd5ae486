// The TLS xDS port (15012) through real TLS gRPC clients: ADS, CSR and CSDS answer a client that trusts
// the mesh root and checks istiod.istio-system.svc; a client trusting another root, or expecting another
// name, never gets a stream; plaintext 15010 keeps serving beside it.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { xdsClientTls } from '../../src/controlplane/xds-tls.ts';
import { allocatePort, ensurePortFree } from '../../src/runtime/ports.ts';
import { type ClientStatusResponse, CsdsMethods, csdsCodec } from '../../src/xds/csds-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

let dir: string;
let cp: ControlPlane;
let ca: CertificateAuthority;
const node = sidecarNode('test', 'echo-0', 'echo', 'echo-0');
const identity = { namespace: 'test', serviceAccount: 'echo', workload: 'echo-0' };

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-xds-tls-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  ca = await CertificateAuthority.ephemeral();
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', rescanMs: 0, ca, log: () => {} });
});

after(async () => {
  await cp.close();
  await rm(dir, { recursive: true });
});

test('a proxy trusting the mesh root gets its config over TLS, and CSDS answers on the same port', async () => {
  assert.notEqual(cp.xdsTlsAddress, cp.xdsAddress);
  const tls = xdsClientTls(ca.trustBundle());
  const proxy = new RawAdsClient(cp.xdsTlsAddress, node, cp.issueBootstrapToken(identity), tls);
  try {
    proxy.subscribe(TypeUrl.Cluster);
    const res = await proxy.next(10_000);
    assert.equal(res.type_url, TypeUrl.Cluster);
    assert.ok(res.resources.length > 0);
    proxy.ack(res);
    await proxy.barrier();
    const client = new grpc.Client(cp.xdsTlsAddress, tls.credentials, tls.options);
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${cp.issueBootstrapToken({ namespace: 'test', serviceAccount: 'cli', workload: 'cli' })}`);
    const status = await new Promise<ClientStatusResponse>((resolve, reject) =>
      client.makeUnaryRequest(CsdsMethods.fetch, csdsCodec.encodeRequest, csdsCodec.decodeResponse, { exclude_resource_contents: true }, md, (err, r) => (err ? reject(err) : resolve(r as ClientStatusResponse))),
    );
    client.close();
    assert.deepEqual(status.config.map((c) => c.node.id), [node.id]);
  } finally {
    proxy.close();
  }
});

test('a client trusting another root, or checking another name, is refused at the handshake', async () => {
  const other = await CertificateAuthority.ephemeral();
  for (const tls of [xdsClientTls(other.trustBundle()), xdsClientTls(ca.trustBundle(), 'istiod.elsewhere.svc')]) {
    const proxy = new RawAdsClient(cp.xdsTlsAddress, node, cp.issueBootstrapToken(identity), tls);
    try {
      proxy.subscribe(TypeUrl.Cluster);
      const status = await proxy.status;
      assert.equal(status.code, grpc.status.UNAVAILABLE, status.details);
      assert.equal(proxy.queued, 0);
    } finally {
      proxy.close();
    }
  }
});

test('plaintext stays on the local port: the TLS port refuses a plaintext client', async () => {
  const plain = new RawAdsClient(cp.xdsAddress, node, cp.issueBootstrapToken(identity));
  const onTls = new RawAdsClient(cp.xdsTlsAddress, node, cp.issueBootstrapToken(identity));
  try {
    plain.subscribe(TypeUrl.Cluster);
    assert.equal((await plain.next(10_000)).type_url, TypeUrl.Cluster);
    onTls.subscribe(TypeUrl.Cluster);
    assert.equal((await onTls.status).code, grpc.status.UNAVAILABLE);
  } finally {
    plain.close();
    onTls.close();
  }
});

test('a TLS port that cannot be bound fails the start and releases the plaintext port it had bound', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'or-cp-busy-'));
  const holder = net.createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  const busy = (holder.address() as net.AddressInfo).port;
  const plain = await allocatePort(new Set([busy]));
  try {
    const ca = await CertificateAuthority.ephemeral();
    await assert.rejects(ControlPlane.start({ configPaths: [dir], ca, xdsAddress: `127.0.0.1:${plain}`, xdsTlsAddress: `127.0.0.1:${busy}`, rescanMs: 0, log: () => {} }), /EADDRINUSE/);
    // Nothing is left listening: the plaintext port binds again, and no handle keeps the process alive.
    await ensurePortFree(plain);
  } finally {
    holder.close();
    await rm(dir, { recursive: true });
  }
});
