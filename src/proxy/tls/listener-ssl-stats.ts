// Envoy's listener TLS counters for the tunnel and TLS-terminating listeners (`listener.<address>.ssl.*`,
// Prometheus `envoy_listener_ssl_*{envoy_listener_address}`): handshakes done, and those refused for no
// client certificate, a certificate that does not verify (untrusted CA, expired), a SAN the listener
// does not accept, or a certificate hash or SPKI it does not pin.
import type tls from 'node:tls';
import type { Counter, MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import type { PeerCertValidator } from './peer-cert-validator.ts';

export const LISTENER_SSL_STATS = ['handshake', 'connection_error', 'fail_verify_no_cert', 'fail_verify_error', 'fail_verify_san', 'fail_verify_cert_hash'] as const;
export type ListenerSslStat = (typeof LISTENER_SSL_STATS)[number];

const help: Record<ListenerSslStat, string> = {
  handshake: 'Successful TLS handshakes on the listener',
  connection_error: 'TLS handshakes that failed',
  fail_verify_no_cert: 'Connections refused because the client sent no certificate',
  fail_verify_error: 'Connections refused because the client certificate failed verification (CA, expiry)',
  fail_verify_san: 'Connections refused because the client certificate SAN is not accepted (not exactly one SPIFFE ID on the tunnel, or no SAN matcher matches)',
  fail_verify_cert_hash: 'Connections refused because the client certificate matches neither verify_certificate_hash nor verify_certificate_spki',
};

/** How one server handshake's client certificate is checked. */
export interface ClientCertPolicy {
  /** require_client_certificate: a client without one is refused. */
  readonly required: boolean;
  /** The validation context's SAN, SPKI and hash checks (src/proxy/tls/peer-cert-validator.ts). */
  readonly validator?: PeerCertValidator | undefined;
  /** A check of the listener's own, before the validator's (the tunnel's single SPIFFE ID): false counts fail_verify_san. */
  readonly san?: (raw: Buffer) => boolean;
}

/**
 * The outcome of a completed handshake's client certificate, once per handshake: `handshake` when the
 * connection may proceed, otherwise the counter it is refused under. As in Envoy, a client that sent no
 * certificate passes where none is required, and one that sent a certificate is refused when it fails
 * any check, required or not.
 */
export function clientCertOutcome(s: tls.TLSSocket, policy: ClientCertPolicy): { outcome: ListenerSslStat; raw?: Buffer } {
  const raw = (s.getPeerCertificate() as tls.PeerCertificate | null)?.raw;
  if (!raw || raw.length === 0) return { outcome: policy.required ? 'fail_verify_no_cert' : 'handshake' };
  if (!s.authorized) return { outcome: 'fail_verify_error', raw };
  if (policy.san && !policy.san(raw)) return { outcome: 'fail_verify_san', raw };
  return { outcome: policy.validator?.check(raw) ?? 'handshake', raw };
}

// OpenSSL/Node codes for a client that sent no certificate where one is required.
const noCertCodes = new Set(['ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE', 'ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED']);

/** The counter a failed server-side handshake belongs to, besides `connection_error`. */
export function classifyHandshakeError(err: Error & { code?: string }): ListenerSslStat | undefined {
  const code = err.code ?? '';
  if (noCertCodes.has(code) || /did not return a certificate|certificate required/i.test(err.message)) return 'fail_verify_no_cert';
  // Verification failures: X509 codes (UNABLE_TO_GET_ISSUER_CERT..., CERT_HAS_EXPIRED) or the alert names.
  if (/^(UNABLE_TO_|CERT_|SELF_SIGNED|DEPTH_ZERO)/.test(code) || /certificate verify failed|unknown ca|certificate expired|bad certificate/i.test(err.message)) {
    return 'fail_verify_error';
  }
  return undefined;
}

export class ListenerSslStats {
  readonly #families: Map<ListenerSslStat, ReturnType<MetricsRegistry['counter']>>;
  readonly #bound = new Map<string, Counter>();

  constructor(registry: MetricsRegistry) {
    this.#families = new Map(
      LISTENER_SSL_STATS.map((s) => [
        s,
        registry.counter(`envoy_listener_ssl_${s}`, help[s], (l) => `listener.${l['envoy_listener_address'] ?? ''}.ssl.${s}`),
      ]),
    );
  }

  inc(listenerAddress: string, stat: ListenerSslStat): void {
    const key = `${listenerAddress}\n${stat}`;
    let c = this.#bound.get(key);
    if (!c) {
      c = this.#families.get(stat)?.bind({ envoy_listener_address: listenerAddress });
      if (!c) return;
      this.#bound.set(key, c);
    }
    c.inc();
  }

  /**
   * Counts the handshakes a server fails (`connection_error`, and why). A completed handshake is counted
   * by its server once it has checked the client certificate (clientCertOutcome).
   */
  watch(server: tls.Server, listenerAddress: string): void {
    server.on('tlsClientError', (err: Error & { code?: string }) => this.countError(listenerAddress, err));
  }

  countError(listenerAddress: string, err: Error & { code?: string }): void {
    this.inc(listenerAddress, 'connection_error');
    const stat = classifyHandshakeError(err);
    if (stat) this.inc(listenerAddress, stat);
  }
}
