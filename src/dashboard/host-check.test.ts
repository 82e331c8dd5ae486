// The dashboard, bound on loopback, answers a loopback Host only: a page of another site whose name a
// DNS rebinding points at 127.0.0.1 (same origin for the browser) cannot read the mesh through it.
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { startDashboard } from './server.ts';

function get(port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/api/services', headers: { host }, agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
      .on('error', reject);
  });
}

test('a rebinding name is refused (421); 127.0.0.1, localhost and [::1] are served', async () => {
  const { resources } = loadText('apiVersion: v1\nkind: Service\nmetadata: { name: payments, namespace: prod }\nspec: { selector: { app: p }, ports: [{ name: http, port: 80 }] }\n');
  const d = await startDashboard({ controlPlane: { snapshot: buildSnapshot(resources, [], '1'), connections: [] }, scrapeTargets: () => [], address: '127.0.0.1:0', scrapeIntervalMs: 0 });
  try {
    const port = Number(d.address.split(':').pop());
    assert.equal(await get(port, 'evil.example:20001'), 421);
    assert.equal(await get(port, '127.0.0.1.evil.example'), 421);
    assert.equal(await get(port, `127.0.0.1:${port}`), 200);
    assert.equal(await get(port, `LOCALHOST:${port}`), 200);
    assert.equal(await get(port, `[::1]:${port}`), 200);
  } finally {
    await d.close();
  }
});
