// Istio's TCP telemetry through real proxies, config translated from YAML: a TCP service between two
// sidecars over the mesh tunnel is reported by both (reporter source and destination) with Istio's
// labels, its bytes growing while the connection is open, opened and closed counts, connect failures
// (UF) on either side, and one access-log line per connection in Istio's default TEXT format.
import assert from 'node:assert/strict';
import net from 'node:net';
import { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import type { ProxyView } from '../../src/model/proxy-view.ts';
import { buildSnapshot } from '../../src/model/snapshot.ts';
import type { WorkloadInstance } from '../../src/model/workload.ts';
import { buildProxyResources } from '../../src/translate/proxy-resources.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from '../proxy/certs.ts';
import { push, request, startProxy } from '../proxy/harness.ts';

// `db` takes TCP on 5432 (port name) and 5433 (appProtocol), whose app is down; `ghost`'s sidecar is unreachable.
const yaml = `apiVersion: v1
kind: Service
metadata: {name: db, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-db, port: 5432}, {name: replica, port: 5433, appProtocol: tcp}]
---
apiVersion: v1
kind: Service
metadata: {name: ghost, namespace: shop}
spec:
  selector: {app: ghost}
  ports: [{name: tcp-ghost, port: 6000}]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig: {accessLogFile: /dev/stdout}
`;

type Proxy = Awaited<ReturnType<typeof startProxy>>;
let echoApp: net.Server;
let server: Proxy;
let client: Proxy;
const logs = { server: [] as string[], client: [] as string[] };

const spiffe = (sa: string) => `spiffe://cluster.local/ns/shop/sa/${sa}`;
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

function translated(workloads: WorkloadInstance[], proxy: ProxyView): TypedAny[] {
  const snapshot = buildSnapshot(loadText(yaml).resources, workloads, '1');
  return [...buildProxyResources(snapshot, proxy).values()].flatMap((m) => [...m.values()]);
}

async function listen(s: net.Server): Promise<number> {
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return (s.address() as net.AddressInfo).port;
}

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const s = net.createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** A raw TCP connection through the client sidecar's forward proxy (CONNECT), past its 200. */
async function dial(authority: string): Promise<net.Socket> {
  const s = net.connect(await client.port('virtualOutbound'), '127.0.0.1');
  s.write(`CONNECT ${authority} HTTP/1.1\r\nhost: ${authority}\r\n\r\n`);
  await new Promise<void>((resolve, reject) => {
    let head = '';
    const onData = (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.off('data', onData);
      if (!head.startsWith('HTTP/1.1 200')) reject(new Error(head));
      else resolve();
    };
    s.on('data', onData);
    s.once('error', reject);
  });
  return s;
}

/** Writes `n` bytes and waits for the app's echo of all of them. */
async function roundTrip(s: net.Socket, n: number): Promise<void> {
  let got = 0;
  await new Promise<void>((resolve) => {
    const onData = (c: Buffer) => {
      got += c.length;
      if (got >= n) {
        s.off('data', onData);
        resolve();
      }
    };
    s.on('data', onData);
    s.write(Buffer.alloc(n, 'x'));
  });
}

async function closed(s: net.Socket): Promise<void> {
  if (s.closed) return;
  await new Promise((r) => s.once('close', r));
}

/** One series' value from a proxy's /stats/prometheus: the line of `metric` whose labels include all of `labels`. */
async function series(p: Proxy, metric: string, labels: Record<string, string>): Promise<number | undefined> {
  const text = (await request(p.admin, '/stats/prometheus')).body;
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  const line = text.split('\n').find((l) => l.startsWith(`${metric}{`) && want.every((w) => l.includes(w)));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

/** Waits until a series reaches `value` (the proxies count a close after the client has seen it), then returns it. */
async function reaches(p: Proxy, metric: string, labels: Record<string, string>, value: number): Promise<number> {
  let last: number | undefined;
  try {
    return await until(async () => {
      last = await series(p, metric, labels);
      return last === value ? value : undefined;
    });
  } catch {
    throw new Error(`${metric} ${JSON.stringify(labels)}: ${last} after 10 s, expected ${value}`);
  }
}

/** Polls a check until it holds (closes and their log lines follow the client's sockets), for at most 10 s. */
async function until<T>(check: () => Promise<T | undefined> | T | undefined): Promise<T> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error('not within 10 s');
    await new Promise((r) => setTimeout(r, 20));
  }
}

