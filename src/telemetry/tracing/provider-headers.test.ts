// An `env_name` header whose variable holds what Node refuses in a header value (CR, LF, NUL, another
// control) is left out, told once when the sender is made: the spans still go out, where the header
// failed every export before, silently.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { providerSender, resolveHeaders } from './provider-sender.ts';

test('a bad environment value drops its header with one warning; the others stay', () => {
  const warned: string[] = [];
  const headers = resolveHeaders(
    [
      { name: 'X-Api-Key', env_name: 'KEY' },
      { name: 'x-tenant', env_name: 'TENANT' },
      { name: 'x-nul', env_name: 'NUL' },
      { name: 'x-ctl', env_name: 'CTL' },
      { name: 'x-unset', env_name: 'UNSET' },
    ],
    { KEY: 'k-1', TENANT: 'shop\r\nx-evil: 1', NUL: 'a\u0000', CTL: 'a\u0001' },
    (m) => warned.push(m),
  );
  assert.deepEqual(headers, { 'x-api-key': 'k-1', 'x-unset': '' });
  assert.equal(warned.length, 3);
  assert.match(warned[0] ?? '', /x-tenant: the value of TENANT is not a valid header value/);
});

test('Zipkin with a bad environment value: the batch is taken, without that header', async () => {
  const got: (string | undefined)[] = [];
  const collector = http.createServer((req, res) => {
    got.push(req.headers['x-tenant'] as string | undefined);
    req.resume();
    req.on('end', () => res.end());
  });
  await new Promise<void>((r) => collector.listen(0, '127.0.0.1', r));
  const { port } = collector.address() as AddressInfo;
  try {
    const warned: string[] = [];
    const sender = providerSender(
      { name: 'z', kind: 'zipkin', service: '127.0.0.1', port, headers: [{ name: 'x-tenant', env_name: 'TENANT' }] },
      { env: { TENANT: 'shop\nx-evil: 1' }, warn: (m) => warned.push(m) },
    );
    for (let i = 0; i < 2; i++) assert.equal(await sender.send({ serviceName: 'web.shop', resource: {}, spans: [] }), true);
    assert.deepEqual(got, [undefined, undefined]);
    assert.equal(warned.length, 1, 'told once, not per export');
  } finally {
    collector.close();
  }
});
