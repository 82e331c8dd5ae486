// Test harness: a CA in a temp state dir, workload CertificateManagers wired to it, an HTTP/2 mesh-TLS
// server built from mesh-tls-options.ts (the proxy's TLS parts), and a minter for deliberately bad
// certificates.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { TLSSocket } from 'node:tls';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { exportPrivateKeyPem, generateP256, importPrivateKeyPem } from '../../src/ca/keys.ts';
import { createSelfSignedRoot, randomSerial } from '../../src/ca/self-signed-root.ts';
import { x509 } from '../../src/ca/x509.ts';
import { CertificateManager, type TlsClock } from '../../src/proxy/tls/certificate-manager.ts';
import { peerPrincipal } from '../../src/proxy/tls/peer-principal.ts';
import { enforcePeerIdentity, keepServerCurrent, serverOptions } from './mesh-tls-options.ts';

/** Timers that fire only when the test says so; `now` stays real because peers check real time. */
export class ManualTimers implements TlsClock {
  pending: { fn: () => void; ms: number; live: boolean }[] = [];
  now(): number {
    return Date.now();
  }
  setTimer(fn: () => void, ms: number): { cancel(): void } {
    const t = { fn, ms, live: true };
    this.pending.push(t);
    return {
      cancel: () => {
        t.live = false;
      },
    };
  }
  /** Fires the next live timer; returns its requested delay. */
  fireNext(): number {
    this.pending = this.pending.filter((t) => t.live);
    const t = this.pending.shift();
    if (!t) throw new Error('no timer pending');
    t.live = false;
    t.fn();
    return t.ms;
  }
}

export class MeshFixture {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'outrigger-mtls-'));
  ca!: CertificateAuthority;

  static async create(): Promise<MeshFixture> {
    const f = new MeshFixture();
    f.ca = await CertificateAuthority.fromStateDir(path.join(f.dir, 'ca'));
    writeFileSync(f.file('root.pem'), f.ca.trustBundle().join(''));
    return f;
  }

  file(name: string): string {
    return path.join(this.dir, name);
  }

  async manager(ns: string, sa: string, o: { ttlSeconds?: number; graceRatio?: number; clock?: TlsClock } = {}) {
    const spiffeId = `spiffe://cluster.local/ns/${ns}/sa/${sa}`;
    const m = new CertificateManager({
      spiffeId,
      sign: (csr, ttl) => this.ca.sign(csr, { namespace: ns, serviceAccount: sa }, ttl),
      ...o,
    });
    await m.start();
    return m;
  }

  /** Writes a workload's chain and key as files for openssl and curl. */
  writeIdentity(name: string, m: CertificateManager): { cert: string; key: string } {
    writeFileSync(this.file(`${name}.pem`), m.current!.certChainPem);
    writeFileSync(this.file(`${name}.key`), m.current!.keyPem, { mode: 0o600 });
    return { cert: this.file(`${name}.pem`), key: this.file(`${name}.key`) };
  }

  /** A certificate the CA would never issue, signed with its key (or a stranger's) for negative tests. */
  async mint(
    name: string,
    o: { uris: string[]; notBefore?: Date; notAfter?: Date; untrusted?: boolean },
  ): Promise<{ cert: string; key: string }> {
    let signer: { key: CryptoKey; cert: x509.X509Certificate };
    if (o.untrusted) {
      const root = await createSelfSignedRoot('cluster.local', Date.now());
      signer = { key: root.keys.privateKey, cert: root.cert };
    } else {
      const key = await importPrivateKeyPem(readFileSync(path.join(this.dir, 'ca', 'ca-key.pem'), 'utf8'));
      signer = { key, cert: new x509.X509Certificate(this.ca.trustBundle()[0]!) };
    }
    const keys = await generateP256();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: randomSerial(),
      subject: 'O=test',
      issuer: signer.cert.subject,
      notBefore: o.notBefore ?? new Date(Date.now() - 60_000),
      notAfter: o.notAfter ?? new Date(Date.now() + 3600_000),
      publicKey: keys.publicKey,
      signingKey: signer.key,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension(o.uris.map((value) => ({ type: 'url' as const, value }))),
      ],
    });
    writeFileSync(this.file(`${name}.pem`), cert.toString('pem'));
    writeFileSync(this.file(`${name}.key`), await exportPrivateKeyPem(keys.privateKey), { mode: 0o600 });
    return { cert: this.file(`${name}.pem`), key: this.file(`${name}.key`) };
  }

  close(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface TunnelServer {
  port: number;
  /** Requests that reached the application, with the peer principal seen. */
  served: string[];
  rejected: number;
  /** `code` of every handshake the server refused (tlsClientError). */
  clientErrors: string[];
  close(): Promise<void>;
}

/** An HTTP/2 server configured exactly as the `connect_terminate` listener: answers `ok <principal>`. */
export async function startTunnelServer(manager: CertificateManager): Promise<TunnelServer> {
  const server = http2.createSecureServer(serverOptions(manager));
  const stop = keepServerCurrent(server, manager);
  const state = { served: [] as string[], rejected: 0, clientErrors: [] as string[] };
  enforcePeerIdentity(server, () => state.rejected++);
  server.on('stream', (stream) => {
    const principal = peerPrincipal(stream.session!.socket as TLSSocket) ?? '';
    state.served.push(principal);
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.end(`ok ${principal}\n`);
  });
  server.on('sessionError', () => {});
  server.on('tlsClientError', (err: NodeJS.ErrnoException) => state.clientErrors.push(String(err.code)));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
  });
  return {
    port: (server.address() as AddressInfo).port,
    get served() {
      return state.served;
    },
    get rejected() {
      return state.rejected;
    },
    get clientErrors() {
      return state.clientErrors;
    },
    close: () =>
      new Promise<void>((resolve) => {
        stop();
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
