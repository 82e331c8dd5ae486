// The bypass catalogue (security reference §1.1–1.3) replayed over real sockets against a DENY policy,
// through a real OutriggerProxy configured as a sidecar's inbound side, in front of a normalising backend.
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import type { PathNormalizationMode } from '../../src/proxy/http/normalize-path.ts';
import { translateAuthorization } from '../../src/translate/authorization.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { cla, cluster, hcm, listener, push, rawExchange, routeConfig, startProxy } from '../proxy/harness.ts';
import { policy } from './simulate.ts';

/** A backend that decodes %2F/%5C, turns \ into /, resolves dot segments, merges slashes, drops fragments. */
function backendPath(raw: string): string {
  let p = raw.split('#')[0]!.split('?')[0]!.replace(/%2f/gi, '/').replace(/%5c/gi, '/').replaceAll('\\', '/');
  p = p.replace(/%2e/gi, '.').replace(/\/+/g, '/');
  const out: string[] = [];
  for (const seg of p.split('/').slice(1)) {
    if (seg === '..') out.pop();
    else if (seg !== '.') out.push(seg);
  }
  return `/${out.join('/')}`;
}

/** Every value of a header as received, one per line (never comma-joined), trimmed. */
function headerValues(req: IncomingMessage, name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]!.toLowerCase() === name) values.push(...req.rawHeaders[i + 1]!.split(',').map((v) => v.trim()));
  }
  return values;
}

