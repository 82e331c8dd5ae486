// Who receives a `credentialName` private key over SDS: only the verified service accounts of the
// workloads the config declares as its users (docs/security-mtls.md#who-receives-a-credential). A proxy
// that claims a gateway's role and labels with another workload's token gets the CA, not the key.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { unpackAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, type RawNode } from '../controlplane/raw-ads-client.ts';

const pem = (what: string) => `-----BEGIN ${what}-----\\n${what.replace(/ /g, '-')}-MATERIAL\\n-----END ${what}-----\\n`;

// The gateway is the runtime's default ingress (no IstioOperator): istio-system/istio-ingressgateway,
// service account istio-ingressgateway-service-account. `api` is the only client the rule selects.
const config = `apiVersion: v1
kind: Secret
metadata: {name: gw-cred, namespace: istio-system}
stringData: {tls.crt: "${pem('GATEWAY CERT')}", tls.key: "${pem('GATEWAY KEY')}", ca.crt: "${pem('GATEWAY CA')}"}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
  - port: {number: 443, name: https, protocol: HTTPS}
    hosts: ["shop.example.com"]
    tls: {mode: MUTUAL, credentialName: gw-cred}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mesh-test-runner, namespace: istio-system}
spec:
  selector: {matchLabels: {app: mesh-test-runner}}
  template:
    metadata: {labels: {app: mesh-test-runner}}
    spec: {serviceAccountName: mesh-test-runner, containers: [{name: runner, image: curl}]}
---
apiVersion: v1
kind: Secret
metadata: {name: client-cred, namespace: shop}
stringData: {tls.crt: "${pem('CLIENT CERT')}", tls.key: "${pem('CLIENT KEY')}", ca.crt: "${pem('CLIENT CA')}"}
---
apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: {name: partner, namespace: shop}
spec:
  hosts: [partner.example.com]
  location: MESH_EXTERNAL
  resolution: DNS
  ports: [{number: 443, name: tls, protocol: TLS}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: partner, namespace: shop}
spec:
  host: partner.example.com
  workloadSelector: {matchLabels: {app: api}}
  trafficPolicy: {tls: {mode: MUTUAL, credentialName: client-cred}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: shop}
spec:
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {serviceAccountName: api, containers: [{name: api, image: api}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {serviceAccountName: web, containers: [{name: web, image: web}]}
`;

let dir: string;
let cp: ControlPlane;
const logs: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-credential-authz-'));
  await writeFile(path.join(dir, 'mesh.yaml'), config);
  const ca = await CertificateAuthority.ephemeral();
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, ca, log: (_level, m) => logs.push(m) });
});

after(async () => {
  await cp.close();
  await rm(dir, { recursive: true, force: true });
});

interface Caller {
  namespace: string;
  serviceAccount: string;
  workload: string;
  role: 'router' | 'sidecar';
  labels: Record<string, string>;
}

function nodeOf(c: Caller): RawNode {
  return {
    id: `${c.role}~127.0.0.1~${c.workload}-0.${c.namespace}~${c.namespace}.svc.cluster.local`,
    metadata: { NAMESPACE: c.namespace, SERVICE_ACCOUNT: c.serviceAccount, WORKLOAD_NAME: c.workload, LABELS: c.labels },
  };
}

function connect(c: Caller): RawAdsClient {
  const token = cp.issueBootstrapToken({ namespace: c.namespace, serviceAccount: c.serviceAccount, workload: c.workload });
  return new RawAdsClient(cp.xdsAddress, nodeOf(c), token);
}

/** The next SDS push this client, subscribed to `names`, receives: secret name → the secret as JSON. */
async function nextSecrets(client: RawAdsClient, names: string[]): Promise<Map<string, string>> {
  for (;;) {
    const r = await client.next();
    if (r.type_url !== TypeUrl.Secret) continue;
    client.ack(r, names);
    const out = new Map<string, string>();
    for (const s of r.resources.map(unpackAny)) out.set(String(s['name']), JSON.stringify(s));
    return out;
  }
}

/** The SDS secrets this caller is sent for `names`. */
async function secretsFor(c: Caller, names: string[]): Promise<Map<string, string>> {
  const client = connect(c);
  try {
    client.subscribe(TypeUrl.Secret, names);
    return await nextSecrets(client, names);
  } finally {
    client.close();
  }
}

const gateway = (over: Partial<Caller> = {}): Caller => ({
  namespace: 'istio-system',
  serviceAccount: 'istio-ingressgateway-service-account',
  workload: 'istio-ingressgateway',
  role: 'router',
  labels: { app: 'istio-ingressgateway', istio: 'ingressgateway' },
  ...over,
});
const gwNames = ['kubernetes://gw-cred', 'kubernetes://gw-cred-cacert'];
const clientNames = ['kubernetes://client-cred', 'kubernetes://client-cred-cacert'];

test("the gateway's own service account gets its certificate and key", async () => {
  const got = await secretsFor(gateway(), gwNames);
  assert.deepEqual([...got.keys()].sort(), gwNames);
  assert.match(got.get('kubernetes://gw-cred') ?? '', /GATEWAY-KEY-MATERIAL/);
});

test('a token of another account claiming the gateway role and labels gets the CA, never the key', async () => {
  const before = logs.length;
  const thief = connect(gateway({ serviceAccount: 'mesh-test-runner', workload: 'mesh-test-runner' }));
  try {
    thief.subscribe(TypeUrl.Secret, gwNames);
    const got = await nextSecrets(thief, gwNames);
    assert.deepEqual([...got.keys()], ['kubernetes://gw-cred-cacert']);
    assert.match(got.get('kubernetes://gw-cred-cacert') ?? '', /GATEWAY-CA-MATERIAL/);
    assert.doesNotMatch([...got.values()].join(), /GATEWAY-KEY-MATERIAL/);

    // A new CA is pushed to it; the key is still withheld, and the refusal is not logged again.
    await writeFile(path.join(dir, 'mesh.yaml'), config.replace(pem('GATEWAY CA'), pem('GATEWAY NEWCA')));
    await cp.rescan();
    cp.flush();
    const again = await nextSecrets(thief, gwNames);
    assert.deepEqual([...again.keys()], ['kubernetes://gw-cred-cacert']);
    assert.match(again.get('kubernetes://gw-cred-cacert') ?? '', /GATEWAY-NEWCA-MATERIAL/);
  } finally {
    thief.close();
  }
  const refusals = logs.slice(before).filter((m) => m.includes('not authorized'));
  assert.deepEqual(refusals, [
    'proxy router~127.0.0.1~mesh-test-runner-0.istio-system~istio-system.svc.cluster.local (istio-system/mesh-test-runner) is not authorized for secret kubernetes://gw-cred: not sent',
  ]);
});

test("a DestinationRule's client key goes to the workloads it applies to, not to others claiming their labels", async () => {
  const sidecar = (sa: string): Caller => ({ namespace: 'shop', serviceAccount: sa, workload: sa, role: 'sidecar', labels: { app: 'api' } });
  const api = await secretsFor(sidecar('api'), clientNames);
  assert.deepEqual([...api.keys()].sort(), clientNames);
  assert.match(api.get('kubernetes://client-cred') ?? '', /CLIENT-KEY-MATERIAL/);

  const web = await secretsFor(sidecar('web'), clientNames);
  assert.deepEqual([...web.keys()], ['kubernetes://client-cred-cacert']);
  assert.ok(logs.some((m) => m.includes('(shop/web) is not authorized for secret kubernetes://client-cred: not sent')));
});
