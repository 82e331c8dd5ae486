// A gateway certificate named by file (`file-cert:CERT~KEY`, as Istio writes a Gateway's
// serverCertificate/privateKey) is served anew when its files change, as istio-agent's file watch pushes
// it: rewritten in place, renamed into place, or swapped in as a Kubernetes secret volume does (its
// `..data` symlink). New handshakes get the new certificate, an open connection carries on, a broken
// replacement keeps the last good one (with a warning naming the file), and the watch goes with the listener.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, mkdtempSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import tls from 'node:tls';
import { FILE_DEBOUNCE_MS, RETRY_BUDGET_MS } from '../../src/proxy/tls/file-credential-watch.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { makeCa, type TestCa } from './certs.ts';
import { cla, cluster, echoBackend, hcm, listener, ManualTimers, push, routeConfig, startProxy } from './harness.ts';

const timers = new ManualTimers();
const logs: string[] = [];
let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;
let authority: TestCa;
const dir = mkdtempSync(path.join(tmpdir(), 'gw-rotation-'));

const gateway = (name: string, port: number, cert: string, key: string): TypedAny => {
  const l = listener(name, port, []);
  l['filter_chains'] = [
    {
      filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm('r') }],
      transport_socket: {
        name: 'envoy.transport_sockets.tls',
        typed_config: { '@type': TypeUrl.DownstreamTlsContext, common_tls_context: { tls_certificate_sds_secret_configs: [{ name: `file-cert:${cert}~${key}`, sds_config: { ads: {} } }] } },
      },
    },
  ];
  return l;
};
const base = () => [cluster('b'), cla('b', [{ port: backend.port }]), routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }])];

async function issue(): Promise<{ cert: string; key: string; serial: string }> {
  const c = await authority.issueWithSans([{ type: 'dns', value: 'gw.example.com' }]);
  return { ...c, serial: new X509Certificate(c.cert).serialNumber };
}

/** The serial of the certificate a new handshake gets (with SNI, or without: the listener's default context). */
async function served(port: number, servername?: string): Promise<string> {
  const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ...(servername ? { servername } : {}) });
  await new Promise<void>((resolve, reject) => {
    s.once('secureConnect', resolve);
    s.once('error', reject);
  });
  const serial = s.getPeerCertificate().serialNumber;
  s.destroy();
  return serial;
}

/** An HTTP/1.1 request on an open TLS connection; resolves with the status line. */
function get(s: tls.TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const onData = (c: Buffer) => {
      text += c.toString('latin1');
      const end = text.indexOf('\r\n\r\n');
      const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
      if (end >= 0 && length >= 0 && text.length >= end + 4 + length) {
        s.off('data', onData);
        resolve(text.slice(0, text.indexOf('\r\n')));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.write('GET / HTTP/1.1\r\nhost: gw.example.com\r\n\r\n');
  });
}

