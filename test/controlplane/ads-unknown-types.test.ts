// A DiscoveryRequest names its type URL, any string. The control plane serves the five it generates
// (CDS, EDS, LDS, RDS, SDS) and, as istiod with no generator for a type, answers nothing else: before,
// every new type URL a client asked for became per-stream state, an empty response, and a new
// `pilot_xds_pushes{type=...}` and `pilot_xds_config_size_bytes{type=...}` series named by the client.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import type { DebugApi } from '../../src/controlplane/debug-api.ts';
import { startDebugApi } from '../../src/controlplane/debug-api.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const config = `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}
`;

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-cp-unknown-types-'));
  await writeFile(path.join(dir, 'svc.yaml'), config);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0', () => Date.now());
});

after(async () => {
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

test('requests for type URLs the control plane does not serve get no answer, no state and no metric series', async () => {
  const c = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'));
  try {
    c.subscribe(TypeUrl.Cluster);
    const cds = await c.next();
    assert.equal(cds.type_url, TypeUrl.Cluster);
    c.ack(cds);
    for (let i = 0; i < 30; i++) c.subscribe(`type.googleapis.com/evil.Type${i}`, [`name-${i}`]);
    await c.barrier();
    const answered: string[] = [];
    while (c.queued > 0) answered.push((await c.next()).type_url);
    assert.deepEqual(
      answered.filter((t) => t.includes('evil')),
      [],
      'no response for an unknown type',
    );
    const conn = cp.connections.find((x) => x.node.view.workloadName === 'web');
    assert.ok(conn);
    assert.deepEqual(
      [...conn.types.keys()].filter((t) => t.includes('evil')),
      [],
      'no per-stream state for an unknown type',
    );
    const text = await (await fetch(`http://${debug.address}/metrics`)).text();
    assert.doesNotMatch(text, /type="type\d+"/, 'no series named by the client');
  } finally {
    c.close();
  }
});
