// A TCP connection whose client leaves while the destination's network ext_authz check is out, through
// real sidecars translated from YAML and a real gRPC Authorization server that holds its answer: Envoy's
// ext_authz cancels the check, and Istio's TCP metrics still count the connection opened and closed, and
// its access log has a line for it, with no UAEX (nothing refused it) and no upstream (none was dialled).
// The answer that comes later changes nothing.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type * as grpc from '@grpc/grpc-js';
import { startTcpAuthzPair, type TcpAuthzPair, until } from './tcp-authz-pair.ts';

// `db` serves `ledger` (5435, checked by the `grpc-authz` provider).
const yaml = `apiVersion: v1
kind: Service
metadata: {name: ledger, namespace: shop}
spec:
  selector: {app: db}
  ports: [{name: tcp-ledger, port: 5435}]
---
apiVersion: v1
kind: Service
metadata: {name: authz, namespace: shop}
spec:
  selector: {app: authz}
  ports: [{name: grpc, port: 9000}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: check-ledger, namespace: shop}
spec:
  selector: {matchLabels: {app: db}}
  action: CUSTOM
  provider: {name: grpc-authz}
  rules: [{to: [{operation: {ports: ["5435"]}}]}]
---
apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: mesh, namespace: istio-system}
spec:
  meshConfig:
    accessLogFile: /dev/stdout
    extensionProviders:
    - name: grpc-authz
      # Well past the test: the check must still be out when the client leaves (the default is 200 ms).
      envoyExtAuthzGrpc: {service: authz.shop.svc.cluster.local, port: 9000, timeout: 60s}
`;

/** Answers to checks still out, in order; the provider says nothing until the test calls one. */
const held: ((code: number) => void)[] = [];
/** Every Check call the provider got, in order. */
const calls: grpc.ServerUnaryCall<unknown, unknown>[] = [];
let pair: TcpAuthzPair;

before(async () => {
  pair = await startTcpAuthzPair(yaml, [5435], (answer, call) => {
    held.push(answer);
    calls.push(call);
  });
});

after(() => pair?.close());

const bounded = { timeout: 30_000 };

test('a connection whose client leaves while ext_authz is out is counted opened and closed (no flag, no bytes) and logged, and the late answer dials nothing', bounded, async () => {
  const before = pair.counts.app;
  const s = net.connect(await pair.client.port('virtualOutbound'), '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  const answered = new Promise<void>((resolve) =>
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\n')) resolve();
    }),
  );
  s.write('CONNECT ledger.shop:5435 HTTP/1.1\r\nhost: ledger.shop:5435\r\n\r\n');
  await answered;
  s.write('ping');
  // The destination has asked the provider, which holds its answer; the client goes meanwhile.
  await until(() => (held.length === 1 ? true : undefined));
  s.resetAndDestroy();
  const labels = { ...pair.destination('ledger'), response_flags: '-' };
  assert.equal(await until(() => pair.series(pair.server, 'istio_tcp_connections_closed_total', labels)), 1);
  assert.equal(await pair.series(pair.server, 'istio_tcp_connections_opened_total', labels), 1);
  assert.equal(await pair.series(pair.server, 'istio_tcp_received_bytes_total', labels), 0);
  assert.equal(await pair.series(pair.server, 'istio_tcp_connections_closed_total', { ...labels, response_flags: 'UAEX' }), undefined);
  const line = await until(() => pair.logs.find((l) => l.includes(' inbound|5435|| ')));
  assert.match(line, /^\[\S+Z\] "- - -" 0 - - - "-" 0 0 \d+ - "-" "-" "-" "-" "-" inbound\|5435\|\| - 127\.0\.0\.1:5435 \S+ outbound_\.5435_\._\.ledger\.shop\.svc\.cluster\.local -$/);
  // The provider allows it after all: the connection is gone, nothing is dialled, nothing counted twice.
  (held.shift() as (code: number) => void)(0);
  // A second connection, refused: its answer comes after the first's on the provider's one connection,
  // so once it is logged the first's late answer has been handled.
  const second = pair.refusedConnection('ledger.shop:5435');
  await until(() => (held.length === 1 ? true : undefined));
  (held.shift() as (code: number) => void)(7);
  assert.equal(await second, '');
  await until(() => pair.logs.find((l) => l.includes(' inbound|5435|| ') && l.includes(' UAEX ext_authz_denied ')));
  assert.equal(pair.counts.app, before, 'the app was never dialled');
  assert.equal(await until(() => pair.series(pair.server, 'istio_tcp_connections_closed_total', labels).then((n) => (n === 2 ? n : undefined))), 2);
  assert.equal(await pair.series(pair.server, 'istio_tcp_connections_opened_total', labels), 2, 'each connection opened once');
  assert.equal(pair.logs.filter((l) => l.includes(' inbound|5435|| ')).length, 2, 'one line per connection');
  assert.equal(pair.counts.checks, 2);
});

test("the check of a connection whose client leaves is cancelled: the provider sees its call cancelled, as Envoy's client_->cancel() on close", bounded, async () => {
  const s = net.connect(await pair.client.port('virtualOutbound'), '127.0.0.1');
  s.on('error', () => {});
  let got = '';
  const answered = new Promise<void>((resolve) =>
    s.on('data', (c: Buffer) => {
      got += c.toString('latin1');
      if (got.includes('\r\n\r\n')) resolve();
    }),
  );
  s.write('CONNECT ledger.shop:5435 HTTP/1.1\r\nhost: ledger.shop:5435\r\n\r\n');
  await answered;
  s.write('ping');
  await until(() => (held.length === 1 ? true : undefined));
  const call = calls.at(-1) as grpc.ServerUnaryCall<unknown, unknown>;
  assert.equal(call.cancelled, false, 'the check is out, held by the provider');
  s.resetAndDestroy();
  await until(() => (call.cancelled ? true : undefined));
  held.shift();
});
