// Istio's certificate lifetimes (istiod's defaults and istio-agent's request) and how a lifetime is
// written in messages: as the settings themselves are written (48h, 1h30m, 90s).
import { formatDurationMs } from '../xds/duration.ts';

/** DEFAULT_WORKLOAD_CERT_TTL's default: a workload certificate whose CSR asks for no lifetime. */
export const DEFAULT_WORKLOAD_TTL_SECONDS = 24 * 3600;
/** MAX_WORKLOAD_CERT_TTL's default: a CSR asking for longer is refused. */
export const MAX_WORKLOAD_TTL_SECONDS = 90 * 24 * 3600;
/** CITADEL_SELF_SIGNED_CA_CERT_TTL's default: 3650 days, the life of a self-signed root when it is made. */
export const SELF_SIGNED_ROOT_TTL_SECONDS = 3650 * 24 * 3600;
/** SECRET_TTL's default: what istio-agent (and Outrigger's proxy) asks for when the mesh says nothing. */
export const REQUESTED_TTL_SECONDS = 24 * 3600;

/** `48h`, `1h30m`, `90s`: whole seconds as the settings themselves are written. */
export function formatTtl(seconds: number): string {
  return formatDurationMs(Math.round(seconds) * 1000);
}
