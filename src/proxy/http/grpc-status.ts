// A response's `grpc-status` as Envoy reads it (Grpc::Common::getGrpcStatus): the upstream writes the
// field, so any text may come. A non-negative decimal integer up to 16 (MaximumKnown) is the status;
// anything else is InvalidCode (-1). Telemetry labels and CEL read this number, never the raw text: a
// server answering `grpc-status: 12345` or `abc` mints no metric series and breaks no BigInt.

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
