// An origin whose response head is valid but whose body breaks HTTP or is cut short, before or after
// some of it was relayed: as Envoy's router once the response has started (onUpstreamReset), the head
// and what of the body came reach the client, then its stream is reset. HTTP/1.1: no end of body and the
// connection closes, so the client reads a cut body, never an empty close; HTTP/2: the head, the data,
// then RST_STREAM. Logged with the upstream's response code, the bytes sent, UPE or UC and
// `upstream_reset_after_response_started{protocol_error | connection_termination}`, without DC.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { telemetryConfig } from '../telemetry/drive-filter.ts';
import { cla, cluster, hcm, listener, push, rawExchange, routeConfig, startProxy } from './harness.ts';

/** What the origin answers, by request path; it closes once written. */
const answers: Record<string, string> = {
  // A chunk, then a chunk line that is not one: a protocol error after 5 bytes of body.
  '/bad-chunk-late': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n',
  // A bad chunk line at once: nothing of the body comes, the head alone was valid.
  '/bad-chunk-first': 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
  // 3 of 10 promised bytes, then the origin closes: a connection termination.
  '/cut-length': 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc',
  // The head alone, then the close.
  '/cut-at-head': 'HTTP/1.1 201 Created\r\nContent-Length: 10\r\n\r\n',
};

let env: Awaited<ReturnType<typeof startProxy>>;
let origin: net.Server;
let port: number;
let logDir: string;
let logFile: string;

before(async () => {
  logDir = mkdtempSync(path.join(tmpdir(), 'or-reset-after-head-'));
  logFile = path.join(logDir, 'access.log');
  origin = net.createServer((s) => {
    s.on('error', () => {});
    let head = '';
    s.on('data', (c: Buffer) => {
      head += c.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      // HTTP/2 clients ask for the same answers under /h2.
      const target = (/^[A-Z]+ (\S+)/.exec(head)?.[1] ?? '').replace(/^\/h2\//, '/');
      s.end(answers[target] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n', 'latin1');
    });
  });
  await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
  env = await startProxy({ metadata: { NAMESPACE: 'shop', WORKLOAD_NAME: 'api', LABELS: { app: 'api' } } });
  const router = { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } };
  const stats = { name: 'istio.stats', typed_config: telemetryConfig({ reporter: 'destination', workload: { workload: 'api', namespace: 'shop', labels: {} }, metrics: false, access_log: { path: logFile, encoding: 'JSON' } }) };
  push(env.proxy, [
    // A connection per request: the origin closes after each answer.
    { ...cluster('origin'), max_requests_per_connection: { value: 1 } },
    cla('origin', [{ port: (origin.address() as net.AddressInfo).port }]),
    listener('0.0.0.0_8080', 8080, [{ filter: hcm('r', { http_filters: [stats, router] }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'origin' }] }]),
  ]);
  port = await env.port('0.0.0.0_8080');
});

after(async () => {
  await env.close();
  origin.close();
  rmSync(logDir, { recursive: true, force: true });
});

/** The access log line of the request for `p` (JSON, Istio's default fields), once written. */
async function logLine(p: string): Promise<Record<string, unknown>> {
  for (let i = 0; i < 500; i++) {
    const lines = existsSync(logFile) ? readFileSync(logFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
    const mine = lines.find((l) => l['path'] === p);
    if (mine) return mine;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no access log line for ${p}`);
}

const get = (p: string): string => `GET ${p} HTTP/1.1\r\nHost: a.example\r\n\r\n`;

test('HTTP/1.1: a body that breaks HTTP after part of it came is relayed cut, then the connection closes; logged UPE', async () => {
  const out = await rawExchange(port, get('/bad-chunk-late'));
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(out, /transfer-encoding: chunked\r\n/i);
  // The chunk that came, and no last chunk: a cut body for any HTTP/1.1 client.
  assert.ok(out.endsWith('\r\n\r\n5\r\nhello\r\n'), JSON.stringify(out));
  const line = await logLine('/bad-chunk-late');
  assert.equal(line['response_code'], 200);
  assert.equal(line['response_flags'], 'UPE');
  assert.equal(line['response_code_details'], 'upstream_reset_after_response_started{protocol_error}');
  assert.equal(line['bytes_sent'], 5);
});

test('HTTP/1.1: a body that breaks HTTP before any of it came: the head, then the close, never an empty close; logged UPE', async () => {
  const out = await rawExchange(port, get('/bad-chunk-first'));
  assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
  assert.ok(out.endsWith('\r\n\r\n'), JSON.stringify(out));
  const line = await logLine('/bad-chunk-first');
  assert.equal(line['response_code'], 200);
  assert.equal(line['response_flags'], 'UPE');
  assert.equal(line['response_code_details'], 'upstream_reset_after_response_started{protocol_error}');
  assert.equal(line['bytes_sent'], 0);
});

test('HTTP/1.1: a body cut short by the origin is relayed cut; logged UC, connection termination', async () => {
  const cut = await rawExchange(port, get('/cut-length'));
  assert.match(cut, /^HTTP\/1\.1 200 OK\r\n/);
  assert.match(cut, /content-length: 10\r\n/i);
  assert.ok(cut.endsWith('\r\n\r\nabc'), JSON.stringify(cut));
  const line = await logLine('/cut-length');
  assert.equal(line['response_code'], 200);
  assert.equal(line['response_flags'], 'UC');
  assert.equal(line['response_code_details'], 'upstream_reset_after_response_started{connection_termination}');
  assert.equal(line['bytes_sent'], 3);
  // The head alone, then the origin's close: the client gets the head, not an empty close.
  const head = await rawExchange(port, get('/cut-at-head'));
  assert.match(head, /^HTTP\/1\.1 201 Created\r\n/);
  assert.ok(head.endsWith('\r\n\r\n'), JSON.stringify(head));
  const headLine = await logLine('/cut-at-head');
  assert.equal(headLine['response_code'], 201);
  assert.equal(headLine['response_flags'], 'UC');
  assert.equal(headLine['bytes_sent'], 0);
});

test('HTTP/2: the head and the data that came, then RST_STREAM; logged UPE with the upstream status, not DC', async () => {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('error', () => {});
  try {
    for (const p of ['/h2/bad-chunk-late', '/h2/bad-chunk-first']) {
      const req = session.request({ ':method': 'GET', ':path': p, ':authority': 'a.example' }, { endStream: true });
      req.on('error', () => {});
      let status: number | undefined;
      let body = '';
      let ended = false;
      req.on('response', (h) => {
        status = h[':status'];
      });
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        ended = true;
      });
      await new Promise((r) => req.once('close', r));
      assert.equal(status, 200, p);
      assert.equal(body, p === '/h2/bad-chunk-late' ? 'hello' : '', p);
      assert.equal(req.rstCode, http2.constants.NGHTTP2_INTERNAL_ERROR, p);
      assert.equal(ended && req.rstCode === http2.constants.NGHTTP2_NO_ERROR, false, `${p}: never ended as whole`);
      const line = await logLine(p);
      assert.equal(line['response_code'], 200, p);
      assert.equal(line['response_flags'], 'UPE', p);
      assert.equal(line['response_code_details'], 'upstream_reset_after_response_started{protocol_error}', p);
      assert.equal(line['bytes_sent'], p === '/h2/bad-chunk-late' ? 5 : 0, p);
    }
  } finally {
    session.close();
  }
});
