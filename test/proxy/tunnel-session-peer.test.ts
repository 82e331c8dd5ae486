// A source's metadata (`x-outrigger-peer`) on the mesh tunnel's HTTP/2 session: the source sends it
// until one of its requests on the session is answered, and the tunnel server gives every later
// request on that session the same source. Two sessions from two sources never mix. A carried HTTP/1.1
// connection's CONNECT is answered with the destination's own metadata, once for every response on it.
// Real TLS and HTTP/2.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { H2Response } from '../../src/proxy/http/h2-server.ts';
import type { FilterChain } from '../../src/proxy/listener/compile-listener.ts';
import { TunnelServer } from '../../src/proxy/tunnel/tunnel-server.ts';
import { connectPeerOf } from '../../src/proxy/upstream/h2-connection.ts';
import { H2Upstream } from '../../src/proxy/upstream/h2-upstream.ts';
import type { UpstreamError } from '../../src/proxy/upstream/upstream.ts';
import { makeCa } from './certs.ts';

let tunnel: TunnelServer;
let port: number;
let ca: Awaited<ReturnType<typeof makeCa>>;
const metadata = (workload: string): string => Buffer.from(JSON.stringify({ workload, namespace: 'web', labels: { app: workload } })).toString('base64');
const self = metadata('app');

before(async () => {
  ca = await makeCa();
  const serverCert = await ca.issue('spiffe://cluster.local/ns/app/sa/app');
  tunnel = new TunnelServer(0, {
    material: () => ({ ...serverCert, ca: ca.ca }),
    inboundChain: () => ({ name: 'http', handler: { kind: 'http' } }) as unknown as FilterChain,
    serveStream: (stream) => stream.destroy(),
    // The answer says who the tunnel took the request to be from, whether the request named it, and
    // whether the source was answered this workload's metadata on its carrier.
    serveRequest: (_chain, conn, req, res) => {
      const body = `${conn.peer?.workload ?? 'unknown'} ${req.headers['x-outrigger-peer'] === undefined ? 'from-session' : 'carried'}${conn.peerAnswered ? ' answered' : ''}`;
      (res as H2Response).writeHead(200, { 'content-length': body.length }).end(body);
    },
    selfPeer: self,
  });
  port = await tunnel.boundPort;
});

after(() => tunnel.close());

/** A source's HTTP/2 tunnel upstream, its requests carrying `workload`'s metadata as a sidecar's do. */
async function source(workload: string) {
  const cert = await ca.issue(`spiffe://cluster.local/ns/web/sa/${workload}`);
  const upstream = new H2Upstream(`https://127.0.0.1:${port}`, {
    connectTimeoutMs: 2000,
    tls: () => ({ ...cert, ca: ca.ca, checkServerIdentity: () => undefined, ALPNProtocols: ['h2'] }),
    extraHeaders: { 'x-outrigger-peer': metadata(workload) },
  });
  const get = (): Promise<string> =>
    new Promise((resolve, reject) => {
      let body = '';
      upstream.request({ method: 'GET', path: '/', authority: 'app', scheme: 'https', headers: {}, targetPort: 8080 }, null, {
        onHead() {},
        onData(c) {
          body += c.toString();
          return true;
        },
        onEnd: () => resolve(body),
        onError: (err: UpstreamError) => reject(err),
      });
    });
  return { upstream, get };
}

test('the metadata travels until a request is answered; the session gives it to every later request', async () => {
  const web = await source('web');
  const shop = await source('shop');
  try {
    assert.equal(await web.get(), 'web carried', 'the first request names its source');
    assert.equal(await web.get(), 'web from-session', 'later ones do not, and are still from it');
    assert.equal(await web.get(), 'web from-session');
    // Another source's session is its own.
    assert.equal(await shop.get(), 'shop carried');
    assert.equal(await shop.get(), 'shop from-session');
    assert.equal(await web.get(), 'web from-session', 'the first session still says web');
    assert.equal(web.upstream.connections(), 1, 'all on one session');
  } finally {
    await web.upstream.close();
    await shop.upstream.close();
  }
});

test("a carried HTTP/1.1 connection's CONNECT is answered with the destination's metadata, and its requests know it", async () => {
  const web = await source('web');
  try {
    const carrier = await web.upstream.carry(`127.0.0.1:${port}`);
    assert.ok(carrier, 'the tunnel takes extended CONNECT');
    assert.equal(connectPeerOf(carrier), self, "the carrier's answer names the destination, for every response on it");
    carrier.write('GET / HTTP/1.1\r\nhost: app\r\nx-outrigger-target-port: 8080\r\n\r\n');
    let got = '';
    for await (const chunk of carrier) {
      got += (chunk as Buffer).toString('latin1');
      if (got.endsWith('answered') || got.endsWith('session')) break;
    }
    assert.match(got, /\r\n\r\nweb from-session answered$/, 'from the carrier\'s source, which was answered who this is');
    carrier.destroy();
  } finally {
    await web.upstream.close();
  }
});
