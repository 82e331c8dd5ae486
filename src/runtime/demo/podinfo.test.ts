// The demo app over a real socket: every endpoint the seed and the mesh tests rely on.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { type PodinfoServer, startPodinfo } from './podinfo.ts';

interface PendingSleep {
  ms: number;
  resolve: () => void;
  signal: AbortSignal;
}

describe('podinfo demo app', () => {
  let server: PodinfoServer;
  let base: string;
  const sleeps: PendingSleep[] = [];
  let sleepArrived: (() => void) | undefined;

  before(async () => {
    server = await startPodinfo({
      port: 0,
      host: '127.0.0.1',
      version: 'canary-1',
      message: 'hello from canary',
      hostname: 'podinfo-canary-0',
      env: { POD_NAMESPACE: 'podinfo' },
      maxDelaySeconds: 5,
      sleep: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          signal.addEventListener('abort', () => reject(signal.reason), { once: true });
          sleeps.push({ ms, resolve, signal });
          sleepArrived?.();
        }),
    });
    base = `http://127.0.0.1:${server.port}`;
  });
  after(() => server.close());

  async function getJson(path: string, init: Parameters<typeof request>[1] = {}) {
    const res = await request(base + path, init);
    return { status: res.statusCode, headers: res.headers, body: (await res.body.json()) as Record<string, unknown> };
  }

  test('/ and /api/info report hostname, version and message', async () => {
    for (const path of ['/', '/api/info']) {
      const { status, body } = await getJson(path);
      assert.equal(status, 200);
      assert.equal(body['hostname'], 'podinfo-canary-0');
      assert.equal(body['version'], 'canary-1');
      assert.equal(body['message'], 'hello from canary');
    }
  });

  test('/version, /healthz, /readyz', async () => {
    assert.deepEqual((await getJson('/version')).body, { commit: '', version: 'canary-1' });
    assert.deepEqual((await getJson('/healthz')).body, { status: 'OK' });
    assert.equal((await getJson('/readyz')).status, 200);
  });

  test('/readyz/disable makes /readyz fail until /readyz/enable', async () => {
    assert.equal((await request(`${base}/readyz/disable`, { method: 'POST' })).statusCode, 202);
    assert.equal((await getJson('/readyz')).status, 503);
    await (await request(`${base}/readyz/enable`, { method: 'POST' })).body.dump();
    assert.equal((await getJson('/readyz')).status, 200);
  });

  test("/fault_injection/enable makes this replica answer 500 on application endpoints, probes and metrics excepted, until /fault_injection/disable", async () => {
    assert.deepEqual((await getJson('/fault_injection/status')).body, { fault_injection: 'disabled' });
    const on = await getJson('/fault_injection/enable', { method: 'POST' });
    assert.deepEqual([on.status, on.body], [202, { fault_injection: 'enabled' }]);
    try {
      for (const path of ['/', '/api/info', '/version', '/status/200', '/headers']) {
        const res = await request(base + path);
        assert.equal(res.statusCode, 500, path);
        assert.equal(await res.body.text(), '{"status":"fault injection enabled"}\n');
      }
      for (const path of ['/healthz', '/readyz', '/fault_injection/status']) assert.equal((await getJson(path)).status, 200, path);
      assert.match(await (await request(`${base}/metrics`)).body.text(), /^http_requests_total\{method="GET",path="fault_injection",status="500"\} 5$/m);
      assert.equal((await getJson('/fault_injection/enable')).status, 405, 'a GET changes nothing');
    } finally {
      const off = await getJson('/fault_injection/disable', { method: 'POST' });
      assert.deepEqual([off.status, off.body], [202, { fault_injection: 'disabled' }]);
    }
    assert.equal((await getJson('/version')).status, 200);
  });

  test('/headers returns the request headers in canonical form', async () => {
    const { body } = await getJson('/headers', { headers: { 'x-canary': 'true', 'x-user': 'alice' } });
    assert.deepEqual(body['X-Canary'], ['true']);
    assert.deepEqual(body['X-User'], ['alice']);
  });

  test('/status/{code} answers with that code; out of range is 400', async () => {
    const r503 = await getJson('/status/503');
    assert.equal(r503.status, 503);
    assert.deepEqual(r503.body, { status: 503 });
    assert.equal((await getJson('/status/999')).status, 400);
  });

  test('/delay/{seconds} waits the injected clock and is bounded', async () => {
    const arrived = new Promise<void>((r) => {
      sleepArrived = r;
    });
    const pending = getJson('/delay/2');
    await arrived;
    const sleep = sleeps.at(-1)!;
    assert.equal(sleep.ms, 2000);
    sleep.resolve();
    assert.deepEqual((await pending).body, { delay: 2 });
    assert.equal((await getJson('/delay/6')).status, 400);
  });

  test('/echo returns the posted body; GET is refused', async () => {
    const res = await request(`${base}/echo`, { method: 'POST', body: 'ping', headers: { 'content-type': 'text/plain' } });
    assert.equal(res.statusCode, 202);
    assert.equal(await res.body.text(), 'ping');
    assert.equal((await getJson('/echo')).status, 405);
  });

  test('/echo refuses bodies over 1 MiB', async () => {
    const res = await request(`${base}/echo`, { method: 'POST', body: Buffer.alloc(1024 * 1024 + 1) });
    assert.equal(res.statusCode, 413);
    await res.body.dump();
  });

  test('/env lists the given environment', async () => {
    const res = await request(`${base}/env`);
    assert.deepEqual(await res.body.json(), ['POD_NAMESPACE=podinfo']);
  });

  test('/metrics counts requests per route template', async () => {
    await getJson('/status/418');
    const res = await request(`${base}/metrics`);
    const text = await res.body.text();
    assert.match(text, /^podinfo_info\{version="canary-1"\} 1$/m);
    assert.match(text, /^http_requests_total\{method="GET",path="\/status\/\{code\}",status="418"\} 1$/m);
    assert.match(text, /^http_request_duration_seconds_count\{method="GET",path="\/status\/\{code\}"\} \d+$/m);
  });

  test('unknown paths are 404', async () => {
    assert.equal((await getJson('/nope')).status, 404);
  });
});

test('close() aborts a pending delay instead of waiting it out', async () => {
  let arrived!: () => void;
  const waiting = new Promise<void>((r) => {
    arrived = r;
  });
  const server = await startPodinfo({
    sleep: (_ms, signal) =>
      new Promise<void>((_resolve, reject) => {
        signal.addEventListener('abort', () => reject(signal.reason), { once: true });
        arrived();
      }),
  });
  const pending = request(`http://127.0.0.1:${server.port}/delay/3`).then(
    () => 'answered',
    () => 'closed',
  );
  await waiting;
  await server.close();
  assert.equal(await pending, 'closed');
});

test('runs as a script on PORT and stops on SIGTERM', async () => {
  const script = fileURLToPath(new URL('./podinfo.ts', import.meta.url));
  const child = spawn(process.execPath, [script], {
    env: { PORT: '0', PODINFO_HOST: '127.0.0.1', PODINFO_VERSION: 'stable-1', PODINFO_UI_MESSAGE: 'stable says hi' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const { port } = JSON.parse(line.toString()) as { port: number };
    const res = await request(`http://127.0.0.1:${port}/`);
    const body = (await res.body.json()) as Record<string, unknown>;
    assert.equal(body['version'], 'stable-1');
    assert.equal(body['message'], 'stable says hi');
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0);
  } finally {
    child.kill('SIGKILL');
  }
});
