// The Prometheus configuration `outrigger up` writes, run by a real Prometheus: a real control plane
// (with its CA) and a real proxy as targets, labelled as Kubernetes would label Istio's, and the
// seed's PrometheusRule alerts evaluated over them: with the control plane scraped as `istiod` and the
// gateway by a pod label its rule selects, IstioControlPlaneUnavailable and IstioGatewayUnhealthy
// stay inactive, the root certificate's expiry is there for IstioCertificateExpiringSoon, and a proxy
// alone in its process gives IstioProxyHighResourceUsage its container CPU and memory by namespace and pod.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { loadText } from '../../src/config/load.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { type DebugApi, startDebugApi } from '../../src/controlplane/debug-api.ts';
import { buildPrometheusConfig, buildRulesFile } from '../../src/runtime/prometheus-config.ts';
import type { MeshState } from '../../src/runtime/state.ts';
import { component, meshState } from '../mesh-state-fixture.ts';
import { startProxy } from '../proxy/harness.ts';
import { PrometheusProcess, prometheusInstalled, promtool } from './prometheus-harness.ts';

const skip = !prometheusInstalled && 'Debian prometheus is not installed';

let ca: CertificateAuthority;
let cp: ControlPlane;
let debug: DebugApi;
let gateway: Awaited<ReturnType<typeof startProxy>>;
let dir: string;
let prom: PrometheusProcess | undefined;

before(async () => {
  if (skip) return;
  ca = await CertificateAuthority.ephemeral({ trustDomain: 'cluster.local' });
  dir = await mkdtemp(path.join(tmpdir(), 'or-prom-config-'));
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, ca, log: () => {} });
  debug = await startDebugApi(cp, '127.0.0.1:0');
  // As netns mode runs it: alone in its process, so it reports the istio-proxy container's CPU and memory.
  gateway = await startProxy({ ownsProcess: true, metadata: { NAMESPACE: 'istio-system', WORKLOAD_NAME: 'istio-ingressgateway', LABELS: { istio: 'ingressgateway' } } });
});

after(async () => {
  await prom?.stop();
  await gateway?.close();
  await debug?.close();
  await cp?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function state(withGateway: boolean): MeshState {
  const gw = component('istio-system/istio-ingressgateway-0', 'gateway', { ports: { 'proxy:15090': gateway.metricsPort } });
  return meshState(withGateway ? [gw] : [], { controlPlane: { xdsAddress: '', debugAddress: debug.address } });
}

test('the written config and rules pass promtool, and name the targets as the alerts expect', { skip }, async () => {
  const seed = loadText(await readFile(new URL('../../examples/seed/04-observability.yaml', import.meta.url), 'utf8'), '04-observability.yaml');
  await writeFile(path.join(dir, 'rules.yml'), buildRulesFile(seed.resources));
  await writeFile(path.join(dir, 'prometheus.yml'), buildPrometheusConfig(state(true), '1s'));
  const { code, output } = await promtool(['check', 'config', path.join(dir, 'prometheus.yml')]);
  assert.equal(code, 0, output);
  assert.match(output, /SUCCESS: 8 rules found/);
});

test('a real Prometheus scrapes the control plane as istiod and the gateway by pod, and evaluates the seed alerts', { skip, timeout: 90_000 }, async () => {
  prom = await PrometheusProcess.fromConfig(path.join(dir, 'prometheus.yml'));
  const p = prom;
  await p.until('istiod up', async () => ((await p.query('up{job="istiod"} == 1')).length === 1 ? true : undefined));
  const gw = await p.until('the gateway up', async () => {
    const r = await p.query('up{namespace="istio-system", pod=~"istio-ingressgateway-.*"} == 1');
    return r.length === 1 ? r : undefined;
  });
  assert.equal(gw[0]?.metric['job'], 'envoy-stats');
  // The root's expiry from the CA, in seconds, as Istio's citadel reports it.
  const expiry = await p.until('the root expiry', async () => (await p.query('citadel_server_root_cert_expiry_timestamp'))[0]);
  assert.equal(Number(expiry.value[1]), Math.floor(ca.rootExpiry().getTime() / 1000));
  // Every rule loads and evaluates; the two that watch these targets settle inactive (a rule evaluated
  // before the first scrape starts pending, and the next evaluation clears it).
  const settled = await p.until('the control-plane and gateway alerts inactive', async () => {
    const body = (await (await fetch(`${p.url}/api/v1/rules`)).json()) as { data: { groups: { rules: { name: string; health: string; state: string }[] }[] } };
    const all = body.data.groups.flatMap((g) => g.rules);
    const state = (name: string) => all.find((r) => r.name === name)?.state;
    return all.length === 8 && all.every((r) => r.health === 'ok') && state('IstioControlPlaneUnavailable') === 'inactive' && state('IstioGatewayUnhealthy') === 'inactive' ? all : undefined;
  });
  assert.equal(settled.length, 8);
  // IstioProxyHighResourceUsage's inputs, summed by namespace and pod as the rule sums them.
  const memory = await p.until('the gateway container memory', async () => {
    const r = await p.query('sum by (namespace, pod) (container_memory_working_set_bytes{container="istio-proxy"})');
    return r.length === 1 ? r[0] : undefined;
  });
  assert.deepEqual(memory.metric, { namespace: 'istio-system', pod: 'istio-ingressgateway-0' });
  assert.ok(Number(memory.value[1]) > 10 * 1024 * 1024, `resident memory ${memory.value[1]}`);
  const cpu = await p.query('sum by (namespace, pod) (container_cpu_usage_seconds_total{container="istio-proxy"})');
  assert.deepEqual(cpu[0]?.metric, { namespace: 'istio-system', pod: 'istio-ingressgateway-0' });
  assert.ok(Number(cpu[0]?.value[1]) > 0);
});
