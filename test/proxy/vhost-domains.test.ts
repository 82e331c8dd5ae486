// Virtual host domains through a real listener: every form Envoy accepts is accepted (no NACK), and
// each Host header reaches the virtual host Envoy would pick, ports included.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;

const answer = (body: string) => ({ domains: [] as string[], routes: [{ prefix: '/', direct: { status: 200, body } }] });

before(async () => {
  env = await startProxy();
  push(env.proxy, [
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('domains') }]),
    routeConfig('domains', [
      { ...answer('exact'), domains: ['a.com'] },
      { ...answer('any-port'), domains: ['a.com:*'] },
      { ...answer('suffix'), domains: ['*.a.com'] },
      { ...answer('suffix-with-star'), domains: ['*.a.com:*'] },
      { ...answer('port-8080'), domains: ['b.com:8080'] },
    ]),
  ]);
});

after(() => env.close());

test('"*.a.com:*" and "a.com:*" are accepted; Host picks exact, the port wildcard, or the suffix as Envoy does', async () => {
  const port = await env.port('0.0.0.0_8080');
  const routed = async (host: string) => {
    const r = await request(port, '/', { host });
    return r.status === 200 ? r.body : `${r.status} ${r.headers['x-envoy-response-flags'] ?? ''}`.trim();
  };
  assert.equal(await routed('a.com'), 'exact');
  assert.equal(await routed('A.COM:8080'), 'any-port');
  assert.equal(await routed('www.a.com'), 'suffix');
  // Envoy has no port wildcard inside a suffix wildcard: the trailing "*" is literal, so a real port misses.
  assert.equal(await routed('www.a.com:8080'), '404 NR');
  assert.equal(await routed('b.com:8080'), 'port-8080');
  assert.equal(await routed('b.com'), '404 NR');
});
