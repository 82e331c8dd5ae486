// TLS origination whose credentials are files (a DestinationRule's caCertificates, clientCertificate and
// privateKey: Envoy's `filename` as Outrigger writes them, `file-root:` / `file-cert:` as istiod does) is
// kept current as istio-agent keeps them: a changed file applies to the next connection, after the
// debounce and with no config change; a pooled connection keeps its TLS session, a broken replacement
// keeps the last good file (with a warning naming it), and the watch goes once nothing names the file.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, realpathSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import { FILE_DEBOUNCE_MS, RETRY_BUDGET_MS } from '../../src/proxy/tls/file-credential-watch.ts';
import { originationContext } from '../../src/translate/client-tls.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from './certs.ts';
import { cla, cluster, hcm, listener, ManualTimers, push, request, routeConfig, startProxy } from './harness.ts';

const timers = new ManualTimers();
const logs: string[] = [];
const root = mkdtempSync(path.join(tmpdir(), 'origination-rotation-'));
const caDir = path.join(root, 'trust');
const vol = path.join(root, 'client-volume');
let env: Awaited<ReturnType<typeof startProxy>>;
let port: number;
let ca1: TestCa;
let ca2: TestCa;
let clients: TestCa;
/** A SIMPLE origin: answers with the CA of the certificate it served; closes the connection unless asked to keep it. */
let simple: https.Server;
/** A MUTUAL origin: answers with the serial of the client certificate it was shown; one request per connection. */
let mutual: https.Server;

const origin = (s: https.Server) => (s.address() as AddressInfo).port;
const serverPair = (ca: TestCa, host: string) => ca.issueWithSans([{ type: 'dns', value: host }]);
const serial = (pem: string) => new X509Certificate(pem).serialNumber;

/** An origination cluster: connect timeouts beyond the file watch's timers, which the test fires by their length. */
function originating(name: string, context: TypedAny): TypedAny {
  return { ...cluster(name), connect_timeout: { seconds: '60' }, transport_socket: { name: 'envoy.transport_sockets.tls', typed_config: context } };
}

/** As Outrigger translates `tls: { mode: SIMPLE, caCertificates, sni }`: `trusted_ca.filename`. */
const simpleCluster = () => originating('outbound|443||api.example.com', originationContext({ mode: 'SIMPLE', caCertificates: path.join(caDir, 'ca.pem'), sni: 'api.example.com' }));

/** As istiod translates `tls: { mode: MUTUAL, clientCertificate, privateKey, caCertificates }`: file-cert: and file-root: SDS names. */
const mutualCluster = () =>
  originating('outbound|443||mtls.example.com', {
    '@type': TypeUrl.UpstreamTlsContext,
    sni: 'mtls.example.com',
    common_tls_context: {
      tls_certificate_sds_secret_configs: [{ name: `file-cert:${path.join(vol, 'tls.crt')}~${path.join(vol, 'tls.key')}`, sds_config: { ads: {} } }],
      combined_validation_context: { default_validation_context: {}, validation_context_sds_secret_config: { name: `file-root:${path.join(vol, 'ca.crt')}`, sds_config: { ads: {} } } },
    },
  });

const config = (clusters: TypedAny[]) => [
  ...clusters,
  cla('outbound|443||api.example.com', [{ port: origin(simple) }]),
  cla('outbound|443||mtls.example.com', [{ port: origin(mutual) }]),
  listener('out', 8080, [{ filter: hcm('r') }]),
  routeConfig('r', [
    { domains: ['api.example.com'], routes: [{ prefix: '/', cluster: 'outbound|443||api.example.com' }] },
    { domains: ['mtls.example.com'], routes: [{ prefix: '/', cluster: 'outbound|443||mtls.example.com' }] },
  ]),
];

/** Polls `ok`, running any debounced read due meanwhile (a read that raced an event reads again). */
async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await ok()) return;
    while (timers.fire(FILE_DEBOUNCE_MS));
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** The file watch's pending read: a debounce or a retry (every other timer of the proxy is longer). */
function fileTimer(): number | undefined {
  for (const t of timers.pending.values()) if (t.ms <= RETRY_BUDGET_MS) return t.ms;
  return undefined;
}

/** Waits for the event of a change (real file system events), then runs the debounced reads at once. */
async function settle(): Promise<void> {
  await until('the file event', () => fileTimer() === FILE_DEBOUNCE_MS);
  while (timers.fire(FILE_DEBOUNCE_MS));
}

const get = (host: string, p = '/') => request(port, p, { host });

/** Writes the client volume's files into a new directory and swaps `..data` to it, as the kubelet does. */
function swapVolume(version: string, files: Record<string, string>): void {
  mkdirSync(path.join(vol, version));
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(vol, version, name), content);
  symlinkSync(version, path.join(vol, '..data_tmp'));
  renameSync(path.join(vol, '..data_tmp'), path.join(vol, '..data'));
}

before(async () => {
  [ca1, ca2, clients] = await Promise.all([makeCa('origin-ca-1'), makeCa('origin-ca-2'), makeCa('clients')]);
  simple = https.createServer({ ...(await serverPair(ca1, 'api.example.com')) }, (req, res) => {
    if (req.url !== '/keep') res.setHeader('connection', 'close');
    const served = (req.socket as TLSSocket).getCertificate() as PeerCertificate | null;
    res.end(served?.issuer.CN ?? '');
  });
  mutual = https.createServer({ ...(await serverPair(ca1, 'mtls.example.com')), requestCert: true, rejectUnauthorized: true, ca: clients.ca }, (req, res) => {
    res.setHeader('connection', 'close');
    res.end((req.socket as TLSSocket).getPeerCertificate().serialNumber);
  });
  await Promise.all([simple, mutual].map((s) => new Promise<void>((r) => s.listen(0, '127.0.0.1', r))));
  mkdirSync(caDir);
  writeFileSync(path.join(caDir, 'ca.pem'), ca1.ca);
  mkdirSync(vol);
  const client = await clients.issueWithSans([{ type: 'dns', value: 'client' }]);
  swapVolume('..v1', { 'tls.crt': client.cert, 'tls.key': client.key, 'ca.crt': ca1.ca });
  for (const name of ['tls.crt', 'tls.key', 'ca.crt']) symlinkSync(`..data/${name}`, path.join(vol, name));
  env = await startProxy({ timers, onLog: (level, message) => logs.push(`${level} ${message}`) });
  push(env.proxy, config([simpleCluster(), mutualCluster()]));
  port = await env.port('out');
});

