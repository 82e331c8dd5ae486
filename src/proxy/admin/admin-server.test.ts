import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { AdminServers } from './admin-server.ts';

const servers = new AdminServers({
  configDump: () => ({}),
  clusters: () => '',
  stats: () => '',
  prometheus: () => '# TYPE istio_requests_total counter\n',
  ready: () => true,
  setLogLevel: () => {},
  logLevel: () => 'info',
  quit: () => {},
});
const ports = await servers.listen({ admin: 0, health: 0, prometheus: 0 });
after(() => servers.close());

test('15090 serves /stats/prometheus whatever the query (a scrape with params), 15021 /healthz/ready too; other paths 404', async () => {
  const get = async (port: number, path: string) => {
    const r = await fetch(`http://127.0.0.1:${port}${path}`);
    return { status: r.status, body: await r.text() };
  };
  for (const path of ['/stats/prometheus', '/stats/prometheus?usedonly', '/stats/prometheus?filter=istio_.*']) {
    const r = await get(ports.prometheus, path);
    assert.equal(r.status, 200, path);
    assert.match(r.body, /istio_requests_total/);
  }
  assert.equal((await get(ports.prometheus, '/stats/prometheusx')).status, 404);
  assert.equal((await get(ports.prometheus, '/metrics')).status, 404);
  assert.equal((await get(ports.health, '/healthz/ready?probe=1')).status, 200);
  assert.equal((await get(ports.health, '/healthz/readyz')).status, 404);
});
