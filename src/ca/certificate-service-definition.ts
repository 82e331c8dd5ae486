// The gRPC definition of `istio.v1.auth.IstioCertificateService`, shared by the control plane's CSR
// service and the proxy's CSR client, loaded once from src/xds/proto/istio/v1/auth/ca.proto.
import type * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { protoIncludeDirs } from '../xds/protos.ts';

export interface IstioCertificateRequest {
  csr: string;
  /** Seconds, as a string (int64 with `longs: String`). */
  validity_duration?: string | number;
  metadata?: { fields?: Record<string, unknown> };
}

export interface IstioCertificateResponse {
  cert_chain: string[];
}

export const CREATE_CERTIFICATE_PATH = '/istio.v1.auth.IstioCertificateService/CreateCertificate';

let definition: grpc.ServiceDefinition | undefined;

export function certificateServiceDefinition(): grpc.ServiceDefinition {
  if (definition) return definition;
  const pkg = loadSync('istio/v1/auth/ca.proto', {
    includeDirs: [...protoIncludeDirs],
    keepCase: true,
    longs: String,
    enums: String,
    defaults: true,
  });
  const service = pkg['istio.v1.auth.IstioCertificateService'];
  if (!service || !('CreateCertificate' in service)) throw new Error('IstioCertificateService missing from ca.proto');
  definition = service as unknown as grpc.ServiceDefinition;
  return definition;
}
