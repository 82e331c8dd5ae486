// CSDS on the xDS port through a real grpc-js client: per-proxy, per-type sync state as Istio reports
// it (SYNCED, STALE after a NACK with its reason, NOT_SENT), config dumps, node matchers, and who may ask.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { unpackAny } from '../../src/xds/any.ts';
import type { GenericXdsConfig } from '../../src/xds/client-status.ts';
import { type ClientStatusRequest, type ClientStatusResponse, CsdsMethods, csdsCodec } from '../../src/xds/csds-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const config = `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}
`;

let dir: string;
let cp: ControlPlane;
let proxy: RawAdsClient;
let csds: grpc.Client;
const node = sidecarNode('test', 'echo-0', 'echo', 'echo-0');

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-csds-'));
  await writeFile(path.join(dir, 'svc.yaml'), config);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, ca: await CertificateAuthority.ephemeral(), log: () => {} });
  proxy = new RawAdsClient(cp.xdsAddress, node, cp.issueBootstrapToken({ namespace: 'test', serviceAccount: 'echo', workload: 'echo-0' }));
  proxy.subscribe(TypeUrl.Cluster);
  proxy.ack(await proxy.next());
  proxy.subscribe(TypeUrl.Listener);
  const listeners = await proxy.next();
  proxy.nack(listeners, '', 'listener virtualInbound: unsupported filter');
  await proxy.barrier();
  csds = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
});

after(async () => {
  proxy.close();
  csds.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

function tokenFor(namespace: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${cp.issueBootstrapToken({ namespace, serviceAccount: 'admin', workload: 'cli' })}`);
  return md;
}

function fetch(req: ClientStatusRequest, md: grpc.Metadata): Promise<ClientStatusResponse> {
  return new Promise((resolve, reject) =>
    csds.makeUnaryRequest(CsdsMethods.fetch, csdsCodec.encodeRequest, csdsCodec.decodeResponse, req, md, (err, res) => (err ? reject(err) : resolve(res as ClientStatusResponse))),
  );
}

const byType = (configs: readonly GenericXdsConfig[], url: string) => configs.find((c) => c.type_url === url);

test('a system-namespace caller gets every proxy with its per-type status, NACK reason and config dump', async () => {
  const res = await fetch({}, tokenFor('istio-system'));
  assert.equal(res.config.length, 1);
  const client = res.config[0]!;
  assert.equal(client.node.id, node.id);
  const cds = byType(client.generic_xds_configs, TypeUrl.Cluster);
  assert.equal(cds?.config_status, 'SYNCED');
  assert.equal(cds?.client_status, 'ACKED');
  assert.equal(cds?.version_info, cp.connections[0]?.state(TypeUrl.Cluster).ackedVersion);
  assert.ok(cds?.last_updated && Number(cds.last_updated.seconds) > 0);
  const dump = unpackAny(cds?.xds_config as NonNullable<GenericXdsConfig['xds_config']>);
  const names = (dump['dynamic_active_clusters'] as { cluster: { name: string } }[]).map((c) => c.cluster.name);
  assert.ok(names.includes('outbound|8080||echo.test.svc.cluster.local'), names.join());

  const lds = byType(client.generic_xds_configs, TypeUrl.Listener);
  assert.equal(lds?.config_status, 'STALE');
  assert.equal(lds?.client_status, 'NACKED');
  assert.equal(lds?.error_state?.details, 'listener virtualInbound: unsupported filter');
  // Sent (the barrier's route request) and not yet answered: STALE, REQUESTED.
  const rds = byType(client.generic_xds_configs, TypeUrl.RouteConfiguration);
  assert.deepEqual([rds?.config_status, rds?.client_status], ['STALE', 'REQUESTED']);
  // Never subscribed: NOT_SENT, and secrets are never dumped anyway.
  const sds = byType(client.generic_xds_configs, TypeUrl.Secret);
  assert.deepEqual([sds?.config_status, sds?.xds_config], ['NOT_SENT', undefined]);
});

test('exclude_resource_contents drops the dumps; node matchers select proxies by id', async () => {
  const md = tokenFor('istio-system');
  const slim = await fetch({ exclude_resource_contents: true }, md);
  assert.ok(slim.config[0]!.generic_xds_configs.every((c) => c.xds_config === undefined));
  assert.equal((await fetch({ node_matchers: [{ node_id: { prefix: 'sidecar~127.0.0.1~echo-' } }] }, md)).config.length, 1);
  assert.equal((await fetch({ node_matchers: [{ node_id: { exact: 'router~nobody' } }] }, md)).config.length, 0);
});

test('the streaming method answers each request; a workload token sees its own namespace only', async () => {
  const call = csds.makeBidiStreamRequest(CsdsMethods.stream, csdsCodec.encodeRequest, csdsCodec.decodeResponse, tokenFor('test'));
  const first = new Promise<ClientStatusResponse>((resolve) => call.once('data', resolve));
  call.write({ exclude_resource_contents: true });
  assert.equal((await first).config.length, 1);
  call.end();
  assert.equal((await fetch({}, tokenFor('other'))).config.length, 0);
});

test('a caller without a valid token is refused without detail', async () => {
  await assert.rejects(fetch({}, new grpc.Metadata()), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED && err.details === 'authentication failed');
  const bad = new grpc.Metadata();
  bad.set('authorization', 'Bearer forged');
  await assert.rejects(fetch({}, bad), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED);
});
