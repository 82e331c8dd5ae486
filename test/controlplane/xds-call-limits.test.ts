// The xDS ports' limits (call-limits.ts, docs/control-plane.md "Limits"): the concurrent streams one
// connection may open, the largest message, the longest resource_names list; and the callers refused
// before their messages are read are refused as before (same status, details and logs), while
// what was let in (a token, anonymous CSDS where allowed) still is.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { MAX_CONCURRENT_STREAMS, MAX_RECEIVE_MESSAGE_BYTES, maxReceiveMessageBytesFromEnv, parseMaxReceiveMessageBytes } from '../../src/controlplane/call-limits.ts';
import { CSR_UNAUTHENTICATED_DETAILS } from '../../src/controlplane/csr-service.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';
import { MAX_RESOURCE_NAME_LENGTH, MAX_RESOURCE_NAMES } from '../../src/xds/ads-server.ts';
import { type ClientStatusResponse, CsdsMethods, csdsCodec } from '../../src/xds/csds-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

let dir: string;
let cp: ControlPlane;
let ca: CertificateAuthority;
const logs: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-cp-limits-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  ca = await CertificateAuthority.ephemeral();
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', ca, rescanMs: 0, log: (_, m) => logs.push(m) });
});

after(async () => {
  await cp.close();
  await rm(dir, { recursive: true });
});

/** How the stream ended, or OK if it was answered instead. */
const outcome = (c: RawAdsClient): Promise<{ code: grpc.status; details: string }> =>
  Promise.race([c.status, c.next().then(() => ({ code: grpc.status.OK, details: 'answered' }))]);

const token = () => cp.issueBootstrapToken({ namespace: 'test', serviceAccount: 'web', workload: 'web' });

function remoteSettings(url: string): Promise<http2.Settings> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(url, { rejectUnauthorized: false });
    session.once('error', reject);
    session.once('remoteSettings', (settings) => {
      session.close();
      resolve(settings);
    });
  });
}

test('each connection may open a bounded number of concurrent streams, on both ports', async () => {
  assert.equal((await remoteSettings(`http://${cp.xdsAddress}`)).maxConcurrentStreams, MAX_CONCURRENT_STREAMS);
  assert.equal((await remoteSettings(`https://${cp.xdsTlsAddress}`)).maxConcurrentStreams, MAX_CONCURRENT_STREAMS);
});

test('a message over the limit ends the call with RESOURCE_EXHAUSTED, even from a proxy with a token', async () => {
  const c = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'), token());
  try {
    // Names a proxy could send, too many bytes of them: 4.8 MB (fewer than the 65,536 names allowed).
    const names = Array.from({ length: 48_000 }, (_, i) => `outbound|8080|subset-${'v'.repeat(40)}|svc${i}.ns${i % 10}.svc.cluster.local`);
    c.subscribe(TypeUrl.ClusterLoadAssignment, names);
    const status = await outcome(c);
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, status.details);
    assert.match(status.details, new RegExp(`larger than max \\(\\d+ vs ${MAX_RECEIVE_MESSAGE_BYTES}\\)`));
  } finally {
    c.close();
  }
});

test("a sidecar's EDS request in a mesh of 7,000 services (3 MB) is answered, as istiod's 4 MiB limit takes it", async () => {
  assert.equal(MAX_RECEIVE_MESSAGE_BYTES, 4 * 1024 * 1024);
  const c = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'), token());
  try {
    // Two ports and two subsets of each service, plus the subset-less clusters: 50,000 names, ~3 MB.
    const names = Array.from({ length: 50_000 }, (_, i) => `outbound|${8080 + (i % 2)}|${['', 'v1', 'v2'][i % 3]}|service-${Math.floor(i / 6)}.namespace-${i % 50}.svc.cluster.local`);
    assert.ok(Buffer.byteLength(names.join("")) > 2.5 * 1024 * 1024);
    c.subscribe(TypeUrl.ClusterLoadAssignment, names);
    assert.deepEqual(await outcome(c), { code: grpc.status.OK, details: 'answered' });
  } finally {
    c.close();
  }
});