after(async () => {
  await env.close();
  simple.close();
  mutual.close();
});

test('caCertificates rotated with the server: new connections trust the new CA after the debounce; a pooled one keeps its session', async () => {
  const first = await get('api.example.com', '/keep');
  assert.deepEqual([first.status, first.body], [200, 'origin-ca-1']);

  simple.setSecureContext(await serverPair(ca2, 'api.example.com'));
  writeFileSync(path.join(caDir, 'ca.pem'), ca2.ca);
  await settle();
  // The same clusters again (istiod pushes on any change): a file read anew is no new cluster, so the pool stays.
  push(env.proxy, config([simpleCluster(), mutualCluster()]), 'v1-again');

  const pooled = await get('api.example.com');
  assert.deepEqual([pooled.status, pooled.body], [200, 'origin-ca-1'], 'the pooled connection keeps the handshake it made');
  // The debounced read runs off the event loop: the next connections take the file once it is read.
  await until('a new connection verifying the new server against the new CA file', async () => {
    const fresh = await get('api.example.com');
    return fresh.status === 200 && fresh.body === 'origin-ca-2';
  });
});

test('a client certificate swapped in a secret volume (..data): a MUTUAL origin sees the new one on the next connection', async () => {
  const next = await clients.issueWithSans([{ type: 'dns', value: 'client' }]);
  // The volume so far holds the certificate of before(): the origin sees it first.
  const seen = await get('mtls.example.com');
  assert.equal(seen.status, 200);
  assert.notEqual(seen.body, serial(next.cert));

  swapVolume('..v2', { 'tls.crt': next.cert, 'tls.key': next.key, 'ca.crt': ca1.ca });
  await settle();
  await until('the new client certificate', async () => {
    const r = await get('mtls.example.com');
    return r.status === 200 && r.body === serial(next.cert);
  });
});

test('a broken replacement keeps the last good CA and warns naming the file, not its content', async () => {
  const file = path.join(caDir, 'ca.pem');
  writeFileSync(file, '-----BEGIN CERTIFICATE-----\nnot-a-certificate\n-----END CERTIFICATE-----\n');
  await settle();
  // istio-agent tries again for 10 s (a file being written); then the last good one stays.
  await until('the warning', () => {
    const ms = fileTimer();
    if (ms !== undefined) timers.fire(ms);
    return logs.some((l) => l.startsWith('warning') && l.includes(file));
  });
  assert.doesNotMatch(logs.find((l) => l.includes(file)) ?? '', /not-a-certificate|BEGIN/);
  const r = await get('api.example.com');
  assert.deepEqual([r.status, r.body], [200, 'origin-ca-2'], 'new connections still trust the last good CA');
  writeFileSync(file, ca2.ca);
  await settle();
});

test('a CA file that no longer trusts the server: new connections are refused, none resumes a session made under the old trust', async () => {
  const warm = await get('api.example.com');
  assert.deepEqual([warm.status, warm.body], [200, 'origin-ca-2']);
  writeFileSync(path.join(caDir, 'ca.pem'), ca1.ca);
  await settle();
  await until('the server refused under the new trust', async () => (await get('api.example.com')).status === 503);
  writeFileSync(path.join(caDir, 'ca.pem'), ca2.ca);
  await settle();
  await until('the server trusted again', async () => (await get('api.example.com')).status === 200);
});

test('a file a listener also names stays watched when the cluster goes, and goes with the listener', async () => {
  const server = await serverPair(ca1, 'gw.example.com');
  const gateway = listener('gw', 8443, [
    {
      filter: hcm('r'),
      tls: {
        '@type': TypeUrl.DownstreamTlsContext,
        common_tls_context: { tls_certificates: [{ certificate_chain: { inline_string: server.cert }, private_key: { inline_string: server.key } }], validation_context: { trusted_ca: { filename: path.join(caDir, 'ca.pem') } } },
      },
    },
  ]);
  push(env.proxy, [...config([simpleCluster(), mutualCluster()]), gateway], 'v2');
  // The volume's files are symlinks: the directory `..data` points to is watched too.
  const target = path.dirname(realpathSync(path.join(vol, 'tls.crt')));
  assert.deepEqual(env.proxy.secrets.watchedDirs().sort(), [caDir, vol, target].sort());
  // The listeners' update did not drop the clusters' files, nor the clusters' update the listener's.
  push(env.proxy, config([mutualCluster()]).concat(gateway), 'v3');
  assert.deepEqual(env.proxy.secrets.watchedDirs().sort(), [caDir, vol, target].sort(), 'the listener still names the CA file');
  await env.proxy.xds.apply(TypeUrl.Listener, [listener('out', 8080, [{ filter: hcm('r') }])], 'v4');
  assert.deepEqual(env.proxy.secrets.watchedDirs().sort(), [vol, target].sort(), 'nothing names the CA file any more');
  env.proxy.xds.apply(TypeUrl.Cluster, [], 'v5');
  assert.deepEqual(env.proxy.secrets.watchedDirs(), []);
});
