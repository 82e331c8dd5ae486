// A Service whose targetPort is a name: Istio (as Kubernetes) resolves it per pod, to the container port
// that pod declares under that name, not to the service port. Two versions declare `grpc-echo` on
// different numbers; a real @grpc/grpc-js-xds client reaches both through the control plane.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { loadText } from '../../src/config/load.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { buildProxylessResources } from '../../src/controlplane/proxyless.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';

const run = promisify(execFile);
const deployment = (version: string, containerPort: number) => `
apiVersion: apps/v1
kind: Deployment
metadata: {name: echo-${version}, namespace: test}
spec:
  selector: {matchLabels: {app: echo, version: ${version}}}
  template:
    metadata: {labels: {app: echo, version: ${version}}}
    spec: {containers: [{name: echo, image: echo, ports: [{name: grpc-echo, containerPort: ${containerPort}}]}]}
`;
const mesh = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 7070, targetPort: grpc-echo}]
---${deployment('v1', 8081)}---${deployment('v2', 9091)}`;

/** `echo-VERSION-0`, its container port `containerPort` served on `port` (process mode maps it). */
const workload = (version: string, containerPort: number, port: number): WorkloadInstance => ({
  name: `echo-${version}-0`,
  namespace: 'test',
  labels: { app: 'echo', version },
  serviceAccount: 'echo',
  address: '127.0.0.1',
  appPorts: { [containerPort]: port },
  healthy: true,
  source: 'deployment',
});

test('the endpoints of a named targetPort are each workload\'s container port of that name', () => {
  const { resources, diagnostics } = loadText(mesh, 'mesh.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  // Outside process mode a container listens on its own port; in it, on the port mapped for it.
  const snapshot = buildSnapshot(resources, [workload('v1', 8081, 8081), workload('v2', 9091, 41091)], '1');
  const cla = buildProxylessResources(snapshot, 'test', ['echo.test:7070']).get(TypeUrl.ClusterLoadAssignment)?.get('outbound|7070||echo.test.svc.cluster.local') as unknown as {
    endpoints: { lb_endpoints: { endpoint: { address: { socket_address: { port_value: number } } } }[] }[];
  };
  assert.deepEqual(cla.endpoints.flatMap((e) => e.lb_endpoints.map((lb) => lb.endpoint.address.socket_address.port_value)).sort(), [41091, 8081]);
});

let dir: string;
let cp: ControlPlane;
const backends: grpc.Server[] = [];

async function backend(name: string): Promise<number> {
  const server = new grpc.Server();
  const id = (b: Buffer) => b;
  server.addService(
    { Who: { path: '/echo.Echo/Who', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id } },
    { Who: (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, Buffer.from(name)) },
  );
  backends.push(server);
  return new Promise((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
}

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-proxyless-named-'));
  await writeFile(path.join(dir, 'mesh.yaml'), mesh);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  cp.registerWorkload(workload('v1', 8081, await backend('v1')));
  cp.registerWorkload(workload('v2', 9091, await backend('v2')));
  cp.flush();
});

after(async () => {
  await cp?.close();
  for (const b of backends) b.forceShutdown();
  if (dir) await rm(dir, { recursive: true });
});

test('a grpc-js-xds client reaches every version behind a named targetPort', async () => {
  const bootstrap = {
    xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.0.1~client-0.test~test.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'test' } },
  };
  const script = path.join(import.meta.dirname, 'fixtures', 'xds-client.ts');
  const { stdout } = await run(process.execPath, [script, JSON.stringify({ target: 'echo.test.svc.cluster.local:7070', batches: [{ n: 40 }] })], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_VERBOSITY: 'ERROR' },
    // Calls to an endpoint nothing listens on wait for a connection: bounded, they fail the test.
    timeout: 30_000,
  });
  const [calls] = JSON.parse(stdout) as Record<string, number>[];
  // Round robin over the two endpoints: every call answered, by both versions.
  assert.equal((calls?.['v1'] ?? 0) + (calls?.['v2'] ?? 0), 40, JSON.stringify(calls));
  assert.ok((calls?.['v1'] ?? 0) > 0 && (calls?.['v2'] ?? 0) > 0, JSON.stringify(calls));
});
