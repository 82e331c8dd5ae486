// A listener whose routes never arrive keeps the proxy unready only until Envoy's initial fetch timeout.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { INITIAL_FETCH_TIMEOUT_MS } from '../../src/proxy/config/initial-fetch.ts';
import { hcm, listener, push, routeConfig, startProxy } from './harness.ts';

test('routes a listener names are waited for up to the initial fetch timeout, then no longer', async () => {
  let now = 1_000_000;
  const env = await startProxy({ now: () => now });
  try {
    push(env.proxy, [listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }])]);
    assert.equal(env.proxy.xds.routesWarm(), false, 'http.8080 named, not received');
    now += INITIAL_FETCH_TIMEOUT_MS - 1;
    assert.equal(env.proxy.xds.routesWarm(), false);
    now += 1;
    assert.equal(env.proxy.xds.routesWarm(), true, 'the initial fetch timed out: warm with what it has');
    // A new name starts a new wait; its arrival ends it.
    push(env.proxy, [listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]), listener('0.0.0.0_9090', 9090, [{ filter: hcm('http.9090') }])], 'v2');
    assert.equal(env.proxy.xds.routesWarm(), false);
    push(env.proxy, [routeConfig('http.8080', []), routeConfig('http.9090', [])], 'v3');
    assert.equal(env.proxy.xds.routesWarm(), true);
  } finally {
    await env.close();
  }
});
