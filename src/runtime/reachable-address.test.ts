// Where a component's port answers from the host, in both modes: the table verify, the dashboard and
// the Prometheus configuration all read.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildPrometheusConfig } from './prometheus-config.ts';
import { openAddress, reachableAddress } from './reachable-address.ts';
import type { ComponentState, MeshState } from './state.ts';

const processSidecar = { ports: { 'app:9898': 41000, 'proxy:15000': 41001, 'proxy:15001': 41002, 'proxy:15008': 41004, 'proxy:15090': 41006 } };
const netnsSidecar = { address: '10.250.7.4', netns: 'or-ab12-4', ports: { 'app:9898': 9898, 'proxy:15000': 15000, 'proxy:15001': 15001, 'proxy:15006': 15006, 'proxy:15008': 15008, 'proxy:15021': 15021, 'proxy:15090': 15090 } };
const netnsIngress = { address: '10.250.7.2', ports: { 'proxy:15000': 15000, 'proxy:15090': 15090, 'host:8080': 42869 } };

test('reachableAddress: loopback in process mode; the pod address in netns mode, but for the pod-loopback proxy ports', () => {
  const cases: [MeshState['mode'], Pick<ComponentState, 'ports' | 'address'>, string, string | undefined][] = [
    ['process', processSidecar, 'proxy:15090', '127.0.0.1:41006'],
    ['process', processSidecar, 'proxy:15001', '127.0.0.1:41002'],
    ['process', processSidecar, 'proxy:15000', '127.0.0.1:41001'],
    ['process', processSidecar, 'app:9898', '127.0.0.1:41000'],
    ['process', processSidecar, 'proxy:15021', undefined],
    ['netns', netnsSidecar, 'proxy:15090', '10.250.7.4:15090'],
    ['netns', netnsSidecar, 'proxy:15008', '10.250.7.4:15008'],
    ['netns', netnsSidecar, 'proxy:15021', '10.250.7.4:15021'],
    ['netns', netnsSidecar, 'app:9898', '10.250.7.4:9898'],
    ['netns', netnsSidecar, 'proxy:15000', undefined],
    ['netns', netnsSidecar, 'proxy:15001', undefined],
    ['netns', netnsSidecar, 'proxy:15006', undefined],
    ['netns', netnsSidecar, 'proxy:15020', undefined],
    ['netns', netnsIngress, 'host:8080', '127.0.0.1:42869'],
    ['netns', netnsIngress, 'proxy:15090', '10.250.7.2:15090'],
    // A pod without its address recorded yet: nowhere to reach it.
    ['netns', { ports: { 'proxy:15090': 15090 } }, 'proxy:15090', undefined],
  ];
  for (const [mode, c, name, want] of cases) {
    const got = reachableAddress(mode, c, name);
    assert.equal(got && `${got.host}:${got.port}`, want, `${mode} ${name}`);
  }
});

test('openAddress: a directly reachable port as is; none for a port the component lacks', async () => {
  const direct = await openAddress('netns', netnsSidecar, 'proxy:15090');
  assert.deepEqual(direct && { host: direct.host, port: direct.port, label: direct.label }, { host: '10.250.7.4', port: 15090, label: '10.250.7.4:15090' });
  await direct?.close();
  assert.equal(await openAddress('netns', netnsSidecar, 'proxy:15020'), undefined);
  assert.equal(await openAddress('process', processSidecar, 'proxy:15006'), undefined);
});

test('the Prometheus configuration scrapes where reachableAddress says', () => {
  const state: MeshState = {
    version: 1,
    pid: 1,
    startedAt: '',
    mode: 'netns',
    configDirs: [],
    controlPlane: { xdsAddress: '127.0.0.1:15010', debugAddress: '127.0.0.1:15014' },
    components: [{ name: 'podinfo/podinfo-stable-0', kind: 'workload', namespace: 'podinfo', sidecar: true, status: 'running', restarts: 0, ...netnsSidecar }],
  };
  assert.match(buildPrometheusConfig(state), /targets:\n\s+- 10\.250\.7\.4:15090\n/);
});
