// The bypass catalogue (security reference §1.1–1.3) replayed over real sockets against a DENY policy,
// through the normaliser and the RBAC filter, in front of a backend that normalises aggressively itself.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect } from 'node:net';
import { after, before, test } from 'node:test';
import type { PathNormalizationMode } from '../../src/proxy/http/normalize-path.ts';
import { headerMap, portOf, startFrontProxy } from './front-proxy.ts';
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

function protectedResource(req: import('node:http').IncomingMessage): string | null {
  const path = backendPath(req.url ?? '');
  if (path === '/admin' || path.startsWith('/admin/')) return 'ADMIN';
  const host = String(req.headers.host ?? '').toLowerCase().replace(/:\d+$/, '').replace(/\.$/, '');
  if (host === 'secret.com') return 'SECRET';
  const tenants = headerMap(req).get('x-tenant');
  if ((Array.isArray(tenants) ? tenants : [tenants]).includes('prod')) return 'PROD';
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

let backend: Server;
const fronts = new Map<PathNormalizationMode, Server>();
before(async () => {
  backend = createServer((req, res) => {
    const hit = protectedResource(req);
    res.writeHead(hit ? 200 : 404).end(hit ?? 'public');
  });
  await new Promise<void>((r) => backend.listen(0, '127.0.0.1', r));
  for (const mode of ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const) {
    fronts.set(mode, await startFrontProxy(mode, [DENY], portOf(backend)));
  }
});
after(() => {
  backend.close();
  for (const s of fronts.values()) s.close();
});

/** Sends raw bytes (so paths reach the proxy exactly as written) and returns status and body. */
function raw(mode: PathNormalizationMode, head: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(portOf(fronts.get(mode)!), '127.0.0.1');
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => {
      data += c;
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(`${head}Connection: close\r\n\r\n`);
  });
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
];

test('DECODE_AND_MERGE_SLASHES: zero bypasses across the catalogue', async () => {
  for (const [name, head] of CATALOGUE) {
    const { status, body } = await raw('DECODE_AND_MERGE_SLASHES', head);
    assert.ok(status === 403 || status === 400, `${name}: got ${status} ${body}`);
    assert.ok(!['ADMIN', 'SECRET', 'PROD'].includes(body), `${name}: bypass`);
  }
});

test('%00 is rejected and double encoding is not decoded twice, in every mode', async () => {
  for (const mode of fronts.keys()) {
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
  const modes = ['NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES'] as const;
  for (const [path, expected] of table) {
    for (const [i, mode] of modes.entries()) assert.equal((await raw(mode, get(path))).status, expected[i], `${mode} ${path}`);
  }
});