before(async () => {
  const ca = await makeCa();
  echoApp = net.createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  const appPorts = { 5432: await listen(echoApp), 5433: await closedPort() };
  const dbView = view('db', appPorts);
  server = await startProxy({ ...node(dbView), output: output(logs.server) });
  server.proxy.secrets.setLocal('default', await ca.issue(spiffe('db')));
  const root: TypedAny = { '@type': TypeUrl.Secret, name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.ca } } };
  const workload = (name: string, tunnelPort: number): WorkloadInstance => ({
    name: `${name}-0`,
    namespace: 'shop',
    labels: { app: name, version: 'v1' },
    serviceAccount: name,
    address: '127.0.0.1',
    appPorts: name === 'db' ? appPorts : { 6000: 6000 },
    tunnelAddress: `127.0.0.1:${tunnelPort}`,
    healthy: true,
    source: 'deployment',
  });
  push(server.proxy, [...translated([workload('db', 15008)], dbView), root]);
  const cartView = view('cart', {});
  client = await startProxy({ ...node(cartView), output: output(logs.client) });
  client.proxy.secrets.setLocal('default', await ca.issue(spiffe('cart')));
  push(client.proxy, [...translated([workload('db', await server.port('connect_terminate')), workload('ghost', await closedPort())], cartView), root]);
});

after(async () => {
  await client?.close();
  await server?.close();
  echoApp?.close();
});

const bounded = { timeout: 30_000 };
const db = { destination_service: 'db.shop.svc.cluster.local', destination_service_name: 'db', destination_service_namespace: 'shop', request_protocol: 'tcp' };
const source = { reporter: 'source', source_workload: 'cart', source_workload_namespace: 'shop', source_principal: spiffe('cart'), source_app: 'cart', source_version: 'v1', ...db, connection_security_policy: 'unknown' };
const destination = { reporter: 'destination', source_workload: 'cart', source_workload_namespace: 'shop', source_principal: spiffe('cart'), source_app: 'cart', ...db, connection_security_policy: 'mutual_tls' };
const answered = { destination_workload: 'db', destination_workload_namespace: 'shop', destination_principal: spiffe('db'), destination_app: 'db', destination_version: 'v1', destination_canonical_service: 'db', destination_canonical_revision: 'v1' };

