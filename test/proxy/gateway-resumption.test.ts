// TLS session resumption on a gateway's 'tls' port: node:tls seals every session with the server's default
// context's ticket keys, whichever chain's context made it, and a resumed handshake runs no SNI callback.
// So only a port of one context, whose chains are not chosen by a name a resumed TLS 1.2 session would
// not report, resumes; elsewhere each connection is a full handshake, checked by its own chain's CA.
// Also: an HTTP/2 client on a mixed port (a TLS socket made over the sniffed stream) is served.
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import { serverKind } from '../../src/proxy/listener/bound-listener.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa } from './certs.ts';
import { type App, type Cred, type RouterEnv, startTenantsGateway } from './gateway-tls-fixture.ts';
import { hcm, listener, push, routeConfig, startProxy } from './harness.ts';

type Env = Awaited<ReturnType<typeof startProxy>>;

const certSecret = (name: string, c: Cred): TypedAny => ({ '@type': TypeUrl.Secret, name, tls_certificate: { certificate_chain: { inline_string: c.cert }, private_key: { inline_string: c.key } } });

/**
 * A DownstreamTlsContext with certificate secret `web`, and a client CA that must check the client when
 * given (inline, or the SDS secret `caSecret`).
 */
function dtls(o: { caPem?: string; caSecret?: string; minTls13?: boolean } = {}): TypedAny {
  return {
    '@type': TypeUrl.DownstreamTlsContext,
    ...(o.caPem || o.caSecret ? { require_client_certificate: true } : {}),
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: 'web', sds_config: { ads: {} } }],
      alpn_protocols: ['h2', 'http/1.1'],
      ...(o.caPem ? { validation_context: { trusted_ca: { inline_string: o.caPem } } } : {}),
      ...(o.caSecret ? { validation_context_sds_secret_config: { name: o.caSecret, sds_config: { ads: {} } } } : {}),
      ...(o.minTls13 ? { tls_params: { tls_minimum_protocol_version: 'TLSv1_3' } } : {}),
    },
  };
}

/** A chain for `names` (with `alpn`) whose routes answer `body` on every path. */
function chain(names: string[], body: string, tlsContext: TypedAny, alpn?: string[]): { chain: unknown; route: TypedAny } {
  const route = `r-${body}`;
  return {
    chain: { filter_chain_match: { server_names: names, ...(alpn ? { application_protocols: alpn } : {}) }, filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(route) }], transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: tlsContext } },
    route: routeConfig(route, [{ domains: ['*'], routes: [{ prefix: '/', direct: { status: 200, body } }] }]),
  };
}

/**
 * A router with one gateway listener of these chains (and `secrets` beside its certificate); returns its
 * port, after checking it is one tls.Server.
 */
async function gateway(env: Env, chains: ReturnType<typeof chain>[], web: Cred, secrets: TypedAny[] = []): Promise<number> {
  const gw = listener('0.0.0.0_8443', 8443, []);
  gw['filter_chains'] = chains.map((c) => c.chain);
  push(env.proxy, [gw, ...chains.map((c) => c.route), certSecret('web', web), ...secrets]);
  const port = await env.port('0.0.0.0_8443');
  assert.equal(serverKind([...env.proxy.listeners.listeners()].find((l) => l.name === '0.0.0.0_8443')!), 'tls');
  return port;
}

interface Answer {
  /** The status line and body, or `closed`. */
  r: string;
  session: Buffer | undefined;
  reused: boolean;
}

/** One TLS connection with one HTTP/1.1 request. */
function once(port: number, o: { servername: string; ver: tls.SecureVersion; session?: Buffer | undefined; cert?: Cred }): Promise<Answer> {
  return new Promise((resolve) => {
    let session: Buffer | undefined;
    let reused = false;
    let data = '';
    const t = tls.connect({ host: '127.0.0.1', port, servername: o.servername, rejectUnauthorized: false, minVersion: o.ver, maxVersion: o.ver, ALPNProtocols: ['http/1.1'], ...(o.session ? { session: o.session } : {}), ...(o.cert ? { cert: o.cert.cert, key: o.cert.key } : {}) });
    t.on('session', (s: Buffer) => (session = s));
    t.on('error', () => {});
    t.once('secureConnect', () => {
      reused = t.isSessionReused();
      t.write(`GET / HTTP/1.1\r\nhost: ${o.servername}\r\nconnection: close\r\n\r\n`);
    });
    t.on('data', (d: Buffer) => (data += d.toString('latin1')));
    t.on('close', () => resolve({ r: data ? `${data.split('\r\n')[0]} ${data.split('\r\n\r\n')[1] ?? ''}` : 'closed', session, reused }));
  });
}

