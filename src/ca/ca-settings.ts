// The CA's lifetimes where Istio's YAML sets them: istiod's environment in the IstioOperator
// (`values.pilot.env`, then `components.pilot.k8s.env`, which istioctl applies over it) and the lifetime
// every proxy asks for (`meshConfig.defaultConfig.proxyMetadata.SECRET_TTL`), each checked in place.
import type { Diagnostic } from '../config/diagnostic.ts';
import { diagnostic, formatPath } from '../config/diagnostic-build.ts';
import { type AnyResource, type IstioOperator, resourceKey } from '../config/resource.ts';
import type { SourceSpan } from '../config/source.ts';
import { parseDurationMs } from '../xds/duration.ts';
import type { CertificateAuthorityOptions } from './certificate-authority.ts';
import { formatTtl, MAX_WORKLOAD_TTL_SECONDS, REQUESTED_TTL_SECONDS } from './lifetimes.ts';

/** istiod's variable → the CA option it sets. */
const caEnv = {
  DEFAULT_WORKLOAD_CERT_TTL: 'defaultTtlSeconds',
  MAX_WORKLOAD_CERT_TTL: 'maxTtlSeconds',
  CITADEL_SELF_SIGNED_CA_CERT_TTL: 'rootTtlSeconds',
} as const;
type CaEnvName = keyof typeof caEnv;

export type CaLifetimeOptions = Pick<CertificateAuthorityOptions, 'defaultTtlSeconds' | 'maxTtlSeconds' | 'rootTtlSeconds'>;

export interface CaSettings {
  /** Only the lifetimes the config sets; the CA's own defaults are istiod's. */
  ca: CaLifetimeOptions;
  /** SECRET_TTL: what every proxy asks for (istio-agent's 24 h when unset); the CA grants it up to the maximum. */
  requestedTtlSeconds?: number;
  /** Bad durations, and a request the maximum would refuse for every proxy. */
  diagnostics: Diagnostic[];
}

/** Where a setting is written. */
interface Place {
  resource: string;
  field: string;
  span: SourceSpan | undefined;
}

/** A lifetime read from the YAML. */
interface Setting {
  seconds: number;
  place: Place;
}

type FieldPath = (string | number)[];

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCaEnvName(name: unknown): name is CaEnvName {
  return typeof name === 'string' && Object.hasOwn(caEnv, name);
}

/** One duration where it is written: its whole seconds, or a diagnostic (as istiod would ignore it for its default). */
function readTtl(op: IstioOperator, path: FieldPath, raw: unknown, diagnostics: Diagnostic[]): Setting | undefined {
  const place: Place = { resource: resourceKey(op), field: formatPath(path), span: op.origin?.lookup(path) };
  const text = typeof raw === 'string' ? raw : String(raw);
  const ms = parseDurationMs(text);
  // Lifetimes run to days and years, which Go's durations (istiod's parser) cannot say: `2d` is a common slip.
  const fix = 'Write a Go duration in h, m or s, such as 24h or 87600h; Go has no d or y unit.';
  if (ms === undefined) {
    diagnostics.push(diagnostic('OR1025', `${JSON.stringify(text)} is not a duration (write e.g. 24h, 90m, 87600h)`, { ...place, fix }));
    return undefined;
  }
  // X.509 validity has whole seconds: a shorter lifetime would be a certificate that is never valid.
  if (ms < 1000) {
    diagnostics.push(diagnostic('OR1025', `duration "${text}" is shorter than 1s, the precision of certificate lifetimes`, { ...place, fix }));
    return undefined;
  }
  return { seconds: Math.round(ms / 1000), place };
}

