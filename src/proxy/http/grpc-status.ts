// A response's `grpc-status` as Envoy reads it (Grpc::Common::getGrpcStatus): the upstream writes the
// field, so any text may come. A non-negative decimal integer up to 16 (MaximumKnown) is the status;
// anything else is InvalidCode (-1). Telemetry labels and CEL read this number, never the raw text: a
// server answering `grpc-status: 12345` or `abc` mints no metric series and breaks no BigInt. Also the
// one test of "this request is gRPC" and the HTTP ↔ gRPC status maps, as Envoy's Grpc::Common/Utility.

/** Envoy's Grpc::Status::WellKnownGrpcStatus::InvalidCode. */
export const GRPC_INVALID_CODE = -1;
/** Envoy's Grpc::Status::WellKnownGrpcStatus::MaximumKnown (UNAUTHENTICATED). */
const GRPC_MAXIMUM_KNOWN = 16;
const DECIMAL = /^[0-9]{1,10}$/;

export function grpcStatusOf(value: string): number {
  if (!DECIMAL.test(value)) return GRPC_INVALID_CODE;
  const n = Number(value);
  return n <= GRPC_MAXIMUM_KNOWN ? n : GRPC_INVALID_CODE;
}

/** Envoy's Grpc::Utility::grpcToHttpStatus, by status 0–16; InvalidCode is 500. */
const HTTP_BY_GRPC = [200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401];

/** A gRPC status (as grpcStatusOf reads it) as the HTTP status Envoy equates it with. */
export function grpcToHttpStatus(status: number): number {
  return HTTP_BY_GRPC[status] ?? 500;
}

const GRPC_CONTENT_TYPE = 'application/grpc';

/**
 * Envoy's Grpc::Common::hasGrpcContentType, what isGrpcRequestHeaders tests: the content-type is exactly
 * `application/grpc` or starts `application/grpc+`, case as sent; `application/grpc-web…` is not gRPC.
 * A repeated field reads as Envoy joins it (`a,b`), so two content-types are never gRPC.
 */
export function isGrpcRequest(contentType: string | readonly string[] | undefined): boolean {
  const ct = typeof contentType === 'string' || contentType === undefined ? contentType : contentType.join(',');
  if (ct === undefined || !ct.startsWith(GRPC_CONTENT_TYPE)) return false;
  return ct.length === GRPC_CONTENT_TYPE.length || ct.charCodeAt(GRPC_CONTENT_TYPE.length) === 43 /* '+' */;
}

/** Envoy's Grpc::Utility::httpToGrpcStatus: the gRPC status of a response that names none, by its HTTP status. */
export function httpToGrpcStatus(status: number): number {
  switch (status) {
    case 400:
      return 13; // INTERNAL
    case 401:
      return 16; // UNAUTHENTICATED
    case 403:
      return 7; // PERMISSION_DENIED
    case 404:
      return 12; // UNIMPLEMENTED
    case 429:
    case 502:
    case 503:
    case 504:
      return 14; // UNAVAILABLE
    default:
      return 2; // UNKNOWN
  }
}
