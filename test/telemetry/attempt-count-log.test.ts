// %UPSTREAM_REQUEST_ATTEMPT_COUNT% through a real proxy: Envoy's stream info attemptCount, which the router
// sets at each try (1, then 2 on the retry) and nothing sets for a request answered before the router
// (a fault abort, 0).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, closedPort, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from '../proxy/harness.ts';
import { telemetryConfig } from './drive-filter.ts';
import { until } from './tcp-authz-pair.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
const dir = mkdtempSync(path.join(tmpdir(), 'attempt-count-'));
const logFile = path.join(dir, 'access.log');

const chain: TypedAny = {
  ...hcm('r'),
  http_filters: [
    { name: 'envoy.filters.http.fault', typed_config: { '@type': TypeUrl.HttpFault, abort: { http_status: 503, percentage: { numerator: 100, denominator: 'HUNDRED' } }, headers: [{ name: 'x-abort', present_match: true }] } },
    {
      name: 'istio.stats',
      typed_config: telemetryConfig({ reporter: 'source', workload: { workload: 'sleep', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'TEXT', format: '%REQ(:AUTHORITY)% %RESPONSE_FLAGS% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\n' } }),
    },
    { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } },
  ],
};

before(async () => {
  backend = await echoBackend((req, res) => {
    req.resume();
    res.end('ok');
  });
  env = await startProxy();
  push(env.proxy, [
    cluster('web'),
    cla('web', [{ port: backend.port }]),
    cluster('dead'),
    cla('dead', [{ port: await closedPort() }]),
    listener('outbound', 15001, [{ filter: chain }]),
    routeConfig('r', [
      { domains: ['web'], routes: [{ prefix: '/', cluster: 'web' }] },
      { domains: ['dead'], routes: [{ prefix: '/', cluster: 'dead', retries: 1 }] },
    ]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.closeAllConnections();
  backend.server.close();
  rmSync(dir, { recursive: true, force: true });
});

const logged = (host: string): Promise<string> =>
  until(() => (existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').find((l) => l.startsWith(`${host} `)) : undefined));

test('one try, a retry, and a fault abort before the router: 1, 2 and 0', async () => {
  const port = await env.port('outbound');
  await request(port, '/', { host: 'web' });
  await request(port, '/', { host: 'dead' });
  await request(port, '/', { host: 'aborted', headers: { 'x-abort': '1' } });
  assert.equal(await logged('web'), 'web - 1');
  assert.equal(await logged('dead'), 'dead URX,UF 2');
  assert.equal(await logged('aborted'), 'aborted FI 0');
});