/** istiod's lifetimes in one IstioOperator: `values.pilot.env`, then `components.pilot.k8s.env` over it. */
function pilotEnv(op: IstioOperator, diagnostics: Diagnostic[]): Map<CaEnvName, Setting> {
  const found = new Map<CaEnvName, Setting>();
  const pilot = op.spec.values?.['pilot'];
  const values = isRecord(pilot) && isRecord(pilot['env']) ? pilot['env'] : {};
  for (const [name, raw] of Object.entries(values)) {
    if (!isCaEnvName(name)) continue;
    const s = readTtl(op, ['spec', 'values', 'pilot', 'env', name], raw, diagnostics);
    if (s) found.set(name, s);
  }
  // Kubernetes EnvVar entries on istiod's container; one with `valueFrom` is not in the YAML to read.
  const k8sEnv = op.spec.components?.pilot?.k8s?.['env'];
  for (const [i, entry] of (Array.isArray(k8sEnv) ? k8sEnv : []).entries()) {
    if (!isRecord(entry) || !isCaEnvName(entry['name']) || entry['value'] === undefined) continue;
    const s = readTtl(op, ['spec', 'components', 'pilot', 'k8s', 'env', i, 'value'], entry['value'], diagnostics);
    if (s) found.set(entry['name'], s);
  }
  return found;
}

const at = ({ place: { span } }: Setting) => (span ? ` (${span.file}:${span.start.line})` : '');

/**
 * The CA's lifetimes from the config. Every IstioOperator's istiod environment is checked; the first that
 * sets one of the lifetimes configures the CA. SECRET_TTL comes from the IstioOperator whose meshConfig
 * translation uses (the first with one).
 */
export function caSettingsFrom(resources: readonly AnyResource[]): CaSettings {
  const diagnostics: Diagnostic[] = [];
  const operators = resources.filter((r): r is IstioOperator => r.kind === 'IstioOperator');
  let env: Map<CaEnvName, Setting> | undefined;
  for (const op of operators) {
    const found = pilotEnv(op, diagnostics);
    if (!env && found.size > 0) env = found;
  }
  const meshOp = operators.find((op) => !!op.spec.meshConfig);
  const secretTtl = meshOp?.spec.meshConfig?.defaultConfig?.proxyMetadata?.['SECRET_TTL'];
  const requested = meshOp && secretTtl ? readTtl(meshOp, ['spec', 'meshConfig', 'defaultConfig', 'proxyMetadata', 'SECRET_TTL'], secretTtl, diagnostics) : undefined;

  // istiod refuses a CSR asking for more than the maximum: if that is what every proxy asks for, no
  // workload would ever get a certificate. Say so where it is written, not at each proxy's first CSR.
  const max = env?.get('MAX_WORKLOAD_CERT_TTL');
  const maxSeconds = max?.seconds ?? MAX_WORKLOAD_TTL_SECONDS;
  const askedSeconds = requested?.seconds ?? REQUESTED_TTL_SECONDS;
  if (askedSeconds > maxSeconds) {
    const fix = 'Make SECRET_TTL at most MAX_WORKLOAD_CERT_TTL, or raise MAX_WORKLOAD_CERT_TTL.';
    if (requested) {
      const ceiling = max ? `MAX_WORKLOAD_CERT_TTL ${formatTtl(maxSeconds)}${at(max)}` : `istiod's default MAX_WORKLOAD_CERT_TTL ${formatTtl(maxSeconds)}`;
      diagnostics.push(diagnostic('OR1024', `SECRET_TTL ${formatTtl(askedSeconds)} is above ${ceiling}: the CA would refuse every proxy's certificate request`, { ...requested.place, fix }));
    } else if (max) {
      diagnostics.push(diagnostic('OR1024', `MAX_WORKLOAD_CERT_TTL ${formatTtl(maxSeconds)} is below the ${formatTtl(askedSeconds)} every proxy asks for (SECRET_TTL is unset): the CA would refuse every proxy's certificate request`, { ...max.place, fix }));
    }
  }

  const ca: CaLifetimeOptions = {};
  for (const [name, s] of env ?? []) ca[caEnv[name]] = s.seconds;
  return { ca, ...(requested ? { requestedTtlSeconds: requested.seconds } : {}), diagnostics };
}
