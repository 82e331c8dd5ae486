import assert from 'node:assert/strict';
import { test } from 'node:test';
import { applyLocalityLbSetting, localityMatch, type LoadAssignmentJson, wantsLocalityWeighted } from './locality-lb.ts';

const ep = (ip: string, labels: Record<string, string> = {}) => ({ endpoint: { address: { socket_address: { address: ip, port_value: 80 } } }, labels });
const cla: LoadAssignmentJson = {
  cluster_name: 'outbound|80||svc',
  endpoints: [
    { locality: { region: 'us', zone: 'a' }, lb_endpoints: [ep('10.0.0.1')] },
    { locality: { region: 'us', zone: 'b' }, lb_endpoints: [ep('10.0.0.2')] },
    { locality: { region: 'eu', zone: 'a' }, lb_endpoints: [ep('10.0.0.3')] },
    { locality: { region: 'ap', zone: 'a' }, lb_endpoints: [ep('10.0.0.4')] },
  ],
};
const proxy = { region: 'us', zone: 'a' };

test('failover: same zone P0, same region P1, the named failover region P2, the rest P3', () => {
  const out = applyLocalityLbSetting(cla, { failover: [{ from: 'us', to: 'eu' }] }, { proxyLocality: proxy, outlierDetection: true });
  assert.deepEqual(out.endpoints?.map((g) => g.priority), [0, 1, 2, 3]);
  assert.equal(cla.endpoints?.[0]?.priority, undefined, 'input untouched');
});

test('failover needs outlier detection (Istio): without it the assignment is unchanged', () => {
  assert.equal(applyLocalityLbSetting(cla, {}, { proxyLocality: proxy, outlierDetection: false }), cla);
  assert.equal(wantsLocalityWeighted({ failover: [{ from: 'us', to: 'eu' }] }, false), false);
  assert.equal(wantsLocalityWeighted({}, true), false, 'default failover: priorities, no weighting (Istio 1.24+)');
  assert.equal(wantsLocalityWeighted({ failoverPriority: ['topology.kubernetes.io/zone'] }, true), true);
  assert.equal(wantsLocalityWeighted({ distribute: [{ from: 'us/*', to: { 'us/*': 100 } }] }, false), true);
  assert.equal(wantsLocalityWeighted({ enabled: false }, true), false);
  assert.equal(wantsLocalityWeighted({ failover: [{ from: 'us', to: 'eu' }] }, true), true);
});

test('distribute: weights from the matching rule; wildcards share; unlisted localities get no endpoints', () => {
  const out = applyLocalityLbSetting(cla, { distribute: [{ from: 'us/a/*', to: { 'us/a': 80, 'us/*': 20 } }] }, { proxyLocality: proxy, outlierDetection: false });
  assert.deepEqual(out.endpoints?.map((g) => g.load_balancing_weight?.value), [80, 20, undefined, undefined]);
  assert.deepEqual(out.endpoints?.map((g) => g.lb_endpoints?.length), [1, 1, 0, 0]);
});

test('failoverPriority: endpoints sharing the proxy labels first, in label order', () => {
  const one: LoadAssignmentJson = { cluster_name: 'c', endpoints: [{ locality: { region: 'us', zone: 'a' }, lb_endpoints: [ep('1', { net: 'n1', ver: 'v1' }), ep('2', { net: 'n1', ver: 'v2' }), ep('3', { net: 'n2', ver: 'v1' })] }] };
  const out = applyLocalityLbSetting(one, { failoverPriority: ['net', 'ver'] }, {
    proxyLocality: proxy,
    outlierDetection: true,
    proxyLabels: { net: 'n1', ver: 'v1' },
    labelsOf: (e) => e['labels'] as Record<string, string>,
  });
  assert.deepEqual(out.endpoints?.map((g) => [g.priority, g.lb_endpoints?.length]), [[0, 1], [1, 1], [2, 1]]);
});

test('locality patterns match as Istio: wildcards and missing parts', () => {
  assert.equal(localityMatch({ region: 'us', zone: 'a' }, 'us/*'), true);
  assert.equal(localityMatch({ region: 'us', zone: 'a' }, 'us'), true);
  assert.equal(localityMatch({ region: 'us', zone: 'a' }, 'us/b'), false);
  assert.equal(localityMatch({ region: 'us', zone: 'a' }, '*'), true);
});
