// Holds the proxy's `default` secret (chain + key) and `ROOTCA` (trust bundle): makes the key and CSR,
// calls the CSR service, renews as Istio's agent does (the grace period before expiry) on an injected
// clock, retries with backoff.
import { EventEmitter } from 'node:events';
import { X509Certificate } from 'node:crypto';
import type { CertificateSigner } from './csr-client.ts';
import { createWorkloadCsr } from './workload-csr.ts';

export interface TlsClock {
  now(): number;
  setTimer(fn: () => void, ms: number): { cancel(): void };
}

/** Istio's SECRET_GRACE_PERIOD_RATIO_JITTER default. */
const GRACE_RATIO_JITTER = 0.01;

const systemClock: TlsClock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export interface CertificateManagerOptions {
  /** The SPIFFE ID the CSR asks for (the CA decides from the token in the end). */
  spiffeId: string;
  sign: CertificateSigner;
  /** Requested lifetime; Istio's 24 h by default. */
  ttlSeconds?: number;
  /**
   * Istio's SECRET_GRACE_PERIOD_RATIO: renew when this fraction of the lifetime is left before expiry
   * (Istio's default 0.5; 0.25 renews a 24 h certificate at 18 h, 0.75 at 6 h).
   */
  graceRatio?: number;
  clock?: TlsClock;
  /** Jitter source for retry backoff. */
  random?: () => number;
  initialRetryMs?: number;
  maxRetryMs?: number;
}

export interface WorkloadCertificate {
  /** Leaf and intermediates (no root), PEM. */
  certChainPem: string;
  keyPem: string;
  spiffeId: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

/** Events: `rotated` (a new `default`), `rootca` (a new `ROOTCA`), `renewal-failed` (err, retryInMs). */
export class CertificateManager extends EventEmitter {
  #o: Required<Omit<CertificateManagerOptions, 'clock' | 'random'>>;
  #clock: TlsClock;
  #random: () => number;
  #current: WorkloadCertificate | undefined;
  #rootCa: string[] = [];
  #rootCaFromSds = false;
  #timer: { cancel(): void } | undefined;
  #retryMs: number;
  #stopped = false;
  #renewing: Promise<void> | undefined;
  #rotations = 0;
  /** When the current certificate was installed: Istio's CreatedTime, from which its lifetime counts (notBefore is backdated). */
  #installedAt = 0;

  constructor(o: CertificateManagerOptions) {
    super();
    const graceRatio = o.graceRatio ?? 0.5;
    if (!(graceRatio > 0 && graceRatio < 1)) {
      throw Object.assign(new Error(`grace ratio ${graceRatio} must be in (0, 1)`), { code: 'TLS_BAD_GRACE_RATIO' });
    }
    this.#o = {
      spiffeId: o.spiffeId,
      sign: o.sign,
      ttlSeconds: o.ttlSeconds ?? 86400,
      graceRatio,
      initialRetryMs: o.initialRetryMs ?? 1000,
      maxRetryMs: o.maxRetryMs ?? 5 * 60_000,
    };
    this.#clock = o.clock ?? systemClock;
    this.#random = o.random ?? Math.random;
    this.#retryMs = this.#o.initialRetryMs;
  }

  /** Gets the first certificate; rejects if the CA refuses (a proxy must not serve without one). */
  async start(): Promise<void> {
    await this.renew();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** The `default` secret, once the first certificate arrived. */
  get current(): WorkloadCertificate | undefined {
    return this.#current;
  }

  /** The `ROOTCA` secret: every trusted root, PEM. */
  get rootCa(): readonly string[] {
    return this.#rootCa;
  }

  get rotations(): number {
    return this.#rotations;
  }

  /** Replaces the trust bundle (from SDS `ROOTCA`); it then wins over the root in the CSR response. */
  setRootCa(bundle: readonly string[]): void {
    this.#rootCaFromSds = true;
    this.#rootCa = [...bundle];
    this.emit('rootca', this.#rootCa);
  }

  /** Seconds until `default` expires (Istio's `istio_agent_cert_expiry_seconds`); NaN without one. */
  expirySeconds(): number {
    return this.#current ? (this.#current.notAfter.getTime() - this.#clock.now()) / 1000 : Number.NaN;
  }

  /** Renews now (also what the timer calls). Concurrent calls share one CSR. */
  renew(): Promise<void> {
    this.#renewing ??= this.#renewOnce().finally(() => {
      this.#renewing = undefined;
    });
    return this.#renewing;
  }

  /**
   * A timer's renewal: its failure was already reported (`renewal-failed`) and the next attempt is
   * scheduled, so nobody awaits it. Before the first certificate a failure rejects; unhandled, that
   * rejection would end the process (every proxy of a proxy host with it).
   */
  #renewFromTimer(): void {
    this.renew().catch(() => {});
  }

  async #renewOnce(): Promise<void> {
    this.#timer?.cancel();
    try {
      const { keyPem, csrPem } = await createWorkloadCsr(this.#o.spiffeId);
      const chain = await this.#o.sign(csrPem, this.#o.ttlSeconds);
      this.#install(chain, keyPem);
      this.#retryMs = this.#o.initialRetryMs;
      this.#scheduleRenewal();
    } catch (err) {
      // Keep serving on the current certificate; retry with backoff and jitter until it really expires.
      const delay = Math.round(this.#retryMs * (0.5 + this.#random() / 2));
      this.#retryMs = Math.min(this.#retryMs * 2, this.#o.maxRetryMs);
      if (!this.#stopped) this.#timer = this.#clock.setTimer(() => this.#renewFromTimer(), delay);
      this.emit('renewal-failed', err, delay);
      if (!this.#current) throw err;
    }
  }

  #install(chain: readonly string[], keyPem: string): void {
    const leafPem = chain[0];
    if (!leafPem) throw Object.assign(new Error('empty certificate chain'), { code: 'TLS_EMPTY_CHAIN' });
    const leaf = new X509Certificate(leafPem);
    const withoutRoot = chain.length > 1 ? chain.slice(0, -1) : chain;
    this.#current = {
      certChainPem: withoutRoot.join(''),
      keyPem,
      spiffeId: this.#o.spiffeId,
      serial: leaf.serialNumber,
      notBefore: new Date(leaf.validFrom),
      notAfter: new Date(leaf.validTo),
    };
    if (!this.#rootCaFromSds && chain.length > 1) {
      this.#rootCa = [chain.at(-1)!];
      this.emit('rootca', this.#rootCa);
    }
    this.#installedAt = this.#clock.now();
    this.#rotations++;
    this.emit('rotated', this.#current);
  }

  /**
   * Istio's rotateTime: the grace period is the ratio, moved by a jitter of up to ±0.01 (Istio's
   * SECRET_GRACE_PERIOD_RATIO_JITTER default, so a fleet does not renew at once), of the lifetime from
   * installation to expiry; renewal is that long before expiry.
   */
  #scheduleRenewal(): void {
    if (this.#stopped || !this.#current) return;
    const expiry = this.#current.notAfter.getTime();
    const jitter = this.#random() * GRACE_RATIO_JITTER * (this.#random() < 0.5 ? -1 : 1);
    const ratio = Math.min(1, Math.max(0, this.#o.graceRatio + jitter));
    const at = expiry - ratio * (expiry - this.#installedAt);
    this.#timer = this.#clock.setTimer(() => this.#renewFromTimer(), Math.max(0, at - this.#clock.now()));
  }
}
