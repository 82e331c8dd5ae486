// Which verified service accounts may read which `credentialName` keys (credential-readers.ts), from YAML.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { credentialReaders, mayReceiveSecret } from './credential-readers.ts';

/** Who may read which credential, from a mesh's YAML. */
function readersOf(text: string): ReturnType<typeof credentialReaders> {
  return credentialReaders(buildSnapshot(loadText(text).resources, [], '1'));
}

/** The ingress gateway's Deployment in istio-system, service account `ingress`. */
const ingressDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: ingress, namespace: istio-system}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  template:
    metadata: {labels: {istio: ingressgateway}}
    spec: {serviceAccountName: ingress, containers: [{name: proxy, image: proxy}]}
---
`;

const yaml = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  components:
    ingressGateways: [{name: edge, namespace: gw, enabled: true}, {name: old, enabled: false}]
    egressGateways: [{name: istio-egressgateway, enabled: true}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: edge, namespace: shop}
spec:
  selector: {app: edge}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: edge-cred}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: own, namespace: shop}
spec:
  selector: {gateway: own}
  servers: [{port: {number: 8443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: own-cred}}]
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: everyone, namespace: shop}
spec:
  selector: {}
  servers: [{port: {number: 9443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: all-cred}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: own-gateway, namespace: shop}
spec:
  selector: {matchLabels: {gateway: own}}
  template:
    metadata: {labels: {gateway: own}}
    spec: {serviceAccountName: own-gw, containers: [{name: proxy, image: proxy}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: api}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: runner, namespace: tools}
spec:
  template:
    metadata: {labels: {app: runner}}
    spec: {serviceAccountName: runner, containers: [{name: r, image: r}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: partner, namespace: shop}
spec:
  host: partner.example.com
  exportTo: ["."]
  subsets: [{name: v1, labels: {v: "1"}, trafficPolicy: {portLevelSettings: [{port: {number: 443}, tls: {mode: MUTUAL, credentialName: partner-cred}}]}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: egress, namespace: istio-system}
spec:
  host: bank.example.com
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: bank-cred}}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: picky, namespace: tools}
spec:
  host: other.example.com
  workloadSelector: {matchLabels: {app: api}}
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: picky-cred}}
`;