test('the message limit is an option of the control plane (and ISTIO_GPRC_MAXRECVMSGSIZE, and --max-recv-msg-size)', async () => {
  const small = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', rescanMs: 0, maxReceiveMessageBytes: 64 * 1024, log: () => {} });
  const c = new RawAdsClient(small.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'), small.issueBootstrapToken({ namespace: 'test', serviceAccount: 'web', workload: 'web' }));
  try {
    c.subscribe(TypeUrl.ClusterLoadAssignment, Array.from({ length: 2_000 }, (_, i) => `outbound|8080||svc${i}.ns.svc.cluster.local`));
    const status = await outcome(c);
    assert.equal(status.code, grpc.status.RESOURCE_EXHAUSTED, status.details);
    assert.match(status.details, /larger than max \(\d+ vs 65536\)/);
  } finally {
    c.close();
    await small.close();
  }
  assert.equal(maxReceiveMessageBytesFromEnv({ ISTIO_GPRC_MAXRECVMSGSIZE: '8388608' }), 8 * 1024 * 1024);
  assert.equal(maxReceiveMessageBytesFromEnv({}), undefined);
  assert.throws(() => maxReceiveMessageBytesFromEnv({ ISTIO_GPRC_MAXRECVMSGSIZE: '4MiB' }), /ISTIO_GPRC_MAXRECVMSGSIZE: "4MiB" is not a message size limit/);
  assert.throws(() => parseMaxReceiveMessageBytes('0', '--max-recv-msg-size'), /--max-recv-msg-size: "0"/);
  // As Go's strconv.Atoi reads it (istiod's env.Register): a sign is allowed, spaces are not.
  assert.equal(maxReceiveMessageBytesFromEnv({ ISTIO_GPRC_MAXRECVMSGSIZE: '+4194304' }), 4194304);
  assert.equal(parseMaxReceiveMessageBytes('+8192', '--max-recv-msg-size'), 8192);
  assert.throws(() => maxReceiveMessageBytesFromEnv({ ISTIO_GPRC_MAXRECVMSGSIZE: ' 4194304' }), /" 4194304" is not a message size limit/);
  assert.throws(() => parseMaxReceiveMessageBytes('-4096', '--max-recv-msg-size'), /--max-recv-msg-size: "-4096" is not a message size limit/);
});

test('`outrigger control-plane`: an ISTIO_GPRC_MAXRECVMSGSIZE istiod would ignore is said and 4 MiB kept, as istiod and `up` do; only the flag is refused (exit 64)', async (t) => {
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  const env = { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OUTRIGGER_FROM_SOURCE: '1' };
  const args = [bin, 'control-plane', '-f', dir, '--xds-port', '0', '--no-xds-tls', '--debug-port', '0'];
  const flagged = spawnSync(process.execPath, [...args, '--max-recv-msg-size', '4MB'], { env, encoding: 'utf8' });
  assert.equal(flagged.status, 64, flagged.stderr);
  assert.match(flagged.stderr, /^outrigger control-plane: --max-recv-msg-size: "4MB" is not a message size limit/);

  const cli = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...env, ISTIO_GPRC_MAXRECVMSGSIZE: '4MB' } });
  t.after(() => {
    if (cli.exitCode === null && cli.signalCode === null) cli.kill('SIGKILL');
  });
  let out = '';
  const exited = new Promise<void>((resolve) => cli.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`control plane not up within 60 s:\n${out}`)), 60_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (/control plane: xDS 127\.0\.0\.1:\d+/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    };
    cli.stdout.on('data', onData);
    cli.stderr.on('data', onData);
    cli.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`control plane exited (${code}):\n${out}`));
    });
  });
  assert.match(out, /warn ISTIO_GPRC_MAXRECVMSGSIZE: "4MB" is not a message size limit: .*; using 4194304\n/);
  // Started, not refused: what the message limit does once up is the tests' above.
  // Stopped on reading that line, it shuts down: the signals are caught before the line is written.
  cli.kill('SIGTERM');
  await exited;
  assert.deepEqual([cli.exitCode, cli.signalCode], [0, null]);
});

