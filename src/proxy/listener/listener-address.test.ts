// A listener's address is an IP, as Envoy requires: a name is refused when the listener is compiled (a
// NACK), never resolved by the bind that the LDS answer waits on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TypeUrl } from '../../xds/type-urls.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyListener } from '../config/envoy-shapes.ts';
import { HttpFilterRegistry } from '../http/filter-registry.ts';
import { compileListener } from './compile-listener.ts';

const tcp = [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TypeUrl.TcpProxy, stat_prefix: 'db', cluster: 'db' } }];

function compile(address: string) {
  const ctx = { filters: new HttpFilterRegistry([]), compileRoutes: () => assert.fail('no routes here') };
  return compileListener({ name: 'db', address: { socket_address: { address, port_value: 5432 } }, filter_chains: [{ filters: tcp }] } as unknown as EnvoyListener, ctx);
}

test('a listener address that is no IP is refused with Envoy\'s reason; IPv4 and IPv6 are taken', () => {
  assert.throws(() => compile('localhost'), (err: unknown) => err instanceof ProxyConfigError && /malformed IP address: localhost/.test(err.message));
  assert.equal(compile('127.0.0.1').address, '127.0.0.1');
  assert.equal(compile('::').address, '::');
});
