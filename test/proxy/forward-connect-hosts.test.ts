// The forward proxy (virtualOutbound in process mode) picks a CONNECT's chain by the service it names:
// two services' TCP chains on one port, each with `filter_metadata.outrigger.hosts`, reach their own
// upstream; a name no chain lists falls back to the port's first chain, as before.
import assert from 'node:assert/strict';
import net from 'node:net';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, push, startProxy, tcpProxy } from './harness.ts';

let proxy: Awaited<ReturnType<typeof startProxy>>;
const servers: net.Server[] = [];

/** A TCP server that answers every connection with its own name, then echoes. */
async function named(name: string): Promise<number> {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    s.write(`${name}:`);
    s.pipe(s);
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return (server.address() as net.AddressInfo).port;
}

const tcpChain = (clusterName: string, hosts: string[]) => ({
  name: clusterName,
  filter_chain_match: { destination_port: { value: 7000 } },
  filters: [{ name: 'envoy.filters.network.tcp_proxy', typed_config: tcpProxy(clusterName) }],
  metadata: { filter_metadata: { outrigger: { hosts } } },
});

before(async () => {
  const orders = await named('orders');
  const billing = await named('billing');
  proxy = await startProxy();
  const outbound: TypedAny = {
    '@type': TypeUrl.Listener,
    name: 'virtualOutbound',
    address: { socket_address: { address: '0.0.0.0', port_value: 15001 } },
    filter_chains: [
      tcpChain('outbound|7000||orders.shop.svc.cluster.local', ['orders.shop.svc.cluster.local', 'orders.shop', 'orders']),
      tcpChain('outbound|7000||billing.shop.svc.cluster.local', ['billing.shop.svc.cluster.local', 'billing.shop', 'billing']),
    ],
  };
  push(proxy.proxy, [
    cluster('outbound|7000||orders.shop.svc.cluster.local'),
    cluster('outbound|7000||billing.shop.svc.cluster.local'),
    cla('outbound|7000||orders.shop.svc.cluster.local', [{ port: orders }]),
    cla('outbound|7000||billing.shop.svc.cluster.local', [{ port: billing }]),
    outbound,
  ]);
});

after(async () => {
  await proxy.close();
  for (const s of servers) s.close();
});

/** CONNECT through the forward proxy, send `ping`, and return what came back after the 200. */
async function connectVia(target: string): Promise<string> {
  const s = net.connect(await proxy.port('virtualOutbound'), '127.0.0.1');
  s.write(`CONNECT ${target} HTTP/1.1\r\nhost: ${target}\r\n\r\n`);
  let buf = '';
  const out = await new Promise<string>((resolve, reject) => {
    s.on('error', reject);
    s.on('data', (c: Buffer) => {
      buf += c.toString();
      const body = buf.split('\r\n\r\n')[1];
      if (body === '' && !buf.includes('ping')) s.write('ping');
      if (body?.endsWith('ping')) resolve(buf);
    });
  });
  s.destroy();
  assert.match(out, /^HTTP\/1.1 200/);
  return out.split('\r\n\r\n')[1] ?? '';
}

test('a CONNECT reaches the service it names when two services share a TCP port', async () => {
  assert.equal(await connectVia('billing.shop:7000'), 'billing:ping');
  assert.equal(await connectVia('orders:7000'), 'orders:ping');
  assert.equal(await connectVia('BILLING.shop.svc.cluster.local:7000'), 'billing:ping');
});

test('a name no chain lists takes the port’s first chain', async () => {
  assert.equal(await connectVia('unknown.shop:7000'), 'orders:ping');
});
