// The ADS server's 'error' path through a real control plane: when translation produces config that is not
// Envoy config (or throws), the affected proxy is not sent it, the control plane counts it under Istio's
// `pilot_xds_pushes{type="<type>_senderr"}` and its translation-error counter, logs why, and keeps serving
// every other proxy. The failure comes from a filter builder plugged in through `translateOptions`, the
// same seam the mesh's own security and telemetry filters use.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import type { DebugApi } from '../../src/controlplane/debug-api.ts';
import { startDebugApi } from '../../src/controlplane/debug-api.ts';
import { meshTranslateOptions } from '../../src/translate/default-options.ts';
import type { HttpFilterBuilder, TranslateOptions } from '../../src/translate/options.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

const config = `apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}
`;

// Proxies in namespace `broken` get an HTTP filter whose typed config has a field Envoy's Router does not
// have, so their listeners fail to encode; in namespace `crash` the builder throws. Everyone else is normal.
let crashing = true;
const brokenFilter: HttpFilterBuilder = (_snapshot, proxy) => {
  if (proxy.namespace === 'crash' && crashing) throw new Error('filter builder crashed');
  if (proxy.namespace !== 'broken') return [];
  return [{ name: 'test.broken', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router', no_such_field: true } }];
};
const translateOptions: TranslateOptions = { ...meshTranslateOptions, httpFilters: [...meshTranslateOptions.httpFilters, brokenFilter] };

let dir: string;
let cp: ControlPlane;
let debug: DebugApi;
const logs: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-cp-senderr-'));
  await writeFile(path.join(dir, 'svc.yaml'), config);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, translateOptions, log: (l, m) => logs.push(`${l} ${m}`) });
  debug = await startDebugApi(cp, '127.0.0.1:0', () => Date.now());
});

after(async () => {
  await debug.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

const metrics = async () => (await fetch(`http://${debug.address}/metrics`)).text();
const counter = (text: string, name: string, type: string) => Number(text.match(new RegExp(`^${name}\\{type="${type}"\\} (\\d+)$`, 'm'))?.[1] ?? 0);

test('a listener that fails to encode counts as lds_senderr and a translation error; the control plane keeps serving', async () => {
  const before = await metrics();
  const bad = new RawAdsClient(cp.xdsAddress, sidecarNode('broken', 'bad-0', 'bad', 'bad'));
  const good = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'good-0', 'good', 'good'));
  try {
    // The broken proxy's clusters still go out; its listeners do not.
    bad.subscribe(TypeUrl.Cluster);
    const cds = await bad.next();
    assert.equal(cds.type_url, TypeUrl.Cluster);
    bad.ack(cds);
    bad.subscribe(TypeUrl.Listener);
    await bad.barrier();
    assert.equal(bad.queued, 0, 'no listener response reached the broken proxy');

    const after = await metrics();
    // Every push that tries the broken type counts again (the barrier's own request is one), so: it rose.
    assert.ok(counter(after, 'pilot_xds_pushes', 'lds_senderr') > counter(before, 'pilot_xds_pushes', 'lds_senderr'), after);
    assert.ok(counter(after, 'outrigger_xds_translation_errors_total', 'lds') > counter(before, 'outrigger_xds_translation_errors_total', 'lds'), after);
    assert.ok(
      logs.some((l) => /^warn config for sidecar~127\.0\.0\.1~bad-0\.broken~broken\.svc\.cluster\.local not sent: .*no_such_field/.test(l)),
      logs.join('\n'),
    );

    // Another proxy connecting afterwards still gets its listeners, and the broken stream is still up.
    good.subscribe(TypeUrl.Listener);
    const lds = await good.next();
    assert.equal(lds.type_url, TypeUrl.Listener);
    assert.ok(lds.resources.length > 0);
    assert.equal(cp.ads.connections.length, 2);
  } finally {
    bad.close();
    good.close();
  }
});

test('a translation that throws counts as xds_senderr, and a proxy with nothing yet is sent nothing (not an empty config)', async () => {
  const before = await metrics();
  const crash = new RawAdsClient(cp.xdsAddress, sidecarNode('crash', 'crash-0', 'crash', 'crash'));
  const good = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'good-1', 'good', 'good'));
  try {
    crash.subscribe(TypeUrl.Cluster);
    const failed = /^warn config for sidecar~127\.0\.0\.1~crash-0\.crash~.* not sent: translation failed: filter builder crashed/;
    await until(() => logs.some((l) => failed.test(l)), 'the failed translation is logged');
    const after = await metrics();
    assert.ok(counter(after, 'pilot_xds_pushes', 'xds_senderr') > counter(before, 'pilot_xds_pushes', 'xds_senderr'), after);
    assert.ok(counter(after, 'outrigger_xds_translation_errors_total', 'xds') > counter(before, 'outrigger_xds_translation_errors_total', 'xds'), after);
    // Translation recovers; the barrier's request translates again. An empty CDS sent at the failure,
    // which would tell a proxy that reconnected with clusters of its own to drop them all, would be
    // queued ahead of the real one.
    crashing = false;
    await crash.barrier();
    const sent = [];
    while (crash.queued > 0) sent.push(await crash.next());
    assert.deepEqual(
      sent.map((r) => [r.type_url, r.resources.length > 0]),
      [[TypeUrl.Cluster, true]],
      'one cluster response, with the clusters, after the failure',
    );

    good.subscribe(TypeUrl.Cluster);
    const cds = await good.next();
    assert.equal(cds.type_url, TypeUrl.Cluster);
    assert.ok(cds.resources.length > 0);
  } finally {
    crash.close();
    good.close();
  }
});
