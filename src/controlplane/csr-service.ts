// The CSR service, `istio.v1.auth.IstioCertificateService/CreateCertificate`: authenticates the caller
// by its client certificate (on the TLS port) or its bearer token, and signs only the identity proved.
import * as grpc from '@grpc/grpc-js';
import { CaError } from '../ca/ca-error.ts';
import {
  certificateServiceDefinition,
  type IstioCertificateRequest,
  type IstioCertificateResponse,
} from '../ca/certificate-service-definition.ts';
import type { CertificateAuthority } from '../ca/certificate-authority.ts';
import type { WorkloadIdentity } from '../ca/spiffe-id.ts';
import type { ClientCertResult, PeerAuthContext } from './client-cert-authenticator.ts';

/** Maps a bearer token to the identity it proves, or null. Owned by whoever issues tokens. */
export type Authenticate = (token: string) => WorkloadIdentity | null | undefined | Promise<WorkloadIdentity | null | undefined>;

/** How the caller proved its identity. */
export type CsrAuth = 'client_certificate' | 'token';

export interface CsrServiceOptions {
  ca: CertificateAuthority;
  authenticate: Authenticate;
  /**
   * The identity of the workload certificate the caller presented on the TLS port, checked as istiod's
   * ClientCertAuthenticator. Tried before the token, as istiod tries its authenticators in order.
   */
  authenticateCertificate?: (context: PeerAuthContext | null) => ClientCertResult;
  /**
   * Called after each decision, for logs and metrics (`citadel_server_csr_count` and friends). A caller
   * refused as UNAUTHENTICATED after presenting a certificate that proves nothing has its reason in `message`.
   */
  onResult?: (result: { identity?: WorkloadIdentity; ok: boolean; auth?: CsrAuth; code?: string; message?: string; peer?: string }) => void;
}

function bearer(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  const m = /^Bearer\s+(\S+)$/i.exec(value);
  return m?.[1];
}

function statusFor(err: unknown): grpc.status {
  if (!(err instanceof CaError)) return grpc.status.INTERNAL;
  if (err.code === 'CA_IDENTITY_MISMATCH') return grpc.status.PERMISSION_DENIED;
  if (err.code === 'CA_BAD_CSR' || err.code === 'CA_BAD_TTL') return grpc.status.INVALID_ARGUMENT;
  return grpc.status.INTERNAL;
}

/** Adds `IstioCertificateService` to a gRPC server (plaintext loopback 15010 or TLS 15012). */
/** The refusal of a caller without a credential (also given before its message is read: call-limits.ts). */
export const CSR_UNAUTHENTICATED_DETAILS = 'a valid bearer token or workload certificate is required';

export function addCsrService(server: grpc.Server, options: CsrServiceOptions): void {
  const createCertificate: grpc.handleUnaryCall<IstioCertificateRequest, IstioCertificateResponse> = (call, callback) => {
    void (async () => {
      // istiod's order: the client certificate first, then the token; the first that proves an identity wins.
      const cert = options.authenticateCertificate?.(call.getAuthContext());
      let identity: WorkloadIdentity | null | undefined;
      let auth: CsrAuth = 'client_certificate';
      if (cert?.kind === 'verified') identity = cert.identity;
      else {
        const token = bearer(call.metadata);
        identity = token ? await options.authenticate(token) : undefined;
        auth = 'token';
      }
      if (!identity) {
        const refusal = cert?.kind === 'refused' ? { message: `${cert.code} ${cert.reason}` } : {};
        options.onResult?.({ ok: false, code: 'UNAUTHENTICATED', peer: call.getPeer(), ...refusal });
        callback({ code: grpc.status.UNAUTHENTICATED, details: CSR_UNAUTHENTICATED_DETAILS });
        return;
      }
      try {
        const ttl = Number(call.request.validity_duration ?? 0);
        const chain = await options.ca.sign(call.request.csr, identity, Number.isFinite(ttl) ? ttl : 0);
        options.onResult?.({ identity, ok: true, auth });
        callback(null, { cert_chain: chain });
      } catch (err) {
        const code = err instanceof CaError ? err.code : 'INTERNAL';
        options.onResult?.({ identity, ok: false, auth, code, message: (err as Error).message });
        callback({ code: statusFor(err), details: (err as Error).message });
      }
    })();
  };
  server.addService(certificateServiceDefinition(), { CreateCertificate: createCertificate });
}
