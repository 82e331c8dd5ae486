// Conformance: a real @grpc/grpc-js-xds client, bootstrapped against the control plane, follows what
// Istio YAML says: reach a service by xds:///name, a weighted split, a header-match route, an abort.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';

const run = promisify(execFile);
const mesh = `
apiVersion: v1
kind: Service
metadata: {name: echo, namespace: test}
spec:
  selector: {app: echo}
  ports: [{name: grpc, port: 7070, targetPort: 7070}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: echo, namespace: test}
spec:
  host: echo
  subsets:
  - {name: v1, labels: {version: v1}}
  - {name: v2, labels: {version: v2}}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: echo, namespace: test}
spec:
  hosts: [echo]
  http:
  - match: [{headers: {x-canary: {exact: "yes"}}}]
    route: [{destination: {host: echo, subset: v2}}]
  - match: [{headers: {x-fault: {exact: "abort"}}}]
    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}
    route: [{destination: {host: echo, subset: v1}}]
  - route:
    - {destination: {host: echo, subset: v1}, weight: 80}
    - {destination: {host: echo, subset: v2}, weight: 20}
`;

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
  dir = await mkdtemp(path.join(tmpdir(), 'or-proxyless-'));
  await writeFile(path.join(dir, 'mesh.yaml'), mesh);
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  for (const version of ['v1', 'v2']) {
    const port = await backend(version);
    cp.registerWorkload({
      name: `echo-${version}-0`, namespace: 'test', labels: { app: 'echo', version }, serviceAccount: 'echo',
      address: '127.0.0.1', appPorts: { 7070: port }, healthy: true, source: 'deployment',
    });
  }
  cp.flush();
});

after(async () => {
  await cp.close();
  for (const b of backends) b.forceShutdown();
  await rm(dir, { recursive: true });
});

async function client(batches: { n: number; metadata?: Record<string, string> }[]): Promise<Record<string, number>[]> {
  const bootstrap = {
    xds_servers: [{ server_uri: cp.xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: 'sidecar~127.0.0.1~client-0.test~test.svc.cluster.local', locality: {}, metadata: { GENERATOR: 'grpc', NAMESPACE: 'test' } },
  };
  const script = path.join(import.meta.dirname, 'fixtures', 'xds-client.ts');
  const { stdout, stderr } = await run(process.execPath, [script, JSON.stringify({ target: 'echo.test.svc.cluster.local:7070', batches })], {
    env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: JSON.stringify(bootstrap), GRPC_TRACE: process.env["OR_GRPC_TRACE"] ?? "", GRPC_VERBOSITY: process.env["OR_GRPC_TRACE"] ? "DEBUG" : "ERROR" },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
  });
  if (process.env["OR_GRPC_TRACE"]) process.stderr.write(stderr.slice(0, 20000));
  return JSON.parse(stdout) as Record<string, number>[];
}

test('a grpc-js-xds client follows the VirtualService: reach, weighted split, header match, abort', async () => {
  const [split, canary, fault] = await client([{ n: Number(process.env["OR_N"] ?? 400) }, { n: 20, metadata: { 'x-canary': 'yes' } }, { n: 10, metadata: { 'x-fault': 'abort' } }]);
  // (a) and (b): every call reached a backend, split 80/20. With n=400, p=0.2 the sd is 8: allow ±5 sd.
  assert.equal((split?.['v1'] ?? 0) + (split?.['v2'] ?? 0), 400, JSON.stringify(split));
  assert.ok(Math.abs((split?.['v2'] ?? 0) - 80) <= 40, `v2 got ${split?.['v2']} of 400, expected about 80`);
  // (c) the header match goes to v2 only
  assert.deepEqual(canary, { v2: 20 });
  // (d) the injected abort returns UNAVAILABLE (14) to every call
  assert.deepEqual(fault, { [`code:${grpc.status.UNAVAILABLE}`]: 10 });
  const sync = cp.connections.find((c) => c.node.generator === 'grpc');
  assert.equal(sync, undefined, 'the client process has exited, so its stream is gone');
});