function protectedResource(req: IncomingMessage): string | null {
  const path = backendPath(req.url ?? '');
  if (path === '/admin' || path.startsWith('/admin/')) return 'ADMIN';
  const host = String(req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  if (host === 'secret.com') return 'SECRET';
  if (headerValues(req, 'x-tenant').includes('prod')) return 'PROD';
  return null;
}

const DENY = policy('deny-sensitive', 'foo', {
  action: 'DENY',
  rules: [
    { to: [{ operation: { paths: ['/admin', '/admin/*'] } }] },
    { to: [{ operation: { hosts: ['secret.com'] } }] },
    { when: [{ key: 'request.headers[x-tenant]', values: ['prod'] }] },
  ],
});

const MODES = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const;

/** The HCM normalisation fields translation emits for each mode (src/translate/network-filters.ts). */
const NORMALIZATION: Record<PathNormalizationMode, Record<string, unknown>> = {
  NONE: { normalize_path: { value: false } },
  BASE: { normalize_path: { value: true } },
  MERGE_SLASHES: { normalize_path: { value: true }, merge_slashes: true },
  DECODE_AND_MERGE_SLASHES: { normalize_path: { value: true }, merge_slashes: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' },
};

/** One listener per mode; its Istio-side port is mapped to an ephemeral one. */
const LISTENER_PORT: Record<PathNormalizationMode, number> = { NONE: 15106, BASE: 15206, MERGE_SLASHES: 15306, DECODE_AND_MERGE_SLASHES: 15406 };
const INBOUND = 'inbound|8000||';

let backend: Server;
let env: Awaited<ReturnType<typeof startProxy>>;
const ports = new Map<PathNormalizationMode, number>();
before(async () => {
  backend = createServer((req, res) => {
    const hit = protectedResource(req);
    // The target as it arrived, so tests can see what the proxy forwarded.
    res.writeHead(hit ? 200 : 404, { 'x-seen-url': req.url ?? '' }).end(hit ?? 'public');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  const portMap = new Map([15000, 15021, 15090, ...Object.values(LISTENER_PORT)].map((p) => [p, 0]));
  env = await startProxy({ portMap, metadata: { NAMESPACE: 'foo', WORKLOAD_NAME: 'backend', LABELS: { app: 'backend' } } });
  const target = { workloadLabels: { app: 'backend' }, namespace: 'foo', rootNamespace: 'istio-system', trustDomain: 'cluster.local', port: 8000 };
  const rbac = translateAuthorization([DENY], target).http;
  assert.ok(rbac.length > 0, 'the DENY policy selects the workload');
  const httpFilters = [...rbac, { name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }];
  push(env.proxy, [
    cluster(INBOUND),
    cla(INBOUND, [{ port: (backend.address() as AddressInfo).port }]),
    routeConfig(INBOUND, [{ domains: ['*'], routes: [{ prefix: '/', cluster: INBOUND }] }]),
    // WebSocket upgrades on, as translation sets them on every HCM (src/translate/network-filters.ts).
    ...MODES.map((mode) => listener(`inbound-${mode}`, LISTENER_PORT[mode], [{ filter: hcm(INBOUND, { ...NORMALIZATION[mode], http_filters: httpFilters, upgrade_configs: [{ upgrade_type: 'websocket' }] }) }])),
  ]);
  for (const mode of MODES) ports.set(mode, await env.port(`inbound-${mode}`));
});
after(async () => {
  await env.close();
  backend.close();
});

/** Sends raw bytes (so paths reach the proxy exactly as written) and returns status and body. */
async function raw(mode: PathNormalizationMode, head: string): Promise<{ status: number; body: string; seen: string | undefined }> {
  const data = await rawExchange(ports.get(mode)!, `${head}Connection: close\r\n\r\n`);
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
  const headEnd = data.indexOf('\r\n\r\n') + 2;
  const headers = data.slice(0, headEnd);
  let body = data.slice(headEnd + 2);
  // Chunked replies: keep the payload only.
  if (/\r\ntransfer-encoding: chunked\r\n/i.test(headers)) body = body.split('\r\n').filter((_, i) => i % 2 === 1).join('');
  return { status, body, seen: /\r\nx-seen-url: ([^\r]*)\r\n/i.exec(headers)?.[1] };
}

const get = (path: string, headers = 'Host: svc\r\n') => `GET ${path} HTTP/1.1\r\n${headers}`;

const CATALOGUE: [string, string][] = [
  ['plain', get('/admin')],
  ['double slash', get('//admin')],
  ['encoded slash after', get('/admin%2f')],
  ['encoded slash before', get('/%2fadmin')],
  ['encoded backslash', get('/%5cadmin')],
  ['backslash', get('/public\\..\\admin')],
  ['dot segments', get('/public/../admin')],
  ['encoded dot segments', get('/public/%2e%2e/admin')],
  ['mixed case encoded dots', get('/public/%2E./admin')],
  ['fragment', get('/admin#x')],
  ['query', get('/admin?x=1')],
  ['trailing dot segment', get('/admin/.')],
  ['nested under admin', get('/admin/users')],
  ['host upper case', get('/', 'Host: SECRET.com\r\n')],
  ['host with port', get('/', 'Host: secret.com:80\r\n')],
  ['host trailing dot', get('/', 'Host: secret.com.\r\n')],
  ['host trailing dot and port', get('/', 'Host: secret.com.:80\r\n')],
  ['two Host headers', get('/', 'Host: public\r\nHost: secret.com\r\n')],
  ['header padded with whitespace', get('/', 'Host: svc\r\nX-Tenant:   prod  \r\n')],
  ['duplicate header', get('/', 'Host: svc\r\nX-Tenant: dev\r\nX-Tenant: prod\r\n')],
  ['header name case', get('/', 'Host: svc\r\nx-TENANT: prod\r\n')],
  // An upgrade is a request until its 101: the policy applies to it as to any other (Envoy runs every
  // decoder filter on it).
  ['websocket upgrade', get('/admin', 'Host: svc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n')],
  ['websocket upgrade, host', get('/', 'Host: secret.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n')],
  // ... normalised by the chain's mode, as a request is.
  ['websocket upgrade, double slash', get('//admin', 'Host: svc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n')],
  ['websocket upgrade, encoded slash', get('/%2fadmin', 'Host: svc\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n')],
];

test('the proxy reaches the backend: a public request is answered by it', async () => {
  for (const mode of MODES) assert.deepEqual(await raw(mode, get('/public')), { status: 404, body: 'public', seen: '/public' }, mode);
});

test('DECODE_AND_MERGE_SLASHES: zero bypasses across the catalogue', async () => {
  for (const [name, head] of CATALOGUE) {
    const { status, body } = await raw('DECODE_AND_MERGE_SLASHES', head);
    assert.ok(status === 403 || status === 400, `${name}: got ${status} ${body}`);
    assert.ok(!['ADMIN', 'SECRET', 'PROD'].includes(body), `${name}: bypass`);
    // Every refusal is the policy's own 403, except two Host headers which the proxy rejects first.
    if (name === 'two Host headers') assert.equal(status, 400, name);
    else assert.equal(body, 'RBAC: access denied', name);
  }
});

test('host and header tricks are denied by the policy in every mode; two Host headers are a 400', async () => {
  for (const mode of MODES) {
    for (const [name, head] of CATALOGUE.filter(([, h]) => h.startsWith('GET / '))) {
      const { status, body } = await raw(mode, head);
      if (name === 'two Host headers') assert.equal(status, 400, `${mode} ${name}: ${body}`);
      else assert.deepEqual({ status, body }, { status: 403, body: 'RBAC: access denied' }, `${mode} ${name}`);
    }
  }
});

test('the upstream sees the path the policy saw: normalised, fragment dropped, query kept', async () => {
  // input → what the backend receives under [NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES] (§2.2)
  const table: [string, string[]][] = [
    ['/public?x=1#frag', ['/public?x=1', '/public?x=1', '/public?x=1', '/public?x=1']],
    ['/app/../public', ['/app/../public', '/public', '/public', '/public']],
    ['/app//public', ['/app//public', '/app//public', '/app/public', '/app/public']],
    ['/%2Fapp%5cpublic', ['/%2Fapp%5cpublic', '/%2Fapp%5cpublic', '/%2Fapp%5cpublic', '/app/public']],
    ['/app/%2E./public?q=%2f', ['/app/%2E./public?q=%2f', '/public?q=%2f', '/public?q=%2f', '/public?q=%2f']],
  ];
  for (const [path, expected] of table) {
    for (const [i, mode] of MODES.entries()) {
      const r = await raw(mode, get(path));
      assert.deepEqual({ status: r.status, seen: r.seen }, { status: 404, seen: expected[i] }, `${mode} ${path}`);
    }
  }
});

test('%00 is rejected and double encoding is not decoded twice, in every mode', async () => {
  for (const mode of MODES) {
    assert.equal((await raw(mode, get('/admin%00'))).status, 400, mode);
    assert.equal((await raw(mode, get('/%252e%252e/admin'))).status, 404, mode);
  }
});

test('no case folding: /ADMIN is not /admin for the policy or the backend', async () => {
  assert.equal((await raw('DECODE_AND_MERGE_SLASHES', get('/ADMIN'))).status, 404);
});

test('each mode is honoured: the documented gaps of weaker modes are real', async () => {
  // input → [NONE, BASE, MERGE_SLASHES, DECODE_AND_MERGE_SLASHES]: 403 denied, 200 reached the admin handler
  const table: [string, number[]][] = [
    ['//admin', [200, 200, 403, 403]],
    ['/%2fadmin', [200, 200, 200, 403]],
    ['/public/../admin', [200, 403, 403, 403]],
    ['/public/%2e%2e/admin', [200, 403, 403, 403]],
    ['/admin#x', [403, 403, 403, 403]],
  ];
  for (const [path, expected] of table) {
    for (const [i, mode] of MODES.entries()) assert.equal((await raw(mode, get(path))).status, expected[i], `${mode} ${path}`);
  }
});

test('an upgrade the upstream does not switch (no 101) carries nothing more: the next request on it never reaches the app', async () => {
  const s = net.connect(ports.get('DECODE_AND_MERGE_SLASHES')!, '127.0.0.1');
  let out = '';
  const closed = new Promise<void>((r) => s.once('close', () => r()));
  const answered = new Promise<void>((r) =>
    s.on('data', (c: Buffer) => {
      out += c.toString('latin1');
      if (out.includes('public')) r();
    }),
  );
  s.on('error', () => {});
  // Allowed, and the app answers it as a plain request (404 public): not switched.
  s.write('GET /public HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
  await answered;
  assert.match(out, /^HTTP\/1\.1 404 /);
  // A raw pipe to the app would take this past the policy.
  s.write('GET /admin HTTP/1.1\r\nHost: svc\r\n\r\n');
  await closed;
  assert.doesNotMatch(out, /ADMIN/);
});
