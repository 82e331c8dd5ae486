// Two real sidecars translated from YAML around a TCP echo app and a real gRPC Authorization server: the
// client sidecar `cart` and the destination `db` (namespace `shop`), for tests of TCP connections an
// AuthorizationPolicy refuses (tcp-refused.test.ts) or whose check is still out (tcp-authz-client-left).
import net from 'node:net';
import { Writable } from 'node:stream';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { protoIncludeDirs } from '../../src/xds/protos.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';

export type Proxy = Awaited<ReturnType<typeof startProxy>>;

export const spiffe = (sa: string): string => `spiffe://cluster.local/ns/shop/sa/${sa}`;

const view = (name: string, appPorts: Record<number, number>): ProxyView =>
  ({ id: `sidecar~127.0.0.1~${name}-0.shop~shop.svc.cluster.local`, role: 'sidecar', namespace: 'shop', workloadName: name, serviceAccount: name, labels: { app: name, version: 'v1' }, ip: '127.0.0.1', appPorts }) as ProxyView;
const node = (v: ProxyView) => ({ nodeId: v.id, identity: spiffe(v.workloadName), metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: v.workloadName, LABELS: v.labels } });

/** The proxy's own output (where `/dev/stdout` access logs go), kept line by line. */
function output(lines: string[]): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      cb();
    },
  });
}

async function listen(s: net.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

export interface TcpAuthzPair {
  server: Proxy;
  client: Proxy;
  /** The destination sidecar's access log lines. */
  logs: string[];
  /** Connections the app accepted, and checks the provider was asked. */
  counts: { app: number; checks: number };
  /** A raw TCP connection through the client sidecar's forward proxy (CONNECT); what came back once it closed. */
  refusedConnection(authority: string): Promise<string>;
  /** One series' value from a proxy's /stats/prometheus: the line of `metric` whose labels include all of `labels`. */
  series(p: Proxy, metric: string, labels: Record<string, string>): Promise<number | undefined>;
  /** The destination's labels for a connection from `cart` to `service`. */
  destination(service: string): Record<string, string>;
  close(): Promise<void>;
}

/**
 * Starts the pair. `yaml` names the Services on `db` (their ports in `dbPorts`, each echoed by the app),
 * the policies and the `grpc-authz` provider; `check` answers each Check call (its callback takes the
 * gRPC status code of the answer, 0 to allow), and is given the call (to see it cancelled).
 */
export async function startTcpAuthzPair(yaml: string, dbPorts: readonly number[], check: (answer: (code: number) => void, call: grpc.ServerUnaryCall<unknown, unknown>) => void): Promise<TcpAuthzPair> {
  const ca = await makeCa();
  const counts = { app: 0, checks: 0 };
  const logs: string[] = [];
  const app = net.createServer((s) => {
    counts.app++;
    s.on('error', () => {});
    s.pipe(s);
  });
  const appPort = await listen(app);
  const pkg = loadSync('envoy/service/auth/v3/external_auth.proto', { includeDirs: [...protoIncludeDirs], keepCase: true, longs: String, enums: String, defaults: false });
  const authz = new grpc.Server();
  authz.addService(pkg['envoy.service.auth.v3.Authorization'] as unknown as grpc.ServiceDefinition, {
    Check: (call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
      counts.checks++;
      check((code) => cb(null, { status: { code } }), call);
    },
  });
  const authzPort = await new Promise<number>((resolve, reject) => authz.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))));
  const translated = (workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] => {
    const snapshot = buildSnapshot(loadText(yaml).resources, workloads, '1');
    return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
  };

  const appPorts = Object.fromEntries(dbPorts.map((p) => [p, appPort]));
  const dbView = view('db', appPorts);
  const server = await startProxy({ ...node(dbView), output: output(logs) });
  server.proxy.secrets.setLocal('default', await ca.issue(spiffe('db')));
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const db = (tunnelPort: number): WorkloadInstance => ({
    name: 'db-0',
    namespace: 'shop',
    labels: { app: 'db', version: 'v1' },
    serviceAccount: 'db',
    address: '127.0.0.1',
    appPorts,
    tunnelAddress: `127.0.0.1:${tunnelPort}`,
    healthy: true,
    source: 'deployment',
  });
  // The provider has no sidecar: the destination dials it as it is.
  const provider: WorkloadInstance = { name: 'authz-0', namespace: 'shop', labels: { app: 'authz' }, serviceAccount: 'authz', address: '127.0.0.1', appPorts: { 9000: authzPort }, healthy: true, source: 'deployment' };
  push(server.proxy, [...translated([db(15008), provider], dbView), root]);
  const cartView = view('cart', {});
  const client = await startProxy({ ...node(cartView), output: output([]) });
  client.proxy.secrets.setLocal('default', await ca.issue(spiffe('cart')));
  push(client.proxy, [...translated([db(await server.port('connect_terminate')), provider], cartView), root]);

  return {
    server,
    client,
    logs,
    counts,
    async refusedConnection(authority) {
      const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
      let got = '';
      s.on('data', (c: Buffer) => {
        got += c.toString('latin1');
        // Past the CONNECT's answer, the app would echo: it must never get the chance.
        if (got.includes('\r\n\r\n')) s.write('ping');
      });
      s.on('error', () => {});
      s.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
      await new Promise((r) => s.once('close', r));
      return got.slice(got.indexOf('\r\n\r\n') + 4);
    },
    async series(p, metric, labels) {
      const text = (await request(p.admin, '/stats/prometheus')).body;
      const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
      const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && want.every((w) => l.includes(w)));
      return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
    },
    destination: (service) => ({
      reporter: 'destination',
      source_workload: 'cart',
      source_principal: spiffe('cart'),
      destination_workload: 'db',
      destination_service: `${service}.shop.svc.cluster.local`,
      destination_service_name: service,
      request_protocol: 'tcp',
      connection_security_policy: 'mutual_tls',
    }),
    async close() {
      await client.close();
      await server.close();
      app.close();
      authz.forceShutdown();
    },
  };
}

/** Polls a check until it holds (the destination closes after the client has seen the close), for at most 10 s. */
export async function until<T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}
