// The examples of docs/observability.md's "Envoy stats" section, run: its YAML loads cleanly and plans
// the matchers the section describes; its error example is what analyze says of the OR1026 fixture.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { headline } from '../diagnostic.ts';
import { loadPaths, loadText } from '../load.ts';
import { planMesh } from '../../runtime/plan.ts';

const root = path.resolve(import.meta.dirname, '../../..');
const doc = readFileSync(path.join(root, 'docs/observability.md'), 'utf8');
const section = doc.slice(doc.indexOf('### Envoy stats and `proxyStatsMatcher`'));

test('the documented mesh-wide and per-pod YAML loads and gives the documented matchers', () => {
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const [mesh, annotations] = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);
  const manifests = [
    { apiVersion: 'install.istio.io/v1alpha1', kind: 'IstioOperator', metadata: { name: 'mesh', namespace: 'istio-system' }, ...mesh },
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'shop', labels: { 'istio-injection': 'enabled' } } },
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'app', namespace: 'shop' },
      spec: { selector: { matchLabels: { app: 'app' } }, template: { metadata: { labels: { app: 'app' }, annotations }, spec: { containers: [{ name: 'app', image: 'app' }] } } },
    },
  ];
  const { resources, diagnostics } = loadText(manifests.map((m) => stringify(m)).join('---\n'));
  assert.deepEqual(diagnostics, []);
  const plan = planMesh(resources);
  assert.deepEqual(plan.gateways[0]?.statsMatcher, { inclusionRegexps: ['.*upstream_rq_pending_overflow'], inclusionPrefixes: ['cluster.outbound|9898|'] });
  assert.deepEqual(plan.workloads[0]?.statsMatcher, { inclusionSuffixes: ['upstream_cx_active'], inclusionRegexps: ['.*outlier_detection.*', '.*upstream_rq_retry.*'] });
});

test("the documented error is analyze's for the fixture", () => {
  const fixture = path.join(root, 'test/fixtures/config/OR1026-proxy-config-annotation.yaml');
  const found = loadPaths([fixture]).diagnostics.find((d) => d.code === 'OR1026');
  assert.ok(found);
  const documented = /```\n(app\.yaml:\d+:\d+: error OR1026 .*)\n```/.exec(section)?.[1];
  assert.equal(documented, headline(found).replace(fixture, 'app.yaml'));
});