async function until(what: string, ok: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

/** The file watch's pending read: a debounce or a retry (every other timer of the proxy is longer). */
function fileTimer(): number | undefined {
  for (const t of timers.pending.values()) if (t.ms <= RETRY_BUDGET_MS) return t.ms;
  return undefined;
}

/** Waits for the event of a change (real file system events), then runs the debounced reads (one per credential in the directory) at once. */
async function settle(): Promise<void> {
  await until('the file event', () => fileTimer() === FILE_DEBOUNCE_MS);
  while (timers.fire(FILE_DEBOUNCE_MS));
}

before(async () => {
  authority = await makeCa('gateway-files');
  backend = await echoBackend();
  env = await startProxy({ role: 'router', timers, onLog: (level, message) => logs.push(`${level} ${message}`) });
});

after(async () => {
  await env.close();
  backend.server.close();
});

test('rewritten in place: new handshakes (with and without SNI) get the new certificate; an open connection carries on', async () => {
  const cert = path.join(dir, 'inplace.crt');
  const key = path.join(dir, 'inplace.key');
  const first = await issue();
  writeFileSync(cert, first.cert);
  writeFileSync(key, first.key);
  push(env.proxy, [...base(), gateway('gw', 8443, cert, key)]);
  const port = await env.port('gw');
  assert.equal(await served(port, 'gw.example.com'), first.serial);

  const open = tls.connect({ host: '127.0.0.1', port, servername: 'gw.example.com', rejectUnauthorized: false });
  await new Promise((r) => open.once('secureConnect', r));
  assert.equal(await get(open), 'HTTP/1.1 200 OK');

  const second = await issue();
  writeFileSync(cert, second.cert);
  writeFileSync(key, second.key);
  await settle();
  await until('the new certificate', async () => (await served(port, 'gw.example.com')) === second.serial);
  assert.equal(await served(port), second.serial, 'a client without SNI gets it too');
  assert.equal(open.getPeerCertificate().serialNumber, first.serial);
  assert.equal(await get(open), 'HTTP/1.1 200 OK', 'the open connection still serves');
  open.destroy();
});

test('renamed into place', async () => {
  const cert = path.join(dir, 'inplace.crt');
  const key = path.join(dir, 'inplace.key');
  const port = await env.port('gw');
  const next = await issue();
  writeFileSync(`${cert}.tmp`, next.cert);
  writeFileSync(`${key}.tmp`, next.key);
  renameSync(`${key}.tmp`, key);
  renameSync(`${cert}.tmp`, cert);
  await settle();
  await until('the renamed certificate', async () => (await served(port, 'gw.example.com')) === next.serial);
});

test("a broken replacement keeps the last good certificate and warns naming the file, not its content", async () => {
  const cert = path.join(dir, 'inplace.crt');
  const port = await env.port('gw');
  const before = await served(port, 'gw.example.com');
  writeFileSync(cert, '-----BEGIN CERTIFICATE-----\nnot-a-certificate\n-----END CERTIFICATE-----\n');
  await settle();
  // istio-agent tries again for 10 s (a certificate written before its key); then the old one stays.
  await until('the warning', async () => {
    const ms = fileTimer();
    if (ms !== undefined) timers.fire(ms);
    return logs.some((l) => l.startsWith('warning') && l.includes(cert));
  });
  const warning = logs.find((l) => l.includes(cert)) ?? '';
  assert.doesNotMatch(warning, /not-a-certificate|BEGIN/);
  assert.equal(await served(port, 'gw.example.com'), before);
});

test('a Kubernetes secret volume: the ..data symlink swapped to a new directory', async () => {
  const vol = path.join(dir, 'volume');
  mkdirSync(path.join(vol, '..v1'), { recursive: true });
  const v1 = await issue();
  writeFileSync(path.join(vol, '..v1', 'tls.crt'), v1.cert);
  writeFileSync(path.join(vol, '..v1', 'tls.key'), v1.key);
  symlinkSync('..v1', path.join(vol, '..data'));
  symlinkSync('..data/tls.crt', path.join(vol, 'tls.crt'));
  symlinkSync('..data/tls.key', path.join(vol, 'tls.key'));
  push(env.proxy, [...base(), gateway('gw', 8443, path.join(vol, 'tls.crt'), path.join(vol, 'tls.key'))], 'v2');
  const port = await env.port('gw');
  await until('the volume certificate', async () => (await served(port, 'gw.example.com')) === v1.serial);

  const v2 = await issue();
  mkdirSync(path.join(vol, '..v2'));
  writeFileSync(path.join(vol, '..v2', 'tls.crt'), v2.cert);
  writeFileSync(path.join(vol, '..v2', 'tls.key'), v2.key);
  symlinkSync('..v2', path.join(vol, '..data_tmp'));
  renameSync(path.join(vol, '..data_tmp'), path.join(vol, '..data'));
  await settle();
  await until('the swapped certificate', async () => (await served(port, 'gw.example.com')) === v2.serial);
});

test('listeners naming the same files share one watch; it is closed when no listener names them', async () => {
  const cert = path.join(dir, 'shared.crt');
  const key = path.join(dir, 'shared.key');
  const c = await issue();
  writeFileSync(cert, c.cert);
  writeFileSync(key, c.key);
  push(env.proxy, [...base(), gateway('gw', 8443, cert, key), gateway('gw2', 9443, cert, key)], 'v3');
  assert.deepEqual(env.proxy.secrets.watchedDirs(), [dir]);
  push(env.proxy, [...base(), gateway('gw2', 9443, cert, key)], 'v4');
  assert.deepEqual(env.proxy.secrets.watchedDirs(), [dir]);
  await env.proxy.xds.apply(TypeUrl.Listener, [], 'v5');
  assert.deepEqual(env.proxy.secrets.watchedDirs(), []);
});

test('a client CA file (file-root:, MUTUAL) rotated: new handshakes are checked against the new CA', async () => {
  const caFile = path.join(dir, 'client-ca.pem');
  const cert = path.join(dir, 'shared.crt');
  const key = path.join(dir, 'shared.key');
  const oldCa = await makeCa('clients-old');
  const newCa = await makeCa('clients-new');
  const oldClient = await oldCa.issueWithSans([{ type: 'dns', value: 'client' }]);
  const newClient = await newCa.issueWithSans([{ type: 'dns', value: 'client' }]);
  writeFileSync(caFile, oldCa.ca);
  const l = gateway('mutual', 10443, cert, key);
  const chain = (l['filter_chains'] as { transport_socket: { typed_config: Record<string, unknown> } }[])[0];
  const tc = chain?.transport_socket.typed_config as { require_client_certificate?: boolean; common_tls_context: Record<string, unknown> };
  tc.require_client_certificate = true;
  tc.common_tls_context['combined_validation_context'] = { default_validation_context: {}, validation_context_sds_secret_config: { name: `file-root:${caFile}`, sds_config: { ads: {} } } };
  push(env.proxy, [...base(), l], 'v6');
  const port = await env.port('mutual');
  const status = (client: { cert: string; key: string }) =>
    new Promise<string>((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, servername: 'gw.example.com', rejectUnauthorized: false, ...client });
      s.once('error', () => resolve('refused'));
      s.once('close', () => resolve('refused'));
      s.once('secureConnect', () =>
        get(s).then(
          (line) => {
            resolve(line);
            s.destroy();
          },
          () => resolve('refused'),
        ),
      );
    });
  assert.equal(await status(oldClient), 'HTTP/1.1 200 OK');
  assert.equal(await status(newClient), 'refused');
  writeFileSync(caFile, newCa.ca);
  await settle();
  await until('the new CA', async () => (await status(newClient)) === 'HTTP/1.1 200 OK');
  assert.equal(await status(oldClient), 'refused');
});

