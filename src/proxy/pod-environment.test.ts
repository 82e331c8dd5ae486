// A proxy's pod environment, rebuilt from its node as Istio's injector sets it, and the seed's
// `environment` span tags read from it instead of the process the proxy shares.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { drive, telemetryConfig } from '../../test/telemetry/drive-filter.ts';
import { startProxy } from '../../test/proxy/harness.ts';
import type { TelemetryFilterConfig } from '../telemetry/filter-config.ts';
import { MetricsRegistry } from '../telemetry/metrics/registry.ts';
import { createTelemetryFilterFactory } from './filters/telemetry/index.ts';
import { podEnvironment } from './pod-environment.ts';

/** What the proxy host's own environment holds (src/runtime/proxy-process.ts proxyEnv). */
const hostEnv = { PATH: '/usr/bin', HOME: '/home/me' };

const podinfo = {
  nodeId: 'sidecar~10.0.0.7~podinfo-stable-0.podinfo~podinfo.svc.cluster.local',
  metadata: { NAME: 'podinfo-stable-0', NAMESPACE: 'podinfo', WORKLOAD_NAME: 'podinfo-stable', SERVICE_ACCOUNT: 'podinfo', INSTANCE_IPS: '10.0.0.7', CLUSTER_ID: 'Kubernetes', LABELS: { app: 'podinfo' } },
  identity: 'spiffe://cluster.local/ns/podinfo/sa/podinfo',
};

test("a sidecar's environment is its pod's, as Istio's injector sets it, over the process's", () => {
  const env = podEnvironment(podinfo, hostEnv);
  assert.deepEqual(env, {
    PATH: '/usr/bin',
    HOME: '/home/me',
    POD_NAME: 'podinfo-stable-0',
    POD_NAMESPACE: 'podinfo',
    INSTANCE_IP: '10.0.0.7',
    SERVICE_ACCOUNT: 'podinfo',
    ISTIO_META_WORKLOAD_NAME: 'podinfo-stable',
    ISTIO_META_CLUSTER_ID: 'Kubernetes',
  });
  assert.equal(podEnvironment(podinfo, { POD_NAME: 'the-host' })['POD_NAME'], 'podinfo-stable-0', "the pod's name, not the process's");
});

test('without metadata the node id and identity say it; what neither says is left to the process or absent', () => {
  const cases: [string, Parameters<typeof podEnvironment>[0], Record<string, string | undefined>][] = [
    ['node id and identity only', { nodeId: 'sidecar~10.0.0.9~web-1.shop~shop.svc.cluster.local', metadata: {}, identity: 'spiffe://td/ns/shop/sa/web' }, { POD_NAME: 'web-1', POD_NAMESPACE: 'shop', INSTANCE_IP: '10.0.0.9', SERVICE_ACCOUNT: 'web' }],
    ['a pod name with dots', { nodeId: 'sidecar~10.0.0.9~web.v2-1.shop~shop.svc.cluster.local', metadata: { NAMESPACE: 'shop' } }, { POD_NAME: 'web.v2-1', POD_NAMESPACE: 'shop', SERVICE_ACCOUNT: undefined }],
    ['INSTANCE_IPS first of several', { nodeId: 'router~127.0.0.1~gw.istio-system~istio-system.svc.cluster.local', metadata: { INSTANCE_IPS: '10.1.1.1,fd00::1' } }, { INSTANCE_IP: '10.1.1.1' }],
    ['a malformed node id', { nodeId: 'test', metadata: {} }, { POD_NAME: undefined, POD_NAMESPACE: undefined, INSTANCE_IP: undefined }],
  ];
  for (const [name, node, want] of cases) {
    const env = podEnvironment(node, { SERVICE_ACCOUNT: undefined });
    for (const [k, v] of Object.entries(want)) assert.equal(env[k], v, `${name}: ${k}`);
  }
  assert.equal(podEnvironment({ nodeId: 'test', metadata: {} }, { POD_NAME: 'from-process' })['POD_NAME'], 'from-process');
});

// The seed's mesh Telemetry (examples/seed/03-distributed-tracing.yaml): two literal tags, two from the pod.
const tracing = {
  sampling: 100,
  custom_tags: {
    environment: { literal: { value: 'production' } },
    pod_name: { environment: { name: 'POD_NAME', default_value: 'unknown' } },
    namespace: { environment: { name: 'POD_NAMESPACE', default_value: 'unknown' } },
    zone: { environment: { name: 'ZONE', default_value: 'none' } },
  },
  provider: { name: 'otel', kind: 'opentelemetry', service: 'otel-collector.observability', port: 4318 },
} satisfies TelemetryFilterConfig['tracing'];

/** The tags of the one span a server-side filter records for one request, with `env` as its environment. */
async function spanTags(env: Readonly<Record<string, string | undefined>>): Promise<Record<string, string>> {
  const bodies: string[] = [];
  const factory = createTelemetryFilterFactory({
    registry: new MetricsRegistry(),
    env,
    traceEndpoint: () => 'http://collector.invalid/v1/traces',
    exportTimers: { setInterval: () => 0, clearInterval: () => {} },
    post: async (_url, body) => {
      bodies.push(body);
      return true;
    },
  });
  const filter = factory.create(telemetryConfig({ reporter: 'destination', workload: { workload: 'podinfo-stable', namespace: 'podinfo', labels: { app: 'podinfo' } }, metrics: false, tracing }));
  await drive(filter, { authority: 'podinfo.podinfo:9898', path: '/', status: 200 });
  await factory.close();
  assert.equal(bodies.length, 1);
  const otlp = JSON.parse(bodies[0] ?? '') as { resourceSpans: { scopeSpans: { spans: { attributes: { key: string; value: { stringValue?: string } }[] }[] }[] }[] };
  const span = otlp.resourceSpans[0]?.scopeSpans[0]?.spans[0];
  return Object.fromEntries((span?.attributes ?? []).map((a) => [a.key, a.value.stringValue ?? '']));
}

test("a proxy's environment span tags name its pod, not the process it shares", async () => {
  const p = await startProxy({ nodeId: podinfo.nodeId, metadata: podinfo.metadata, identity: podinfo.identity });
  try {
    const tags = await spanTags(p.proxy.environment);
    assert.equal(tags['pod_name'], 'podinfo-stable-0');
    assert.equal(tags['namespace'], 'podinfo');
    assert.equal(tags['environment'], 'production');
    assert.equal(tags['zone'], process.env['ZONE'] ?? 'none', 'a name the pod does not set: the process environment, then the default');
  } finally {
    await p.close();
  }
  // The proxy host's environment alone says nothing of the pod: the tags fall back to their defaults.
  const bare = await spanTags(hostEnv);
  assert.equal(bare['pod_name'], 'unknown');
  assert.equal(bare['namespace'], 'unknown');
});
