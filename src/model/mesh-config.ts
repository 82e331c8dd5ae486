// The mesh-wide settings translation reads, from IstioOperator.spec.meshConfig with Istio's defaults.
import type { AnyResource, IstioOperator } from '../config/resource.ts';
import type { MeshConfig, ProxyHeaders } from '../config/types/other.ts';
import { parseDurationMs } from '../xds/duration.ts';
import type { ProxyStatsMatcher } from '../telemetry/metrics/stats-matcher.ts';

export interface MeshSettings {
  readonly trustDomain: string;
  /** meshConfig.trustDomainAliases: other names of the same mesh (authorization principals, secure naming). */
  readonly trustDomainAliases: readonly string[];
  readonly rootNamespace: string;
  readonly outboundTrafficPolicy: 'ALLOW_ANY' | 'REGISTRY_ONLY';
  readonly enableAutoMtls: boolean;
  /** Milliseconds; Istio's default 10 s. */
  readonly connectTimeoutMs: number;
  readonly defaultHttpRetryPolicy: MeshConfig['defaultHttpRetryPolicy'] | undefined;
  readonly pathNormalization: 'DEFAULT' | 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES';
  /** meshConfig.defaultConfig.proxyHeaders, each part on unless disabled (Istio's defaults). */
  readonly proxyHeaders: ProxyHeaderSettings;
  /** meshConfig.defaultConfig.proxyStatsMatcher; undefined: none (every proxy keeps every stat, see proxy-stats-matcher.ts). */
  readonly proxyStatsMatcher: ProxyStatsMatcher | undefined;
  /** meshConfig.default{Service,VirtualService,DestinationRule}ExportTo as written (Istio's default `["*"]`); read through exportToOrDefault. */
  readonly defaultExportTo: Readonly<Record<ExportKind, readonly string[]>>;
  /** The raw mesh config, for parts translation does not interpret (tracing, providers). */
  readonly raw: MeshConfig;
}

export const defaultMeshSettings: MeshSettings = Object.freeze({
  trustDomain: 'cluster.local',
  trustDomainAliases: [],
  rootNamespace: 'istio-system',
  outboundTrafficPolicy: 'ALLOW_ANY',
  enableAutoMtls: true,
  connectTimeoutMs: 10_000,
  defaultHttpRetryPolicy: undefined,
  pathNormalization: 'DEFAULT',
  proxyHeaders: { serverName: undefined, server: true, requestId: true, attemptCount: true, envoyDebugHeaders: true },
  proxyStatsMatcher: undefined,
  defaultExportTo: { service: ['*'], virtualService: ['*'], destinationRule: ['*'] },
  raw: {},
});

export type ExportKind = 'service' | 'virtualService' | 'destinationRule';

/**
 * The exportTo a resource is read with: its own, or when it sets none the mesh default for its kind, of
 * which Istio honours only `.` (before `*`; initDefaultExportMaps, initServiceRegistry,
 * initVirtualServices): a service or VirtualService is then private, public, or, for any other
 * default, seen nowhere; a DestinationRule is private or else exported everywhere (setDestinationRules).
 */
export function exportToOrDefault(exportTo: readonly string[] | undefined, kind: ExportKind, mesh: MeshSettings): readonly string[] {
  if (exportTo && exportTo.length > 0) return exportTo;
  const defaults = mesh.defaultExportTo[kind];
  if (defaults.includes('.')) return ['.'];
  if (defaults.includes('*') || kind === 'destinationRule') return ['*'];
  return ['~'];
}

export interface ProxyHeaderSettings {
  /** `server.value`: the Server header's value everywhere; undefined for Istio's own (see network-filters.ts). */
  readonly serverName: string | undefined;
  /** false (`server.disabled`): the upstream's Server header passes as it is, none is added. */
  readonly server: boolean;
  readonly requestId: boolean;
  readonly attemptCount: boolean;
  /** false: the router adds no x-envoy-* headers (Envoy's suppress_envoy_headers). */
  readonly envoyDebugHeaders: boolean;
}

function proxyHeaderSettings(ph: ProxyHeaders | undefined): ProxyHeaderSettings {
  return {
    serverName: ph?.server?.value || undefined,
    server: ph?.server?.disabled !== true,
    requestId: ph?.requestId?.disabled !== true,
    attemptCount: ph?.attemptCount?.disabled !== true,
    envoyDebugHeaders: ph?.envoyDebugHeaders?.disabled !== true,
  };
}

/** Mesh settings from the first IstioOperator that carries a meshConfig (Istio's defaults otherwise). */
export function meshSettingsFrom(resources: readonly AnyResource[]): MeshSettings {
  const op = resources.find((r): r is IstioOperator => r.kind === 'IstioOperator' && !!(r as IstioOperator).spec.meshConfig);
  const mc = op?.spec.meshConfig;
  if (!mc) return defaultMeshSettings;
  const connectTimeout = typeof mc['connectTimeout'] === 'string' ? parseDurationMs(mc['connectTimeout']) : undefined;
  return Object.freeze({
    trustDomain: mc.trustDomain || defaultMeshSettings.trustDomain,
    trustDomainAliases: [...new Set(mc.trustDomainAliases ?? [])].filter((td) => td !== '' && td !== (mc.trustDomain || defaultMeshSettings.trustDomain)),
    rootNamespace: mc.rootNamespace || defaultMeshSettings.rootNamespace,
    outboundTrafficPolicy: mc.outboundTrafficPolicy?.mode ?? 'ALLOW_ANY',
    enableAutoMtls: mc.enableAutoMtls ?? true,
    connectTimeoutMs: connectTimeout ?? defaultMeshSettings.connectTimeoutMs,
    defaultHttpRetryPolicy: mc.defaultHttpRetryPolicy,
    pathNormalization: mc.pathNormalization?.normalization ?? 'DEFAULT',
    proxyHeaders: proxyHeaderSettings(mc.defaultConfig?.proxyHeaders),
    proxyStatsMatcher: mc.defaultConfig?.proxyStatsMatcher,
    defaultExportTo: {
      service: stringList(mc['defaultServiceExportTo']) ?? ['*'],
      virtualService: stringList(mc['defaultVirtualServiceExportTo']) ?? ['*'],
      destinationRule: stringList(mc['defaultDestinationRuleExportTo']) ?? ['*'],
    },
    raw: mc,
  });
}

/** A list field of the raw mesh config; an empty list counts as unset. */
function stringList(v: unknown): string[] | undefined {
  return Array.isArray(v) && v.length > 0 ? v.filter((e): e is string => typeof e === 'string') : undefined;
}