/**
 * Node 24 wraps a client's session with the server name it was made for and offers it to that name only;
 * a client that unwraps it offers it to any (the OpenSSL session is not bound to a name).
 */
function unwrapped(session: Buffer | undefined): Buffer {
  assert.ok(session, 'the first connection got a session');
  const tag = Buffer.from('\0nodejs:tls:session:1\0', 'latin1');
  if (!session.subarray(0, tag.length).equals(tag)) return session;
  return session.subarray(tag.length + 2 + session.readUInt16BE(tag.length));
}

describe('one context, servers by name', () => {
  let env: Env;
  let web: Cred;
  before(async () => {
    web = await (await makeCa('server-ca')).issueWithSans([{ type: 'dns', value: 'a.example.com' }]);
    env = await startProxy({ role: 'router' });
  });
  after(async () => {
    await env?.close();
  });

  test('TLS 1.3 only: a resumed session (no SNI callback) is served by its server name', async () => {
    const port = await gateway(env, [chain(['a.example.com'], 'served-a', dtls({ minTls13: true }))], web);
    const first = await once(port, { servername: 'a.example.com', ver: 'TLSv1.3' });
    assert.match(first.r, /^HTTP\/1.1 200 OK served-a/);
    const again = await once(port, { servername: 'a.example.com', ver: 'TLSv1.3', session: first.session });
    assert.equal(again.reused, true);
    assert.match(again.r, /^HTTP\/1.1 200 OK served-a/);
  });

  for (const ver of ['TLSv1.2', 'TLSv1.3'] as const) {
    test(`TLS 1.2 allowed: a ${ver} client's session is not resumed (a resumed TLS 1.2 session names no server), and it is served`, async () => {
      const port = await gateway(env, [chain(['a.example.com'], 'served-a', dtls())], web);
      const first = await once(port, { servername: 'a.example.com', ver });
      assert.match(first.r, /^HTTP\/1.1 200 OK served-a/);
      const again = await once(port, { servername: 'a.example.com', ver, session: first.session });
      assert.equal(again.reused, false);
      assert.match(again.r, /^HTTP\/1.1 200 OK served-a/);
    });
  }
});

describe('one context, no server names', () => {
  let env: Env;
  before(async () => {
    env = await startProxy({ role: 'router' });
  });
  after(async () => {
    await env?.close();
  });

  test('sessions resume, and none made before the client CA rotated does after', async () => {
    const web = await (await makeCa('server-ca')).issueWithSans([{ type: 'dns', value: 'a.example' }]);
    const caA = await makeCa('ca-a');
    const caB = await makeCa('ca-b');
    const clientA = await caA.issueWithSans([{ type: 'dns', value: 'client.a' }]);
    const caSecret = (ca: string): TypedAny => ({ '@type': TypeUrl.Secret, name: 'clients', validation_context: { trusted_ca: { inline_string: ca } } });
    const port = await gateway(env, [chain([], 'served', dtls({ caSecret: 'clients' }))], web, [caSecret(caA.ca)]);
    const first = await once(port, { servername: 'a.example', ver: 'TLSv1.3', cert: clientA });
    assert.match(first.r, /served/);
    const again = await once(port, { servername: 'a.example', ver: 'TLSv1.3', session: first.session, cert: clientA });
    assert.equal(again.reused, true);
    assert.match(again.r, /served/);
    push(env.proxy, [certSecret('web', web), caSecret(caB.ca)], 'v2');
    const after = await once(port, { servername: 'a.example', ver: 'TLSv1.3', session: again.session ?? first.session, cert: clientA });
    assert.equal(after.reused, false);
    assert.equal(after.r, 'closed', 'the new CA refuses the client');
  });
});

