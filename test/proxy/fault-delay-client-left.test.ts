// A client that resets or leaves while the fault filter delays its request: as Envoy's FaultFilter::
// onDestroy (resetTimerState, then active_faults_.dec()), the delay's timer is disarmed at once, the
// fault no longer counts against max_active_faults, and nothing after the fault runs: no later filter,
// no upstream request. The delay runs on a timer the test holds, so nothing waits for it.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { after, before, test } from 'node:test';
import { createFaultFilterFactory, type FaultTimer } from '../../src/proxy/filters/fault/filter.ts';
import { CONTINUE, type HttpFilterFactory } from '../../src/proxy/http/filter.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { until } from '../resilience/fake-clock.ts';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

/** Delay timers armed and not disarmed; `fire` runs every one, as if the delay ran out. */
const armed = new Map<number, () => void>();
let nextTimer = 0;
const timer: FaultTimer = {
  set: (fn) => {
    armed.set(++nextTimer, fn);
    return nextTimer;
  },
  clear: (h) => void armed.delete(h as number),
};
function fireAll(): void {
  for (const [h, fn] of armed) {
    armed.delete(h);
    fn();
  }
}

/** A filter after the fault (where an ext_authz check would go out): records the paths it is asked about. */
const probed: string[] = [];
const PROBE_TYPE = 'type.googleapis.com/outrigger.test.Probe';
const probe: HttpFilterFactory = {
  name: 'outrigger.test.probe',
  typeUrls: [PROBE_TYPE],
  create: () => ({
    onRequest: (ctx) => {
      probed.push(ctx.request.path);
      return CONTINUE;
    },
  }),
};

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  backend = await echoBackend();
  env = await startProxy({ filters: [createFaultFilterFactory({ random: () => 0, timer }), probe] });
  const fault = {
    name: 'envoy.filters.http.fault',
    typed_config: { '@type': TypeUrl.HttpFault, delay: { fixed_delay: { seconds: '5' }, percentage: { numerator: 100, denominator: 'HUNDRED' } }, max_active_faults: { value: 1 } },
  };
  const filters = [fault, { name: 'outrigger.test.probe', typed_config: { '@type': PROBE_TYPE } }, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  push(env.proxy, [
    cluster('b'),
    cla('b', [{ port: backend.port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: filters }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

const upstreamSaw = (path: string): boolean => backend.requests.some((r) => r.url === path);

/** After a client left during its delay: the next request is delayed too (the fault was released), then let through. */
async function nextIsDelayed(port: number, path: string): Promise<void> {
  const pending = request(port, path, { host: 'x' });
  await until(() => armed.size === 1 || upstreamSaw(path), 'the next request is delayed or forwarded');
  assert.equal(upstreamSaw(path), false, 'max_active_faults was released: the next request is delayed, not let through unfaulted');
  fireAll();
  assert.equal((await pending).status, 200);
}

test('HTTP/1.1: a client that resets during the delay disarms its timer, releases max_active_faults, and nothing after the fault runs', async () => {
  const port = await env.port('0.0.0.0_8080');
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => {});
  s.write('GET /left-h1 HTTP/1.1\r\nhost: x\r\n\r\n');
  await until(() => armed.size === 1, 'the request is delayed');
  s.resetAndDestroy();
  await until(() => env.proxy.inflight === 0, 'the stream closed');
  assert.equal(armed.size, 0, "the delay's timer is disarmed when the client leaves (Envoy's resetTimerState)");
  await nextIsDelayed(port, '/after-h1');
  // Had the left request's delay still been armed, it runs out now: nothing may follow it.
  fireAll();
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    probed.filter((p) => p === '/left-h1'),
    [],
    'no filter after the fault runs for the client that left',
  );
  assert.equal(upstreamSaw('/left-h1'), false, 'the upstream never sees the request');
});

test('HTTP/2: a client that cancels its stream during the delay disarms its timer and releases max_active_faults', async () => {
  const port = await env.port('0.0.0.0_8080');
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    const stream = session.request({ ':path': '/left-h2', ':authority': 'x' }, { endStream: true });
    stream.on('error', () => {});
    await until(() => armed.size === 1, 'the request is delayed');
    stream.close(http2.constants.NGHTTP2_CANCEL);
    await until(() => env.proxy.inflight === 0, 'the stream closed');
    assert.equal(armed.size, 0, "the delay's timer is disarmed when the client leaves");
    await nextIsDelayed(port, '/after-h2');
    fireAll();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      probed.filter((p) => p === '/left-h2'),
      [],
      'no filter after the fault runs',
    );
    assert.equal(upstreamSaw('/left-h2'), false);
  } finally {
    session.close();
  }
});
