import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ClusterStats } from '../../telemetry/metrics/cluster-stats.ts';
import type { Upstream, UpstreamExchange, UpstreamHead, UpstreamSink } from '../upstream/upstream.ts';
import { CircuitBreakers } from './circuit-breaker.ts';
import { ConnectionGate } from './connection-gate.ts';

const counter = () => ({
  value: 0,
  inc() {
    this.value++;
  },
  dec() {
    this.value--;
  },
});
const gateStats = () => ({ upstream_cx_overflow: counter(), upstream_rq_pending_overflow: counter(), upstream_rq_pending_total: counter(), upstream_rq_pending_active: counter() });
const head: UpstreamHead = { method: 'GET', path: '/', authority: 'a', scheme: 'http', headers: {} };
const quiet: UpstreamSink = { onHead() {}, onData: () => true, onEnd() {}, onError() {} };
const limits = (max_connections: number, max_pending_requests = 1024) => new CircuitBreakers({ thresholds: [{ max_connections: { value: max_connections }, max_pending_requests: { value: max_pending_requests } }] }).forPriority();

/** A host whose requests stay open until their sink is ended; counts what runs on it. */
function host() {
  const h = { running: 0, peak: 0, sinks: [] as UpstreamSink[], upstream: undefined as unknown as Upstream };
  h.upstream = {
    request(_h, _b, sink): UpstreamExchange {
      h.running++;
      h.peak = Math.max(h.peak, h.running);
      h.sinks.push(sink);
      return { resume() {}, abort() {} };
    },
    connections: () => 0,
    close: async () => {},
  };
  return h;
}

const microtask = () => new Promise<void>((r) => queueMicrotask(r));

test('with the pending queue full, a host with no connection is refused too (newStreamImpl checks pending first: 503 UO)', () => {
  const stats = gateStats();
  const rm = limits(1, 1);
  const gate = new ConnectionGate(stats as unknown as ClusterStats);
  const a = host();
  const b = host();
  assert.ok(gate.send(rm, a.upstream, head, null, quiet), 'runs on the one connection');
  assert.ok(gate.send(rm, a.upstream, head, null, quiet), 'queued: pending 1 of 1');
  assert.equal(gate.pending, 1);
  assert.equal(stats.upstream_cx_overflow.value, 1, 'the queued request could not have its connection');
  assert.equal(gate.send(rm, b.upstream, head, null, quiet), null);
  assert.equal(stats.upstream_rq_pending_overflow.value, 1);
  assert.equal(stats.upstream_cx_overflow.value, 1, 'a pending overflow is no connection overflow: no connection was tried');
  assert.equal(rm.connections.current, 1);
  // With room in the queue, the idle host still gets its connection past the limit, holding no pending slot.
  const rm2 = limits(1, 2);
  const gate2 = new ConnectionGate(gateStats() as unknown as ClusterStats);
  gate2.send(rm2, a.upstream, head, null, quiet);
  gate2.send(rm2, a.upstream, head, null, quiet);
  assert.ok(gate2.send(rm2, b.upstream, head, null, quiet));
  assert.equal(b.running, 1);
  assert.equal(rm2.connections.current, 2);
  assert.equal(rm2.pendingRequests.current, 1);
});

test('the per-host count lives on the upstream: no Map write per request', () => {
  const a = host();
  const rm = limits(4294967295);
  const gate = new ConnectionGate(gateStats() as unknown as ClusterStats);
  const set = Map.prototype.set;
  const del = Map.prototype.delete;
  let writes = 0;
  Map.prototype.set = function (this: Map<unknown, unknown>, k: unknown, v: unknown) {
    if (k === a.upstream) writes++;
    return set.call(this, k, v);
  };
  Map.prototype.delete = function (this: Map<unknown, unknown>, k: unknown) {
    if (k === a.upstream) writes++;
    return del.call(this, k);
  };
  try {
    for (let i = 0; i < 100; i++) {
      gate.send(rm, a.upstream, head, null, quiet);
      assert.equal(a.upstream.gated, 1);
      a.sinks.pop()?.onEnd({});
    }
  } finally {
    Map.prototype.set = set;
    Map.prototype.delete = del;
  }
  assert.equal(writes, 0);
  assert.equal(a.upstream.gated, 0);
  assert.equal(rm.connections.current, 0);
});

test('a slot freed on an older resource manager is not handed to a waiter queued on the current one', async () => {
  const a = host();
  const oldRm = limits(1);
  assert.ok(oldRm.tryAcquireConnection(), 'a tcp_proxy connection from before the CDS update');
  const newRm = limits(2);
  const gate = new ConnectionGate(gateStats() as unknown as ClusterStats);
  for (let i = 0; i < 3; i++) gate.send(newRm, a.upstream, head, null, quiet);
  assert.equal(gate.pending, 1);
  gate.handOff(oldRm);
  await microtask();
  assert.equal(a.running, 2);
  assert.equal(gate.pending, 1, 'still waits for a slot of its own manager');
  assert.equal(oldRm.connections.current, 0);
  assert.equal(newRm.connections.current, 2);
  a.sinks[0]?.onEnd({});
  await microtask();
  assert.equal(a.running, 3, 'served by a slot of the current manager');
  assert.equal(gate.pending, 0);
});

test('a waiter handed a slot counts as running at once: a request sent before its dispatch does not take the exemption', async () => {
  const a = host();
  const rm = limits(1);
  const gate = new ConnectionGate(gateStats() as unknown as ClusterStats);
  const first: UpstreamSink = {
    ...quiet,
    onEnd() {
      a.running--;
      gate.send(rm, a.upstream, head, null, quiet);
    },
  };
  gate.send(rm, a.upstream, head, null, first);
  gate.send(rm, a.upstream, head, null, quiet);
  assert.equal(gate.pending, 1);
  a.sinks[0]?.onEnd({});
  assert.equal(gate.pending, 1, 'the request sent from onEnd queues behind the handed one');
  await microtask();
  assert.equal(a.peak, 1);
  assert.equal(rm.connections.current, 1);
});

test('a handed waiter that is aborted before its dispatch passes its slot on', async () => {
  const a = host();
  const rm = limits(1);
  const gate = new ConnectionGate(gateStats() as unknown as ClusterStats);
  gate.send(rm, a.upstream, head, null, quiet);
  const second = gate.send(rm, a.upstream, head, null, quiet);
  gate.send(rm, a.upstream, head, null, quiet);
  assert.equal(gate.pending, 2);
  a.sinks[0]?.onEnd({});
  second?.abort('downstream reset');
  await microtask();
  await microtask();
  assert.equal(a.sinks.length, 2, 'the third runs');
  assert.equal(gate.pending, 0);
  assert.equal(a.upstream.gated, 1);
  assert.equal(rm.connections.current, 1);
});
