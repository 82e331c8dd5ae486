// Which proxyStatsMatcher a proxy gets, as Istio resolves it: mesh default < the pod's proxy.istio.io/config
// (the whole matcher) < each sidecar.istio.io/statsInclusion* annotation (its list); nothing: none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { proxyStatsMatcherFor } from './proxy-stats-matcher.ts';

const mesh = { inclusionPrefixes: ['cluster.outbound'], inclusionRegexps: ['.*outlier.*'] };

test('precedence of the mesh default, proxy.istio.io/config and the older annotations', () => {
  const table: [string, Parameters<typeof proxyStatsMatcherFor>[0], Record<string, string>, ReturnType<typeof proxyStatsMatcherFor>][] = [
    ['nothing configured: no matcher (every stat)', undefined, {}, undefined],
    ['an unrelated annotation', undefined, { 'sidecar.istio.io/inject': 'true', 'proxy.istio.io/config': 'holdApplicationUntilProxyStarts: true' }, undefined],
    ['the mesh default', mesh, {}, mesh],
    ['proxy.istio.io/config replaces the whole matcher', mesh, { 'proxy.istio.io/config': 'proxyStatsMatcher:\n  inclusionSuffixes: [upstream_cx_total]\n' }, { inclusionSuffixes: ['upstream_cx_total'] }],
    ['JSON in proxy.istio.io/config', undefined, { 'proxy.istio.io/config': '{"proxyStatsMatcher": {"inclusionPrefixes": ["listener"]}}' }, { inclusionPrefixes: ['listener'] }],
    ['a ProxyConfig without a matcher keeps the mesh one', mesh, { 'proxy.istio.io/config': 'concurrency: 2' }, mesh],
    ['an annotation replaces its own list only, split as it is', mesh, { 'sidecar.istio.io/statsInclusionPrefixes': 'cluster.inbound, listener' }, { inclusionPrefixes: ['cluster.inbound', ' listener'], inclusionRegexps: ['.*outlier.*'] }],
    ['an annotation alone turns the matcher on', undefined, { 'sidecar.istio.io/statsInclusionRegexps': '.*pending_overflow' }, { inclusionRegexps: ['.*pending_overflow'] }],
    ['an empty annotation is not set', undefined, { 'sidecar.istio.io/statsInclusionSuffixes': '' }, undefined],
  ];
  for (const [name, meshDefault, annotations, want] of table) assert.deepEqual(proxyStatsMatcherFor(meshDefault, annotations), want, name);
});
