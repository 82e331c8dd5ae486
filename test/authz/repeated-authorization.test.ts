// Repeated Authorization lines, as Envoy's request header map holds them: `authorization` is an inline
// header in Istio's proxy (registered by the oauth2 and cache filters it builds in), and an inline header
// that arrives twice is appended to the first with ',' (HeaderMapImpl::insertByKey → appendToHeader),
// by the HTTP/1 and HTTP/2 codecs alike. So RBAC's `request.headers[authorization]` matches one joined
// value, and the upstream gets one joined line: the policy and the backend see the same thing.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { connectRaw, FrameType, frame } from '../proxy/h2-frames.ts';
import { cla, cluster, hcm, listener, push, rawExchange, routeConfig, startProxy } from '../proxy/harness.ts';
import { until } from '../resilience/fake-clock.ts';
import { policy } from './simulate.ts';

const DENY = policy('deny-joined', 'foo', {
  action: 'DENY',
  rules: [{ when: [{ key: 'request.headers[authorization]', values: ['Bearer blocked,Bearer other', 'Bearer admin'] }] }],
});

const INBOUND = 'inbound|8000||';
let backend: Server;
/** The authorization lines each request reached the backend with, by path. */
const seen = new Map<string, string[]>();
let env: Awaited<ReturnType<typeof startProxy>>;
let port = 0;

function lines(req: IncomingMessage, name: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]?.toLowerCase() === name) out.push(req.rawHeaders[i + 1] as string);
  return out;
}

before(async () => {
  backend = createServer((req, res) => {
    seen.set(req.url ?? '', lines(req, 'authorization'));
    res.end('ok');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  env = await startProxy({ metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'backend', LABELS: { app: 'backend' } } });
  const target = { workloadLabels: { app: 'backend' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', port: 8000 };
  const httpFilters = [...translateAuthorization([DENY], target).http, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  push(env.proxy, [
    cluster(INBOUND),
    cla(INBOUND, [{ port: (backend.address() as AddressInfo).port }]),
    routeConfig(INBOUND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND }] }]),
    listener('inbound', 8080, [{ filter: hcm(INBOUND, { http_filters: httpFilters }) }]),
  ]);
  port = await env.port('inbound');
});

after(async () => {
  await env.close();
  backend.close();
});

/** HTTP/1.1 on a raw socket: whether the request was let through (200) or denied (403). */
async function h1(path: string, auth: string[]): Promise<boolean> {
  const head = `GET ${path} HTTP/1.1\r\nHost: svc\r\n${auth.map((a) => `Authorization: ${a}\r\n`).join('')}Connection: close\r\n\r\n`;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(await rawExchange(port, head))?.[1] ?? 0);
  assert.ok(status === 200 || status === 403, `status ${status}`);
  return status === 200;
}

/** An HPACK literal field without indexing (no Huffman). */
function literal(name: string, value: string): Buffer {
  return Buffer.concat([Buffer.from([0x00, name.length]), Buffer.from(name), Buffer.from([value.length]), Buffer.from(value)]);
}

/**
 * HTTP/2 on raw frames (Node's client refuses to send authorization twice): one HEADERS frame with the
 * field repeated. Whether it was let through: the backend saw it once the response HEADERS came back.
 */
async function h2(path: string, auth: string[]): Promise<boolean> {
  const raw = await connectRaw(port);
  try {
    const block = Buffer.concat([literal(':method', 'GET'), literal(':scheme', 'http'), literal(':path', path), literal(':authority', 'svc'), ...auth.map((a) => literal('authorization', a))]);
    raw.socket.write(frame(FrameType.HEADERS, 0x5, 1, block));
    await until(() => raw.received.includes(FrameType.HEADERS), 'the response head');
    return seen.has(path);
  } finally {
    raw.socket.destroy();
  }
}

for (const [proto, send] of [
  ['HTTP/1.1', h1],
  ['HTTP/2', h2],
] as const) {
  test(`${proto}: two Authorization lines reach the upstream as one line joined with ','`, async () => {
    const path = `/joined-${proto === 'HTTP/2' ? 'h2' : 'h1'}`;
    assert.equal(await send(path, ['Bearer x', 'Bearer y']), true);
    assert.deepEqual(seen.get(path), ['Bearer x,Bearer y']);
  });

  test(`${proto}: RBAC's request.headers[authorization] matches the joined value, as the upstream sees it`, async () => {
    const tag = proto === 'HTTP/2' ? 'h2' : 'h1';
    assert.equal(await send(`/one-${tag}`, ['Bearer admin']), false, 'a single line matches as written');
    assert.equal(await send(`/joined-deny-${tag}`, ['Bearer blocked', 'Bearer other']), false, 'the joined value is what the policy matches');
    // Envoy sees "Bearer x,Bearer admin", which the exact value does not match; the upstream gets that same one value.
    assert.equal(await send(`/joined-allow-${tag}`, ['Bearer x', 'Bearer admin']), true);
    assert.deepEqual(seen.get(`/joined-allow-${tag}`), ['Bearer x,Bearer admin']);
  });
}