describe('two contexts on one port', () => {
  let env: Env;
  let web: Cred;
  let caA: Awaited<ReturnType<typeof makeCa>>;
  let caB: Awaited<ReturnType<typeof makeCa>>;
  let clientA: Cred;
  before(async () => {
    web = await (await makeCa('server-ca')).issueWithSans([{ type: 'dns', value: 'a.example' }, { type: 'dns', value: 'b.example' }]);
    caA = await makeCa('ca-a');
    caB = await makeCa('ca-b');
    clientA = await caA.issueWithSans([{ type: 'dns', value: 'client.a' }]);
    env = await startProxy({ role: 'router' });
  });
  after(async () => {
    await env?.close();
  });

  test("a session made under one server's CA is never resumed under another's", async () => {
    const port = await gateway(env, [chain(['a.example'], 'served-a', dtls({ caPem: caA.ca, minTls13: true })), chain(['b.example'], 'served-b', dtls({ caPem: caB.ca, minTls13: true }))], web);
    assert.equal((await once(port, { servername: 'b.example', ver: 'TLSv1.3', cert: clientA })).r, 'closed', "b.example's CA refuses the client");
    const first = await once(port, { servername: 'a.example', ver: 'TLSv1.3', cert: clientA });
    assert.match(first.r, /served-a/);
    const crossed = await once(port, { servername: 'b.example', ver: 'TLSv1.3', session: unwrapped(first.session) });
    assert.equal(crossed.reused, false);
    assert.equal(crossed.r, 'closed');
    const own = await once(port, { servername: 'a.example', ver: 'TLSv1.3', session: first.session, cert: clientA });
    assert.equal(own.reused, false, 'a full handshake every time');
    assert.match(own.r, /served-a/);
  });

  test('a session is never resumed into the chain the negotiated ALPN picks under another CA', async () => {
    const port = await gateway(env, [chain(['a.example'], 'served-h2-ca-b', dtls({ caPem: caB.ca, minTls13: true }), ['h2']), chain(['a.example'], 'served-a', dtls({ caPem: caA.ca, minTls13: true }))], web);
    const first = await once(port, { servername: 'a.example', ver: 'TLSv1.3', cert: clientA });
    assert.match(first.r, /served-a/);
    const answer = await new Promise<string>((resolve) => {
      const s = http2.connect(`https://127.0.0.1:${port}`, { servername: 'a.example', rejectUnauthorized: false, cert: clientA.cert, key: clientA.key, minVersion: 'TLSv1.3', session: first.session });
      s.on('error', () => resolve('closed'));
      s.on('close', () => resolve('closed'));
      const req = s.request({ ':path': '/', ':authority': 'a.example' });
      req.on('error', () => resolve('closed'));
      req.on('response', (h) => {
        let body = '';
        req.on('data', (d: Buffer) => (body += d));
        req.on('end', () => {
          resolve(`${h[':status']} ${body}`);
          s.close();
        });
      });
      req.end();
    });
    assert.equal(answer, 'closed', 'the [h2] chain trusts CA-B only');
  });
});

describe('mixed port', () => {
  let env: RouterEnv;
  let app: App;
  let port: number;
  let clientB: Cred;
  before(async () => {
    ({ env, app, port, clientB } = await startTenantsGateway({ aMinTls13: true }));
    assert.equal(serverKind([...env.proxy.listeners.listeners()].find((l) => l.name === '0.0.0.0_8443')!), 'mixed');
  });
  after(async () => {
    await env?.close();
    app?.server.close();
  });

  test('an HTTP/2 client on a TLS socket made over the sniffed stream is served, nothing thrown', async () => {
    const thrown: unknown[] = [];
    let settle: (status: string) => void = () => {};
    const onThrow = (err: unknown) => {
      thrown.push(err);
      settle('thrown');
    };
    process.on('uncaughtException', onThrow);
    try {
      const status = await new Promise<string>((resolve) => {
        settle = resolve;
        const s = http2.connect(`https://127.0.0.1:${port}`, { servername: 'x.other', rejectUnauthorized: false, cert: clientB.cert, key: clientB.key });
        s.on('error', (e) => resolve(`error ${e.message}`));
        const req = s.request({ ':path': '/', ':authority': 'x.other' });
        req.on('error', (e) => resolve(`error ${e.message}`));
        req.on('response', (h) => {
          resolve(String(h[':status']));
          s.close();
        });
        req.end();
      });
      assert.equal(status, '404');
      assert.deepEqual(thrown, []);
    } finally {
      process.off('uncaughtException', onThrow);
    }
  });
});
