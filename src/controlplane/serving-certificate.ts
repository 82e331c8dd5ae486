// The control plane's own certificate for the TLS xDS port, kept valid as istiod keeps its DNS
// certificate: renewed with half its lifetime left and when the CA's signing root rotates, and handed to
// grpc-js as a certificate provider, so new handshakes take the new one while open connections go on.
import * as grpc from '@grpc/grpc-js';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import { x509 } from '../ca/x509.ts';
import { longTimer } from '../xds/long-timer.ts';
import type { Clock, TimerHandle } from './clock.ts';

/** istiod's defaultCertGracePeriodRatio: its own certificate is renewed when this share of its lifetime is left. */
const GRACE_RATIO = 0.5;
/** The next try after a failed renewal, and the shortest wait between two (istiod polls its root every 60 s). */
const RETRY_MS = 60_000;

export interface ServingCertificateOptions {
  ca: CertificateAuthority;
  /** DNS names the certificate is for (`istiod.istio-system.svc`). */
  names: readonly string[];
  /** The control plane's clock: renewal timers run on it. */
  clock: Clock;
  log: (level: 'info' | 'warn', message: string) => void;
}

interface Issued {
  identity: grpc.experimental.IdentityCertificateUpdate;
  notAfter: Date;
  /** The CA chain that signed it (signer up to the root), to tell when the CA's signer changed. */
  signedBy: string;
}

/**
 * The serving certificate and the server credentials that present it. Clients are asked for a
 * certificate but not required to send one: a proxy bootstraps with a token, then may present its
 * workload certificate (client-cert-authenticator.ts). TLS verifies a presented chain against the CA's
 * trust bundle, kept current as roots are added or removed; the handlers check it again by the clock.
 */
export class ServingCertificate implements grpc.experimental.CertificateProvider {
  readonly credentials: grpc.ServerCredentials;
  #o: ServingCertificateOptions;
  #current: Issued;
  #identityListeners = new Set<grpc.experimental.IdentityCertificateUpdateListener>();
  #caListeners = new Set<grpc.experimental.CaCertificateUpdateListener>();
  #unsubscribeCa: (() => void) | undefined;
  #unsubscribeRotation: () => void;
  #timer: { handle: TimerHandle } | undefined;
  #renewing: Promise<void> | undefined;
  #closed = false;

  /** Issues the first certificate and arms its renewal; `close()` stops it. */
  static async issue(o: ServingCertificateOptions): Promise<ServingCertificate> {
    return new ServingCertificate(o, await issue(o.ca, o.names));
  }

  private constructor(o: ServingCertificateOptions, first: Issued) {
    this.#o = o;
    this.#current = first;
    this.credentials = grpc.experimental.createCertificateProviderServerCredentials(this, this, false);
    // A new signing root (rotateSelfSignedRoot) is said by a trust-bundle change; an added root is not a new signer.
    this.#unsubscribeRotation = o.ca.onTrustBundleChange(() => {
      if (signingChainOf(o.ca) !== this.#current.signedBy) void this.renew('the CA signing root rotated');
    });
    this.#schedule();
  }

  /** When the certificate served now expires. */
  get notAfter(): Date {
    return this.#current.notAfter;
  }

  /** Issues a new certificate now and serves it from the next handshake on; one renewal at a time. */
  renew(reason = 'half its lifetime passed'): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#renewing ??= this.#renew(reason).finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /** Stops renewing (the control plane's shutdown). */
  close(): void {
    this.#closed = true;
    this.#timer?.handle.cancel();
    this.#timer = undefined;
    this.#unsubscribeRotation();
  }

  async #renew(reason: string): Promise<void> {
    this.#timer?.handle.cancel();
    this.#timer = undefined;
    const names = this.#o.names.join(', ');
    try {
      let next = await issue(this.#o.ca, this.#o.names);
      // The root rotated while it was being signed: sign again by the new one.
      while (!this.#closed && next.signedBy !== signingChainOf(this.#o.ca)) next = await issue(this.#o.ca, this.#o.names);
      if (this.#closed) return;
      this.#current = next;
      for (const l of this.#identityListeners) l(next.identity);
      this.#o.log('info', `xDS TLS certificate for ${names} renewed (${reason}): expires ${next.notAfter.toISOString()}`);
      this.#schedule();
    } catch (err) {
      if (this.#closed) return;
      const message = err instanceof Error ? err.message : String(err);
      this.#o.log('warn', `xDS TLS certificate for ${names} not renewed (${reason}): ${message}; retrying in ${RETRY_MS / 1000} s, the current one expires ${this.#current.notAfter.toISOString()}`);
      this.#timer = longTimer((fn, ms) => this.#o.clock.setTimer(fn, ms), RETRY_MS, () => void this.renew(reason));
    }
  }

  /** Arms the next renewal: when the grace share of the lifetime left now remains, never within a minute. */
  #schedule(): void {
    if (this.#closed) return;
    const left = this.#current.notAfter.getTime() - this.#o.clock.now();
    const delay = Math.max(RETRY_MS, left * (1 - GRACE_RATIO));
    this.#timer = longTimer((fn, ms) => this.#o.clock.setTimer(fn, ms), delay, () => void this.renew());
  }

  // grpc-js reads the first update only from a listener called after it registered: never synchronously.
  addCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#caListeners.add(listener);
    this.#unsubscribeCa ??= this.#o.ca.onTrustBundleChange((bundle) => {
      for (const l of this.#caListeners) l({ caCertificate: Buffer.from(bundle.join('')) });
    });
    queueMicrotask(() => listener({ caCertificate: Buffer.from(this.#o.ca.trustBundle().join('')) }));
  }

  removeCaCertificateListener(listener: grpc.experimental.CaCertificateUpdateListener): void {
    this.#caListeners.delete(listener);
    if (this.#caListeners.size > 0) return;
    this.#unsubscribeCa?.();
    this.#unsubscribeCa = undefined;
  }

  addIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.add(listener);
    queueMicrotask(() => listener(this.#current.identity));
  }

  removeIdentityCertificateListener(listener: grpc.experimental.IdentityCertificateUpdateListener): void {
    this.#identityListeners.delete(listener);
  }
}

async function issue(ca: CertificateAuthority, names: readonly string[]): Promise<Issued> {
  const { certChain, keyPem } = await ca.issueServingCertificate(names);
  // The chain without the root: the client holds the root already.
  const chain = certChain.length > 1 ? certChain.slice(0, -1) : certChain;
  return {
    identity: { certificate: Buffer.from(chain.join('')), privateKey: Buffer.from(keyPem) },
    notAfter: new x509.X509Certificate(certChain[0] as string).notAfter,
    signedBy: certChain.slice(1).join(''),
  };
}

function signingChainOf(ca: CertificateAuthority): string {
  return ca.signingChain().join('');
}
