// Translated policies pushed to a real proxy and exercised over sockets:
// - a policy with a value translation cannot use (an ipBlock that is no CIDR) must not make a config the
//   proxy refuses: a refused listener keeps its previous config, without the ALLOW, and every caller
//   gets through (fail open). As Istio's checkError, the ALLOW rule is dropped, so the workload denies;
// - `request.headers[x]: ["*"]` is Istio's present_match (HeaderMatcher): a header sent with an empty
//   value is present, so a DENY on it cannot be passed by sending `X-Debug:` with nothing after it.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type NamedFilter, translateAuthorization } from '../../src/translate/authorization.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, rawExchange, routeConfig, startProxy } from '../proxy/harness.ts';
import { policy } from './simulate.ts';

const INBOUND = 'inbound|8000||';
const TARGET = { workloadLabels: { app: 'backend' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', port: 8000 };
const ROUTER = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
let backend: Server;
let env: Awaited<ReturnType<typeof startProxy>>;
let version = 0;

const inbound = (filters: NamedFilter[]) => listener('inbound', 15106, [{ filter: hcm(INBOUND, { http_filters: [...filters, ROUTER] }) }]);

before(async () => {
  backend = createServer((req, res) => res.writeHead(200).end('x-debug' in req.headers ? `reached-app x-debug=[${req.headers['x-debug']}]` : 'reached-app'));
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'backend', LABELS: { app: 'backend' } } });
  push(env.proxy, [
    cluster(INBOUND),
    cla(INBOUND, [{ port: (backend.address() as AddressInfo).port }]),
    routeConfig(INBOUND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND }] }]),
    inbound([]),
  ], `v${++version}`);
});

after(async () => {
  await env.close();
  backend.close();
});

async function get(headers = ''): Promise<string> {
  const port = await env.port('inbound');
  const r = await rawExchange(port, `GET / HTTP/1.1\r\nHost: svc\r\n${headers}Connection: close\r\n\r\n`);
  return r.split('\r\n')[0]!;
}

test('an ALLOW with an ipBlock that is no CIDR: the proxy accepts the config and the workload denies', async () => {
  // Built directly: the loader refuses this document, but translation must be safe for whatever reaches it.
  const allow = policy('only-office', 'foo', { selector: { matchLabels: { app: 'backend' } }, rules: [{ from: [{ source: { ipBlocks: ['192.168.10.0/24', '192.168.20.0/33'] } }] }] });
  push(env.proxy, [inbound(translateAuthorization([allow], TARGET).http)], `v${++version}`);
  assert.equal(await get(), 'HTTP/1.1 403 Forbidden', 'a caller from 127.0.0.1 reached the app');
});

test('a DENY on header presence denies the header sent with an empty value', async () => {
  const deny = policy('deny-debug', 'foo', { action: 'DENY', rules: [{ when: [{ key: 'request.headers[x-debug]', values: ['*'] }] }] });
  push(env.proxy, [inbound(translateAuthorization([deny], TARGET).http)], `v${++version}`);
  assert.equal(await get('X-Debug: 1\r\n'), 'HTTP/1.1 403 Forbidden');
  assert.equal(await get('X-Debug:\r\n'), 'HTTP/1.1 403 Forbidden');
  assert.equal(await get(), 'HTTP/1.1 200 OK');
});
