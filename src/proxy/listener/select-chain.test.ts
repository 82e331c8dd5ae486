// Filter chain match by destination address (`prefix_ranges`), in Envoy's precedence: port first, then
// the longest matching prefix, then server name and protocols. Chains are compiled from Envoy JSON.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyListener } from '../config/envoy-shapes.ts';
import { HttpFilterRegistry } from '../http/filter-registry.ts';
import { TypeUrl } from '../../xds/type-urls.ts';
import { compileListener } from './compile-listener.ts';
import { parseSockaddrIn } from './original-destination.ts';
import { selectChain } from './select-chain.ts';

const tcp = (cluster: string) => [{ name: 'envoy.filters.network.tcp_proxy', typed_config: { '@type': TypeUrl.TcpProxy, stat_prefix: cluster, cluster } }];
const range = (address_prefix: string, len: number) => ({ address_prefix, prefix_len: { value: len } });

function compile(l: Partial<EnvoyListener>) {
  const ctx = { filters: new HttpFilterRegistry([]), compileRoutes: () => assert.fail('no routes here') };
  return compileListener({ name: 'virtualOutbound', address: { socket_address: { address: '0.0.0.0', port_value: 15001 } }, ...l } as EnvoyListener, ctx);
}

const listener = compile({
  use_original_dst: { value: true },
  filter_chains: [
    { name: 'any-7000', filter_chain_match: { destination_port: { value: 7000 } }, filters: tcp('any') },
    { name: 'subnet-7000', filter_chain_match: { destination_port: { value: 7000 }, prefix_ranges: [range('10.96.0.0', 16)] }, filters: tcp('subnet') },
    { name: 'orders-7000', filter_chain_match: { destination_port: { value: 7000 }, prefix_ranges: [range('10.96.0.10', 32)] }, filters: tcp('orders') },
    { name: 'orders-any-port', filter_chain_match: { prefix_ranges: [range('10.96.0.10', 32)] }, filters: tcp('orders-any') },
  ],
  default_filter_chain: { name: 'passthrough', filters: tcp('PassthroughCluster') },
});

const pick = (destinationIp: string | undefined, destinationPort = 7000) =>
  selectChain(listener, { destinationPort, transportProtocol: 'raw_buffer', ...(destinationIp ? { destinationIp } : {}) })?.name;

test('use_original_dst compiles; ranges are kept longest first', () => {
  assert.equal(listener.useOriginalDst, true);
  assert.equal(compile({}).useOriginalDst, undefined);
  const c = compile({ filter_chains: [{ filter_chain_match: { prefix_ranges: [range('10.0.0.0', 8), range('10.1.2.3', 32)] }, filters: tcp('x') }] });
  assert.deepEqual(c.chains[0]?.destinationRanges?.map((r) => r.prefixLen), [32, 8]);
});

test('the longest matching prefix wins among chains of one port', () => {
  assert.equal(pick('10.96.0.10'), 'orders-7000');
  assert.equal(pick('10.96.3.4'), 'subnet-7000');
  assert.equal(pick('192.168.1.1'), 'any-7000');
});

test('the destination port outranks the address', () => {
  assert.equal(pick('10.96.0.10', 9000), 'orders-any-port');
  assert.equal(pick('10.96.0.11', 9000), 'passthrough');
});

test('a query without an address (the forward proxy) ignores ranges', () => {
  // All three port-7000 chains tie on port; the first of equal score stays.
  assert.equal(pick(undefined), 'any-7000');
});

test('a bad prefix names the chain and field', () => {
  assert.throws(
    () => compile({ filter_chains: [{ filter_chain_match: { prefix_ranges: [range('10.0.0.0', 40)] }, filters: tcp('x') }] }),
    (err: Error) => err instanceof ProxyConfigError && /filter_chains\[0\]\.filter_chain_match/.test(err.message) && /prefix_ranges\[0\]/.test(err.message) && /out of range/.test(err.message),
  );
});

test('struct sockaddr_in: family, port and address in network order; anything else is no answer', () => {
  const buf = Buffer.from([2, 0, 0x26, 0x9a, 10, 96, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual(parseSockaddrIn(buf), { address: '10.96.0.5', port: 9882 });
  assert.equal(parseSockaddrIn(Buffer.from([10, 0, 0, 80, 0, 0, 0, 0])), undefined);
  assert.equal(parseSockaddrIn(Buffer.alloc(4)), undefined);
});
