// Envoy's listener TLS counters for mesh ports (`listener.<address>.ssl.*`, Prometheus
// `envoy_listener_ssl_*{envoy_listener_address}`): handshakes done, and those refused for no client
// certificate, a certificate that does not verify (untrusted CA, expired) or a SAN that is not one SPIFFE ID.
import type tls from 'node:tls';
import type { Counter, MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import { spiffeIdOf } from '../tunnel/mesh-tls.ts';

export const LISTENER_SSL_STATS = ['handshake', 'connection_error', 'fail_verify_no_cert', 'fail_verify_error', 'fail_verify_san'] as const;
export type ListenerSslStat = (typeof LISTENER_SSL_STATS)[number];

const help: Record<ListenerSslStat, string> = {
  handshake: 'Successful TLS handshakes on the listener',
  connection_error: 'TLS handshakes that failed',
  fail_verify_no_cert: 'Connections refused because the client sent no certificate',
  fail_verify_error: 'Connections refused because the client certificate failed verification (CA, expiry)',
  fail_verify_san: 'Connections refused because the client certificate SAN is not exactly one SPIFFE ID',
};

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

  /** Counts every handshake outcome of a mesh TLS server (client certificate required, SPIFFE SAN). */
  watch(server: tls.Server, listenerAddress: string): void {
    server.on('tlsClientError', (err: Error & { code?: string }) => {
      this.inc(listenerAddress, 'connection_error');
      const stat = classifyHandshakeError(err);
      if (stat) this.inc(listenerAddress, stat);
    });
    server.on('secureConnection', (s: tls.TLSSocket) => {
      // Read before any other listener may have destroyed the socket (then there is no peer certificate).
      const raw = (s.getPeerCertificate() as tls.PeerCertificate | null)?.raw;
      if (!s.authorized) {
        // Verification deferred past the handshake (TLS 1.3 without a certificate reaches here on some builds).
        this.inc(listenerAddress, raw ? 'fail_verify_error' : 'fail_verify_no_cert');
        return;
      }
      if (!spiffeIdOf(raw)) {
        this.inc(listenerAddress, 'fail_verify_san');
        return;
      }
      this.inc(listenerAddress, 'handshake');
    });
  }
}