test('both sidecars report a TCP connection: Istio labels, bytes growing while it is open, opened then closed', bounded, async () => {
  const s = await dial('db.shop:5432');
  await roundTrip(s, 1000);
  for (const [proxy, labels] of [[client, { ...source, ...answered, response_flags: '-' }], [server, { ...destination, ...answered, response_flags: '-' }]] as const) {
    const who = labels.reporter;
    // The destination counts the echo's bytes as they are written back: wait for all of them.
    assert.equal(await reaches(proxy, 'istio_tcp_sent_bytes_total', labels, 1000), 1000, `${who}: bytes sent so far`);
    assert.equal(await series(proxy, 'istio_tcp_received_bytes_total', labels), 1000, `${who}: bytes received so far, the connection still open`);
    assert.equal(await series(proxy, 'istio_tcp_connections_opened_total', labels), 1, `${who}: opened`);
    assert.equal((await series(proxy, 'istio_tcp_connections_closed_total', labels)) ?? 0, 0, `${who}: not closed yet`);
  }
  await roundTrip(s, 500);
  assert.equal(await reaches(client, 'istio_tcp_received_bytes_total', source, 1500), 1500, 'a scrape sees the open connection grow');
  s.end();
  await closed(s);
  for (const [proxy, labels] of [[client, source], [server, destination]] as const) {
    assert.equal(await reaches(proxy, 'istio_tcp_connections_closed_total', labels, 1), 1, `${labels.reporter}: closed`);
    assert.equal(await series(proxy, 'istio_tcp_sent_bytes_total', labels), 1500);
    assert.equal(await series(proxy, 'istio_tcp_received_bytes_total', labels), 1500);
  }
  const text = (await request(client.admin, '/stats/prometheus')).body;
  assert.doesNotMatch(text, /istio_tcp_[a-z_]+\{[^}]*(response_code|grpc_response_status)=/, "Istio's TCP series have no response code");
  assert.doesNotMatch(text, /istio_requests_total\{/, 'no HTTP series for a TCP connection');

  // One TEXT line per connection and side: HTTP fields `-`, code 0, tcp_proxy's bytes, upstream and addresses.
  const line = (lines: string[], cluster: string) => until(() => lines.find((l) => l.includes(` ${cluster} `)));
  const out = await line(logs.client, 'outbound|5432||db.shop.svc.cluster.local');
  assert.match(out, /^\[\S+Z\] "- - -" 0 - - - "-" 1500 1500 \d+ - "-" "-" "-" "-" "127\.0\.0\.1:\d+" outbound\|5432\|\|db\.shop\.svc\.cluster\.local - db\.shop:5432 127\.0\.0\.1:\d+ - -$/);
  const inb = await line(logs.server, 'inbound|5432||');
  assert.match(inb, /^\[\S+Z\] "- - -" 0 - - - "-" 1500 1500 \d+ - "-" "-" "-" "-" "127\.0\.0\.1:\d+" inbound\|5432\|\| - 127\.0\.0\.1:5432 \S+ outbound_\.5432_\._\.db\.shop\.svc\.cluster\.local -$/);
});

test('a connect failure is UF: at the destination when its app is down, at the source when the peer sidecar is', bounded, async () => {
  const s = await dial('db.shop:5433');
  await closed(s);
  const down = { ...destination, destination_service: 'db.shop.svc.cluster.local', response_flags: 'UF' };
  assert.equal(await reaches(server, 'istio_tcp_connections_closed_total', down, 1), 1);
  assert.equal(await series(server, 'istio_tcp_connections_opened_total', down), 1);
  assert.equal(await series(server, 'istio_tcp_sent_bytes_total', down), 0);
  // The source reached the destination sidecar: its connection was answered, then closed (Istio's too).
  const answeredThenClosed = { ...source, ...answered, response_flags: '-' };
  assert.equal(await reaches(client, 'istio_tcp_connections_closed_total', answeredThenClosed, 2), 2);
  const refused = await until(() => logs.server.find((l) => l.includes(' inbound|5433|| ')));
  assert.match(refused, /^\[\S+Z\] "- - -" 0 UF - - "[^"]*ECONNREFUSED[^"]*" 0 0 \d+ - "-" "-" "-" "-" "127\.0\.0\.1:\d+" inbound\|5433\|\| /);

  const g = await dial('ghost.shop:6000');
  await closed(g);
  const ghost = { reporter: 'source', source_workload: 'cart', destination_workload: 'unknown', destination_service: 'ghost.shop.svc.cluster.local', destination_service_name: 'ghost', destination_service_namespace: 'shop', request_protocol: 'tcp', response_flags: 'UF' };
  assert.equal(await reaches(client, 'istio_tcp_connections_opened_total', ghost, 1), 1);
  assert.equal(await reaches(client, 'istio_tcp_connections_closed_total', ghost, 1), 1);
  const failed = await until(() => logs.client.find((l) => l.includes(' outbound|6000||ghost.shop.svc.cluster.local ')));
  assert.match(failed, /^\[\S+Z\] "- - -" 0 UF - - "[^"]+" 0 0 \d+ - "-" "-" "-" "-" "127\.0\.0\.1:\d+" outbound\|6000\|\|ghost\.shop\.svc\.cluster\.local /);
});
