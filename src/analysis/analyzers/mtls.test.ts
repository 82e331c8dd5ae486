// OR2009 reads the policy each cluster runs with: a subset inherits the top-level tls, a port-level
// tls replaces it for its port, and a subset's own tls replaces both.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

/** A reviews Deployment of one version, running as `account`. */
const deployment = (version: string, account: string) => `apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews-${version}, namespace: shop }
spec:
  selector: { matchLabels: { app: reviews, version: ${version} } }
  template:
    metadata: { labels: { app: reviews, version: ${version} } }
    spec: { serviceAccountName: ${account}, containers: [{ name: app, image: example/reviews:${version} }] }
---
`;

const base = `apiVersion: v1
kind: Namespace
metadata: { name: shop, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: shop }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 8080 }] }
---
${deployment('v1', 'reviews')}${deployment('v2', 'reviews-canary')}`;
const REVIEWS = 'spiffe://cluster.local/ns/shop/sa/reviews';
const CANARY = 'spiffe://cluster.local/ns/shop/sa/reviews-canary';

function or2009(spec: string): string[] {
  const { resources, diagnostics } = loadText(`${base}apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
${spec}`);
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  return runAnalyzers(resources)
    .filter((d) => d.code === 'OR2009')
    .map((d) => d.field ?? '');
}

test('a subset without its own tls inherits the top-level names and is checked against its own workloads', () => {
  const fields = or2009(`  trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["${REVIEWS}"] } }
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 }, trafficPolicy: { connectionPool: { tcp: { maxConnections: 10 } } } }`);
  // v1 (reviews) is named; v2 runs as reviews-canary and inherits a list without it.
  assert.deepEqual(fields, ['spec.trafficPolicy.tls.subjectAltNames']);
});

test('a port-level tls replaces the top level for its port: wrong names there are reported, right ones clear the top level', () => {
  assert.deepEqual(
    or2009(`  trafficPolicy:
    tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/ratings"] }
    portLevelSettings: [{ port: { number: 8080 }, tls: { mode: ISTIO_MUTUAL } }]`),
    [],
    'the only port uses its port-level tls, which names nothing: no false positive',
  );
  assert.deepEqual(
    or2009(`  trafficPolicy:
    portLevelSettings: [{ port: { number: 8080 }, tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["spiffe://cluster.local/ns/shop/sa/ratings"] } }]`),
    ['spec.trafficPolicy.portLevelSettings[0].tls.subjectAltNames'],
  );
});

test("a subset's own tls naming its workloads' account is fine; naming every account at the top level is fine", () => {
  assert.deepEqual(
    or2009(`  trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["${REVIEWS}", "${CANARY}"] } }
  subsets:
    - { name: v2, labels: { version: v2 }, trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["${CANARY}"] } } }`),
    [],
  );
  assert.deepEqual(
    or2009(`  subsets:
    - { name: v2, labels: { version: v2 }, trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ["${REVIEWS}"] } } }`),
    ['spec.subsets[0].trafficPolicy.tls.subjectAltNames'],
  );
});

test('during a trust domain migration, names in the old domain (an alias) are reported as such, and naming both clears it', () => {
  const operator = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: mesh, namespace: istio-system }
spec: { meshConfig: { trustDomain: new.example, trustDomainAliases: [cluster.local] } }
---
`;
  const findings = (sans: string[]) => {
    const { resources } = loadText(`${operator}${base}apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: { name: reviews, namespace: shop }
spec:
  host: reviews
  subsets: [{ name: v1, labels: { version: v1 }, trafficPolicy: { tls: { mode: ISTIO_MUTUAL, subjectAltNames: ${JSON.stringify(sans)} } } }]
`);
    return runAnalyzers(resources).filter((d) => d.code === 'OR2009');
  };
  const [old] = findings([REVIEWS]);
  assert.match(old?.message ?? '', /in trust domain alias cluster\.local, not in the trust domain new\.example/);
  assert.match(old?.fix ?? '', /spiffe:\/\/new\.example\/ns\/shop\/sa\/reviews as well/);
  assert.deepEqual(findings([REVIEWS, 'spiffe://new.example/ns/shop/sa/reviews']), []);
  // A name in neither domain keeps the plain message.
  assert.match(findings(['spiffe://cluster.local/ns/shop/sa/ratings'])[0]?.message ?? '', /name none of the accounts/);
});

// OR2002 reads translation's effectiveMtls (Istio's ComposePeerAuthentication): a root-namespace
// PeerAuthentication with a selector applies to nothing, so the port stays PERMISSIVE and DISABLE is fine.
test('OR2002: a root-namespace PeerAuthentication with a selector is not workload-level', () => {
  const yaml = (namespace: string) => `apiVersion: v1
kind: Namespace
metadata: { name: ${namespace}, labels: { istio-injection: enabled } }
---
apiVersion: v1
kind: Service
metadata: { name: reviews, namespace: ${namespace} }
spec: { selector: { app: reviews }, ports: [{ name: http, port: 8080 }] }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: reviews, namespace: ${namespace} }
spec:
  selector: { matchLabels: { app: reviews } }
  template:
    metadata: { labels: { app: reviews } }
    spec: { containers: [{ name: app, image: example/reviews:1 }] }
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: reviews-strict, namespace: ${namespace} }
spec: { selector: { matchLabels: { app: reviews } }, mtls: { mode: STRICT } }
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: { name: reviews, namespace: ${namespace} }
spec: { host: reviews, trafficPolicy: { tls: { mode: DISABLE } } }
`;
  const or2002 = (namespace: string) => runAnalyzers(loadText(yaml(namespace), 'x.yaml').resources).filter((d) => d.code === 'OR2002').length;
  assert.equal(or2002('istio-system'), 0);
  assert.equal(or2002('shop'), 1, 'outside the root namespace it is workload-level');
});