test('a resource_names list longer than any proxy sends ends the stream with RESOURCE_EXHAUSTED, and says why', async () => {
  const many = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'), token());
  const long = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'), token());
  try {
    many.subscribe(TypeUrl.Cluster);
    await many.next();
    many.subscribe(
      TypeUrl.ClusterLoadAssignment,
      Array.from({ length: MAX_RESOURCE_NAMES + 1 }, (_, i) => `${i}`),
    );
    const tooMany = await outcome(many);
    assert.equal(tooMany.code, grpc.status.RESOURCE_EXHAUSTED, tooMany.details);
    assert.equal(tooMany.details, `resource_names lists ${MAX_RESOURCE_NAMES + 1} names for ${TypeUrl.ClusterLoadAssignment}, more than ${MAX_RESOURCE_NAMES}`);
    long.subscribe(TypeUrl.Cluster, ['x'.repeat(MAX_RESOURCE_NAME_LENGTH + 1)]);
    const tooLong = await outcome(long);
    assert.equal(tooLong.code, grpc.status.RESOURCE_EXHAUSTED, tooLong.details);
    assert.match(tooLong.details, /a resource name for \S+Cluster is 4097 characters long, more than 4096/);
    assert.ok(logs.some((l) => /refused ADS stream from \S+: TOO_MANY_NAMES resource_names lists/.test(l)), logs.join('\n'));
  } finally {
    many.close();
    long.close();
  }
});

test('a mesh of 1,000 services: a sidecar subscribing to its 6,000 EDS names is served', async () => {
  const c = new RawAdsClient(cp.xdsAddress, sidecarNode('test', 'web-0', 'web', 'web'), token());
  try {
    const names = Array.from({ length: 6000 }, (_, i) => `outbound|${i % 2 ? 9090 : 8080}|${['', 'v1', 'v2'][i % 3]}|svc${i}.ns${i % 10}.svc.cluster.local`);
    names.push('outbound|8080||echo.test.svc.cluster.local');
    c.subscribe(TypeUrl.ClusterLoadAssignment, names);
    const eds = await c.next();
    assert.equal(eds.type_url, TypeUrl.ClusterLoadAssignment);
    assert.equal(eds.resources.length, 1, 'the one that exists');
  } finally {
    c.close();
  }
});

function csdsFetch(address: string, md: grpc.Metadata, credentials = grpc.credentials.createInsecure(), options: grpc.ChannelOptions = {}): Promise<ClientStatusResponse> {
  const client = new grpc.Client(address, credentials, options);
  return new Promise<ClientStatusResponse>((resolve, reject) =>
    client.makeUnaryRequest(CsdsMethods.fetch, csdsCodec.encodeRequest, csdsCodec.decodeResponse, {}, md, (err, res) => (err ? reject(err) : resolve(res as ClientStatusResponse))),
  ).finally(() => client.close());
}

test('callers refused from their headers get the services’ own answers and logs', async () => {
  const refusedBefore = logs.length;
  const csr = createCsrClient({ address: cp.xdsAddress, token: () => 'or1.forged.token' });
  try {
    const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/test/sa/web');
    await assert.rejects(csr.sign(csrPem, 60), (err: { grpcCode?: number; message: string }) => err.grpcCode === grpc.status.UNAUTHENTICATED && err.message.includes(CSR_UNAUTHENTICATED_DETAILS));
  } finally {
    csr.close();
  }
  const bad = new grpc.Metadata();
  bad.set('authorization', 'Bearer or1.forged.token');
  await assert.rejects(csdsFetch(cp.xdsAddress, bad), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED && err.details === 'authentication failed');
  await assert.rejects(csdsFetch(cp.xdsAddress, new grpc.Metadata()), (err: grpc.ServiceError) => err.code === grpc.status.UNAUTHENTICATED && err.details === 'authentication failed');
  const said = logs.slice(refusedBefore);
  assert.ok(said.some((l) => /refused CSDS call from \S+: BAD_TOKEN token not valid/.test(l)), said.join('\n'));
  assert.ok(said.some((l) => /refused CSDS call from \S+: NO_TOKEN no bearer token/.test(l)), said.join('\n'));
  assert.ok(!said.some((l) => /refused certificate request/.test(l)), 'a CSR caller without a valid token is not logged, as before');
});

test('a caller with a token is let in: a certificate signed, a CSDS answer', async () => {
  const csr = createCsrClient({ address: cp.xdsAddress, token });
  try {
    const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/test/sa/web');
    assert.ok((await csr.sign(csrPem, 60)).length > 0);
  } finally {
    csr.close();
  }
  const md = new grpc.Metadata();
  md.set('authorization', `Bearer ${token()}`);
  assert.ok(Array.isArray((await csdsFetch(cp.xdsAddress, md)).config));
});

test('where anonymous callers are allowed, CSDS still answers them', async () => {
  const anonymous = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  try {
    assert.ok(Array.isArray((await csdsFetch(anonymous.xdsAddress, new grpc.Metadata())).config));
  } finally {
    await anonymous.close();
  }
});
