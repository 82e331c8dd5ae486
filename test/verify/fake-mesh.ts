// A stand-in for a running local mesh, on real sockets: the control plane's debug API, the ingress,
// two sidecars' outbound ports (forward proxies), their Prometheus ports and their mTLS tunnel ports,
// and the state file that points at all of them. Each part's behaviour is switchable to test FAILs.
import 'reflect-metadata';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import tls from 'node:tls';
import * as x509 from '@peculiar/x509';
import type { ComponentState, MeshState } from '../../src/runtime/state.ts';

const webcrypto = globalThis.crypto;
x509.cryptoProvider.set(webcrypto);
const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY = 86_400_000;

export interface FakeMeshOptions {
  /** Every n-th request without X-Canary reaches the canary (0 = never). */
  canaryEvery?: number;
  /** X-Canary: true reaches the stable version instead. */
  headerIgnored?: boolean;
  staleProxy?: boolean;
  /** The destination sees no client certificate header. */
  noXfcc?: boolean;
  /** Denials come from the app (a bare 403), not from the proxy's policy. */
  appDenies?: boolean;
  noMetrics?: boolean;
  rootDays?: number;
}

export interface FakeMesh {
  state: MeshState;
  close(): Promise<void>;
}

async function pki(rootDays: number): Promise<{ root: string; leaf(spiffe: string): Promise<{ cert: string; key: string }> }> {
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const start = new Date(Date.now() - 60_000);
  const root = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: '01',
    name: 'O=cluster.local, CN=fake-mesh-root',
    notBefore: start,
    notAfter: new Date(start.getTime() + rootDays * DAY),
    keys,
    signingAlgorithm: alg,
    extensions: [new x509.BasicConstraintsExtension(true, undefined, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
  });
  let serial = 2;
  return {
    root: root.toString('pem'),
    async leaf(spiffe) {
      const k = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
      const cert = await x509.X509CertificateGenerator.create({
        serialNumber: (serial++).toString(16).padStart(2, '0'),
        subject: '',
        issuer: root.subject,
        notBefore: start,
        notAfter: new Date(start.getTime() + DAY),
        publicKey: k.publicKey,
        signingKey: keys.privateKey,
        signingAlgorithm: alg,
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffe }], true)],
      });
      const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', k.privateKey));
      return { cert: cert.toString('pem'), key: `-----BEGIN PRIVATE KEY-----\n${der.toString('base64')}\n-----END PRIVATE KEY-----\n` };
    },
  };
}

type Handler = (req: http.IncomingMessage, path: string) => { status: number; body: unknown };

async function serve(servers: { close(): void }[], handler: Handler): Promise<number> {
  const server = http.createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    const { status, body } = handler(req, path);
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': typeof body === 'string' ? 'text/plain' : 'application/json' }).end(text);
  });
  server.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  servers.push({
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  });
  return (server.address() as AddressInfo).port;
}

const rbac = { status: 403, body: 'RBAC: access denied\ndenied by no ALLOW policy matched\n' };

export async function startFakeMesh(o: FakeMeshOptions = {}): Promise<FakeMesh> {
  const servers: { close(): void }[] = [];
  const ca = await pki(o.rootDays ?? 3650);
  const denied = o.appDenies ? { status: 403, body: 'forbidden' } : rbac;
  let n = 0;
  const every = o.canaryEvery ?? 10;
  const podinfo = (canary: boolean) => ({ status: 200, body: { hostname: canary ? 'podinfo-canary-0' : 'podinfo-stable-0', message: canary ? 'podinfo canary' : 'podinfo stable' } });
  const ingress = await serve(servers, (req, path) => {
    // Envoy's no-route answer (NR): a 404 without a body.
    if (req.headers.host !== 'podinfo.example.com') return { status: 404, body: '' };
    if (req.method === 'DELETE') return denied;
    if (path === '/healthz') return { status: 200, body: { status: 'OK' } };
    if (req.headers['x-canary'] === 'true') return podinfo(!o.headerIgnored);
    n++;
    return podinfo(every > 0 && n % every === 0);
  });
  const runner = await serve(servers, (req, path) => {
    if (req.method === 'DELETE') return denied;
    if (path === '/headers') {
      const xfcc = 'By=spiffe://cluster.local/ns/podinfo/sa/podinfo;Hash=00;URI=spiffe://cluster.local/ns/istio-system/sa/mesh-test-runner';
      return { status: 200, body: { Host: [String(req.headers.host)], ...(o.noXfcc ? {} : { 'X-Forwarded-Client-Cert': [xfcc] }) } };
    }
    return podinfo(false);
  });
  const stranger = await serve(servers, (_req, path) => (path === '/healthz' ? { status: 200, body: { status: 'OK' } } : denied));
  const prom = await serve(servers, () => ({ status: 200, body: o.noMetrics ? '' : '# TYPE istio_requests_total counter\nistio_requests_total{response_code="200"} 3\n' }));
  const tunnel = async (spiffe: string) => {
    const { cert, key } = await ca.leaf(spiffe);
    const server = tls.createServer({ cert, key, ca: ca.root, requestCert: true, rejectUnauthorized: true, ALPNProtocols: ['h2'] });
    server.on('tlsClientError', () => {});
    server.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    servers.push({ close: () => server.close() });
    return (server.address() as AddressInfo).port;
  };
  const runnerTunnel = await tunnel('spiffe://cluster.local/ns/istio-system/sa/mesh-test-runner');
  const strangerTunnel = await tunnel('spiffe://cluster.local/ns/other/sa/client');
  const sync = (name: string, stale = false) => ({
    name,
    types: { CDS: { status: 'SYNCED' }, LDS: { status: stale ? 'STALE' : 'SYNCED', ...(stale ? { lastNack: { message: 'unknown filter' } } : {}) }, SDS: { status: 'NOT SENT' } },
  });
  const debug = await serve(servers, (req, path) => {
    if (path === '/debug/syncz') return { status: 200, body: [sync('istio-ingressgateway.istio-system'), sync('mesh-test-runner-0.istio-system', o.staleProxy), sync('client-0.other')] };
    if (path === '/debug/config_dump') {
      const secret = { name: 'ROOTCA', validation_context: { trusted_ca: { inline_string: ca.root } } };
      return { status: 200, body: { configs: [{ '@type': 'type.googleapis.com/envoy.admin.v3.SecretsConfigDump', dynamic_active_secrets: [{ name: 'ROOTCA', secret }] }] } };
    }
    return { status: 404, body: { error: `not found: ${req.url}` } };
  });
  const component = (name: string, kind: ComponentState['kind'], ports: Record<string, number>): ComponentState => ({ name, kind, ports, sidecar: kind === 'workload', status: 'running', restarts: 0 });
  const state: MeshState = {
    version: 1,
    pid: process.pid,
    startedAt: new Date().toISOString(),
    mode: 'process',
    configDirs: [],
    controlPlane: { xdsAddress: '127.0.0.1:1', debugAddress: `127.0.0.1:${debug}` },
    ingressUrl: `http://127.0.0.1:${ingress}`,
    components: [
      component('control-plane', 'control-plane', {}),
      component('istio-system/istio-ingressgateway', 'gateway', { 'proxy:15090': prom }),
      component('istio-system/mesh-test-runner-0', 'workload', { 'proxy:15001': runner, 'proxy:15090': prom, 'proxy:15008': runnerTunnel }),
      component('other/client-0', 'workload', { 'proxy:15001': stranger, 'proxy:15090': prom, 'proxy:15008': strangerTunnel }),
    ],
  };
  return {
    state,
    close: async () => {
      for (const s of servers) s.close();
    },
  };
}