const loaded = loadText(yaml);
const readers = credentialReaders(buildSnapshot(loaded.resources, [], '1'));
const reads = (ns: string, sa: string) => [...(readers.get(`${ns}/${sa}`) ?? [])].map((n) => n.replace(/^kubernetes:\/\//, '')).sort();

test('the config is valid', () => {
  assert.deepEqual(
    loaded.diagnostics.filter((d) => d.severity === 'error'),
    [],
  );
});

test('a gateway reads the credentials of the Gateways that select the workload the config declares for it', () => {
  // The IstioOperator's gateway `edge` in `gw`, selected by the Gateway in `shop`; `old` is disabled.
  assert.deepEqual(reads('gw', 'edge-service-account'), ['bank-cred', 'edge-cred']);
  assert.deepEqual(reads('istio-system', 'old-service-account'), []);
  // A Deployment the Gateway's selector matches is a gateway too, under its own service account.
  assert.deepEqual(reads('shop', 'own-gw'), ['bank-cred', 'own-cred', 'partner-cred']);
  // An empty selector names no gateway workload (it would hand the key to every pod).
  assert.ok(![...readers.values()].some((names) => names.has('kubernetes://all-cred')));
});

test("a DestinationRule's credentials go to the workloads it applies to", () => {
  // `partner` (a subset's port-level TLS) is exported to `shop` only; `bank` (no exportTo) everywhere.
  assert.deepEqual(reads('shop', 'default'), ['bank-cred', 'partner-cred']);
  assert.deepEqual(reads('istio-system', 'istio-egressgateway-service-account'), ['bank-cred']);
  // `picky` selects app=api in its own namespace only, and no workload there has it.
  assert.deepEqual(reads('tools', 'runner'), ['bank-cred']);
  assert.ok(![...readers.values()].some((names) => names.has('kubernetes://picky-cred')));
});

test('only keys are withheld: CA certificates and the mesh secrets go to anyone', () => {
  const runner = { namespace: 'tools', serviceAccount: 'runner' };
  assert.equal(mayReceiveSecret(readers, runner, 'kubernetes://bank-cred'), true);
  assert.equal(mayReceiveSecret(readers, runner, 'kubernetes://edge-cred'), false);
  assert.equal(mayReceiveSecret(readers, { namespace: 'shop', serviceAccount: 'runner' }, 'kubernetes://bank-cred'), false);
  assert.equal(mayReceiveSecret(readers, runner, 'kubernetes://edge-cred-cacert'), true);
  assert.equal(mayReceiveSecret(readers, runner, 'ROOTCA'), true);
  assert.equal(mayReceiveSecret(readers, runner, 'default'), true);
});

test('credentialName kubernetes://NAME is read under the SDS name it is served as, not kubernetes://kubernetes://NAME', () => {
  // Istio's ToResourceName keeps a written scheme; the readers hold SDS names, as mayReceiveSecret is asked.
  const r = readersOf(`${ingressDeployment}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - {port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: "kubernetes://ingress-cert"}}
  - {port: {number: 8443, name: https-2, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialName: plain-cert}}
`);
  const ingress = { namespace: 'istio-system', serviceAccount: 'ingress' };
  assert.deepEqual([...(r.get('istio-system/ingress') ?? [])].sort(), ['kubernetes://ingress-cert', 'kubernetes://plain-cert']);
  assert.equal(mayReceiveSecret(r, ingress, 'kubernetes://ingress-cert'), true);
  assert.equal(mayReceiveSecret(r, ingress, 'kubernetes://plain-cert'), true);
  assert.equal(mayReceiveSecret(r, ingress, 'kubernetes://other-cert'), false);
});

test("a DestinationRule's credentialName written with its scheme is read under the name its clusters ask for, not kubernetes://kubernetes://NAME", () => {
  const r = readersOf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {serviceAccountName: api, containers: [{name: api, image: api}]}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: partner, namespace: shop}
spec:
  host: partner.example.com
  trafficPolicy:
    tls: {mode: MUTUAL, credentialName: "kubernetes://client-cred"}
    portLevelSettings: [{port: {number: 8443}, tls: {mode: MUTUAL, credentialName: "kubernetes-gateway://bank/bank-cred"}}]
`);
  const api = { namespace: 'shop', serviceAccount: 'api' };
  assert.deepEqual([...(r.get('shop/api') ?? [])], ['kubernetes://client-cred']);
  assert.equal(mayReceiveSecret(r, api, 'kubernetes://client-cred'), true);
  // Another namespace's Secret is verified only from a Gateway of the workload's namespace (and a
  // ReferenceGrant): a DestinationRule naming it grants nothing, as Istio's SDS refuses it unverified.
  assert.equal(mayReceiveSecret(r, api, 'kubernetes-gateway://bank/bank-cred'), false);
});

test('every name of credentialNames is read by the gateway, as credentialName is', () => {
  const r = readersOf(`${ingressDeployment}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 443, name: https, protocol: HTTPS}, hosts: ["*"], tls: {mode: SIMPLE, credentialNames: [rsa-cert, ecdsa-cert]}}]
`);
  assert.deepEqual([...(r.get('istio-system/ingress') ?? [])].sort(), ['kubernetes://ecdsa-cert', 'kubernetes://rsa-cert']);
});

test("a DestinationRule's credentials go only where Istio would apply it: the client's namespace, the service's, the root (with the mesh default exportTo)", () => {
  const rule = (name: string, ns: string, host: string, extra = '') => `---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: ${name}, namespace: ${ns}}
spec: {host: ${host}, ${extra}trafficPolicy: {tls: {mode: MUTUAL, credentialName: ${name}-cred}}}
`;
  const base = `apiVersion: batch/v1
kind: Job
metadata: {name: runner, namespace: tools}
spec:
  template:
    metadata: {labels: {app: runner}}
    spec: {serviceAccountName: runner, containers: [{name: r, image: r}]}
---
apiVersion: batch/v1
kind: Job
metadata: {name: misc, namespace: misc}
spec:
  template:
    metadata: {labels: {app: misc}}
    spec: {serviceAccountName: misc, containers: [{name: r, image: r}]}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec: {selector: {app: api}, ports: [{name: http, port: 80}]}
${rule('own', 'shop', 'api')}${rule('third', 'misc', 'api.shop.svc.cluster.local', 'exportTo: ["*"], ')}`;
  const of = (yaml: string, ns: string, sa: string) => {
    const { resources, diagnostics } = loadText(yaml);
    assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
    return [...(credentialReaders(buildSnapshot(resources, [], '1')).get(`${ns}/${sa}`) ?? [])].map((n) => n.replace(/^kubernetes:\/\//, '')).sort();
  };
  // The service's namespace exports `own`; `third`, of a namespace with no such service, reaches only its own.
  assert.deepEqual(of(base, 'tools', 'runner'), ['own-cred']);
  assert.deepEqual(of(base, 'misc', 'misc'), ['own-cred', 'third-cred']);
  // meshConfig.defaultDestinationRuleExportTo ["."]: a rule without exportTo stays in its namespace.
  const mesh = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec: {meshConfig: {defaultDestinationRuleExportTo: ["."]}}
---
`;
  assert.deepEqual(of(mesh + base, 'tools', 'runner'), []);
});