test("a pair read mid-rotation (the key not the certificate's) refuses its chain's handshakes only, until the watch reads a matching pair", async () => {
  const cert = path.join(dir, 'shared.crt');
  const key = path.join(dir, 'shared.key');
  push(env.proxy, [...base(), gateway('gw', 8443, cert, key)], 'v7');
  const port = await env.port('gw');
  const before = await served(port, 'gw.example.com');
  const [a, b] = [await issue(), await issue()];
  const midCert = path.join(dir, 'mid.crt');
  const midKey = path.join(dir, 'mid.key');
  writeFileSync(midCert, b.cert);
  writeFileSync(midKey, a.key);
  // Envoy applies LDS per listener, and istio-agent retries the pair while the listener waits: the push is taken.
  push(env.proxy, [...base(), gateway('gw', 8443, cert, key), gateway('mid', 11443, midCert, midKey)], 'v8');
  const midPort = await env.port('mid');
  assert.ok(logs.some((l) => l.includes(`${midCert} and ${midKey} are not a certificate and its key`)), 'a warning names both files');
  await assert.rejects(served(midPort, 'gw.example.com'));
  assert.equal(await served(port, 'gw.example.com'), before);
  writeFileSync(midKey, b.key);
  await settle();
  await until('the matching pair', async () => (await served(midPort, 'gw.example.com').catch(() => '')) === b.serial);
});

test('an update that warms (its routes not here yet): the version serving meanwhile keeps its files watched, and they are let go once it is replaced', async () => {
  const withRoutes = (l: TypedAny, rds: string): TypedAny => {
    const chain = (l['filter_chains'] as TypedAny[])[0] as TypedAny;
    return { ...l, filter_chains: [{ ...chain, filters: [{ name: 'envoy.filters.network.http_connection_manager', typed_config: hcm(rds) }] }] };
  };
  const [one, two] = ['warm-one', 'warm-two'].map((d) => path.join(dir, d)) as [string, string];
  for (const d of [one, two]) {
    mkdirSync(d);
    const p = await issue();
    writeFileSync(path.join(d, 'tls.crt'), p.cert);
    writeFileSync(path.join(d, 'tls.key'), p.key);
  }
  const gw = (d: string, rds: string) => withRoutes(gateway('gw', 8443, path.join(d, 'tls.crt'), path.join(d, 'tls.key')), rds);
  push(env.proxy, [...base(), gw(one, 'r')], 'v9');
  const port = await env.port('gw');
  // r2 has not come: the version on `one` serves on.
  void env.proxy.xds.apply(TypeUrl.Listener, [gw(two, 'r2')], 'v10');
  assert.deepEqual(env.proxy.secrets.watchedDirs().sort(), [one, two]);
  const fresh = await issue();
  writeFileSync(path.join(one, 'tls.crt'), fresh.cert);
  writeFileSync(path.join(one, 'tls.key'), fresh.key);
  await settle();
  await until('the serving version rotated', async () => (await served(port, 'gw.example.com')) === fresh.serial);
  env.proxy.xds.apply(TypeUrl.RouteConfiguration, [routeConfig('r2', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'b' }] }])], 'v10');
  assert.deepEqual(env.proxy.secrets.watchedDirs(), [two]);
});
