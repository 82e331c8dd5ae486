// `proxy-config` argument handling and tables: istioctl's kind names, and the route table's columns.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseProxyConfigKind } from './proxy-config.ts';
import { renderRouteTable, virtualServiceOf } from './route-table.ts';

test('proxy-config takes the kinds as istioctl spells them: singular, plural and short', () => {
  for (const [text, kind] of [
    ['listener', 'listener'],
    ['listeners', 'listener'],
    ['routes', 'route'],
    ['clusters', 'cluster'],
    ['endpoints', 'endpoint'],
    ['ep', 'endpoint'],
    ['secrets', 'secret'],
    ['all', 'all'],
    ['Clusters', 'cluster'],
  ] as const) {
    assert.equal(parseProxyConfigKind(text), kind, text);
  }
  assert.equal(parseProxyConfigKind('bootstrap'), undefined);
});

const vsMeta = (ns: string, name: string) => ({ filter_metadata: { istio: { fields: { config: { stringValue: `/apis/networking.istio.io/v1/namespaces/${ns}/virtual-service/${name}` } } } } });

test('the route table names the virtual host and, in its own column, the VirtualService behind its routes', () => {
  assert.equal(virtualServiceOf({ metadata: vsMeta('podinfo', 'podinfo-routes') }), 'podinfo-routes.podinfo');
  assert.equal(virtualServiceOf({ metadata: { filter_metadata: { istio: { config: '/apis/networking.istio.io/v1/namespaces/a/virtual-service/b' } } } }), 'b.a');
  assert.equal(virtualServiceOf({}), undefined);
  const table = renderRouteTable(
    [
      {
        name: '9898',
        virtual_hosts: [
          { name: 'podinfo.podinfo.svc.cluster.local:9898', domains: ['podinfo'], routes: [{ metadata: vsMeta('podinfo', 'podinfo-routes') }, { metadata: vsMeta('podinfo', 'podinfo-routes') }] },
          { name: 'allow_any', domains: ['*'], routes: [{}] },
        ],
      },
    ],
    false,
  );
  const [header, first, second] = table.trimEnd().split('\n');
  assert.match(header ?? '', /^NAME\s+VIRTUAL HOST\s+DOMAINS\s+ROUTES\s+VIRTUAL SERVICE$/);
  assert.match(first ?? '', /^9898\s+podinfo\.podinfo\.svc\.cluster\.local:9898\s+podinfo\s+2\s+podinfo-routes\.podinfo$/);
  assert.match(second ?? '', /^9898\s+allow_any\s+\*\s+1\s+-$/);
});
