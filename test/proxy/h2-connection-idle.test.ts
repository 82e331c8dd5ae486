// The HCM's connection idle_timeout (common_http_protocol_options.idle_timeout, Envoy's 1 h by default)
// on downstream HTTP/2: a session without active streams that long is sent GOAWAY and closed. Before it,
// an HTTP/2 client that stopped sending requests held its session (and socket) for as long as it liked.
// The session is idle only while no stream is active; the test drives its timer and clock by hand.
import assert from 'node:assert/strict';
import type http from 'node:http';
import http2 from 'node:http2';
import { after, before, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, ManualTimers, push, routeConfig, startProxy } from './harness.ts';

const IDLE_MS = 7_321;
const timers = new ManualTimers();
let clock = 1_000_000;
let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let port: number;
const held: http.ServerResponse[] = [];

before(async () => {
  backend = await echoBackend((req, res) => {
    if (req.url === '/hold') held.push(res);
    else res.end('ok');
  });
  env = await startProxy({ timers, now: () => clock });
  push(env.proxy, [
    cluster('echo'),
    cla('echo', [{ port: backend.port }]),
    listener('l', 8080, [{ filter: hcm('r', { common_http_protocol_options: { idle_timeout: { seconds: '7', nanos: 321_000_000 } } }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'echo' }] }]),
  ]);
  port = await env.port('l');
});

after(async () => {
  await env.close();
  backend.server.close();
});

const armed = () => [...timers.pending.values()].filter((t) => t.ms === IDLE_MS).length;
async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setImmediate(r));
  assert.ok(cond(), what);
}

function get(session: http2.ClientHttp2Session, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const r = session.request({ ':path': path, ':authority': 'echo.example.com' });
    let status = 0;
    let body = '';
    r.on('response', (h) => {
      status = Number(h[':status']);
    });
    r.setEncoding('utf8');
    r.on('data', (c: string) => {
      body += c;
    });
    r.on('end', () => resolve({ status, body }));
    r.on('error', reject);
  });
}

test('an HTTP/2 session idle for the HCM idle_timeout gets GOAWAY and is closed; never while a stream is active', async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  let goaway = false;
  session.on('goaway', () => {
    goaway = true;
  });
  const closed = new Promise<void>((r) => session.once('close', () => r()));
  await until(() => armed() === 1, 'a new session without streams runs its idle timer');

  // A stream in flight: the timer firing meanwhile closes nothing, and lapses.
  const pending = get(session, '/hold');
  await until(() => held.length === 1, 'the request reached the backend');
  clock += IDLE_MS;
  assert.equal(timers.fire(IDLE_MS), true);
  assert.equal(armed(), 0, 'no idle timer while a stream is active');
  held[0]?.end('late');
  assert.deepEqual(await pending, { status: 200, body: 'late' });
  await until(() => armed() === 1, 'the idle timer runs again after the last stream closed');
  assert.deepEqual(await get(session, '/'), { status: 200, body: 'ok' });
  assert.equal(armed(), 1, 'one timer per session, kept across streams');

  // Fired before the session has been idle that long (the last stream just ended): it runs on.
  assert.equal(timers.fire(IDLE_MS), true);
  assert.equal(armed(), 1, 'the rest of the timeout still to run');
  assert.equal(goaway || session.closed, false);

  clock += IDLE_MS;
  assert.equal(timers.fire(IDLE_MS), true);
  await closed;
  assert.equal(goaway, true, 'GOAWAY before the close');
});

test('without idle_timeout the HCM default is 1 h', async () => {
  push(env.proxy, [listener('d', 8443, [{ filter: hcm('r') }])], 'v2');
  const p = await env.port('d');
  const hour = () => [...timers.pending.values()].filter((t) => t.ms === 3_600_000).length;
  const before = hour();
  const session = http2.connect(`http://127.0.0.1:${p}`);
  session.on('error', () => {});
  const closed = new Promise<void>((r) => session.once('close', () => r()));
  assert.deepEqual(await get(session, '/'), { status: 200, body: 'ok' });
  await until(() => hour() === before + 1, 'a 1 h timer armed for the idle session');
  clock += 3_600_000;
  // Fire the newest 1 h timer (this session's): the harness fires the first of a length, so clear older ones first.
  const ids = [...timers.pending.entries()].filter(([, t]) => t.ms === 3_600_000).map(([id]) => id);
  const mine = timers.pending.get(ids[ids.length - 1] as number);
  timers.pending.delete(ids[ids.length - 1] as number);
  mine?.fn();
  await closed;
});
