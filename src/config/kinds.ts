// The kinds Outrigger reads: for each, its API group, the versions Istio/Kubernetes accept, and the
// schema of the whole document. Kinds of other systems are recognised by group (DESIGN.md §5).
import * as z from 'zod';
import { obj, str } from './schema/common.ts';
import { destinationRuleSpec } from './schema/destination-rule.ts';
import { istioOperatorSpec } from './schema/istio-operator.ts';
import { configMapFields, deploymentSpec, jobSpec, namespaceSpec, secretFields, serviceAccountFields, serviceSpec } from './schema/kubernetes.ts';
import { objectMeta } from './schema/metadata.ts';
import { gatewaySpec, proxyConfigSpec, serviceEntrySpec, sidecarSpec, workloadEntrySpec, workloadGroupSpec } from './schema/networking-edge.ts';
import { authorizationPolicySpec, peerAuthenticationSpec, requestAuthenticationSpec } from './schema/security.ts';
import { telemetrySpec } from './schema/telemetry.ts';
import { virtualServiceSpec } from './schema/virtual-service.ts';

export interface KindDef {
  kind: string;
  /** API group; '' for the Kubernetes core group (`apiVersion: v1`). */
  group: string;
  versions: readonly string[];
  /** false for cluster-scoped kinds (Namespace). */
  namespaced: boolean;
  /** Schema of the whole document (apiVersion, kind, metadata, spec or top-level data). */
  schema: z.ZodType;
}

const NET = 'networking.istio.io';
const SEC = 'security.istio.io';
const TEL = 'telemetry.istio.io';
const netVersions = ['v1alpha3', 'v1beta1', 'v1'];
const secVersions = ['v1beta1', 'v1'];
const telVersions = ['v1alpha1', 'v1'];

const any = z.unknown().optional();

function doc(spec: z.ZodType, specRequired: boolean, labelName = false): z.ZodType {
  return obj({ apiVersion: str, kind: str, metadata: objectMeta(labelName), spec: specRequired ? spec : spec.optional(), status: any });
}

function topLevel(fields: Record<string, z.ZodType>): z.ZodType {
  return obj({ apiVersion: str, kind: str, metadata: objectMeta(false), ...fields });
}

function def(kind: string, group: string, versions: readonly string[], schema: z.ZodType, namespaced = true): KindDef {
  return { kind, group, versions, namespaced, schema };
}

export const kinds: readonly KindDef[] = [
  def('VirtualService', NET, netVersions, doc(virtualServiceSpec, true)),
  def('DestinationRule', NET, netVersions, doc(destinationRuleSpec, true)),
  def('Gateway', NET, netVersions, doc(gatewaySpec, true)),
  def('ServiceEntry', NET, netVersions, doc(serviceEntrySpec, true)),
  def('Sidecar', NET, netVersions, doc(sidecarSpec, false)),
  def('WorkloadEntry', NET, netVersions, doc(workloadEntrySpec, true)),
  def('WorkloadGroup', NET, netVersions, doc(workloadGroupSpec, true)),
  def('ProxyConfig', NET, ['v1beta1'], doc(proxyConfigSpec, false)),
  def('EnvoyFilter', NET, ['v1alpha3'], doc(z.record(z.string(), z.unknown()), false)),
  def('PeerAuthentication', SEC, secVersions, doc(peerAuthenticationSpec, false)),
  def('AuthorizationPolicy', SEC, secVersions, doc(authorizationPolicySpec, false)),
  def('RequestAuthentication', SEC, secVersions, doc(requestAuthenticationSpec, false)),
  def('Telemetry', TEL, telVersions, doc(telemetrySpec, false)),
  def('IstioOperator', 'install.istio.io', ['v1alpha1'], doc(istioOperatorSpec, false)),
  def('Namespace', '', ['v1'], doc(namespaceSpec, false, true), false),
  def('Service', '', ['v1'], doc(serviceSpec, true, true)),
  def('ServiceAccount', '', ['v1'], topLevel(serviceAccountFields)),
  def('Secret', '', ['v1'], topLevel(secretFields)),
  def('ConfigMap', '', ['v1'], topLevel(configMapFields)),
  def('Deployment', 'apps', ['v1'], doc(deploymentSpec, true)),
  def('Job', 'batch', ['v1'], doc(jobSpec, true)),
];

const byKind = new Map(kinds.map((k) => [k.kind, k]));

export function kindDef(kind: string): KindDef | undefined {
  return byKind.get(kind);
}

export interface ForeignKind {
  group: string;
  kinds: readonly string[];
}

/** Other systems' kinds an Istio deployment carries. `used` ones mean something locally (no "not run" note). */
export const foreignKinds: readonly ForeignKind[] = [
  { group: 'jaegertracing.io', kinds: ['Jaeger'] },
  { group: 'opentelemetry.io', kinds: ['OpenTelemetryCollector', 'Instrumentation', 'OpAMPBridge'] },
  { group: 'monitoring.coreos.com', kinds: ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'Prometheus', 'Alertmanager', 'AlertmanagerConfig', 'Probe', 'ScrapeConfig'] },
  { group: 'kiali.io', kinds: ['Kiali', 'OSSMConsole'] },
  { group: 'grafana.integreatly.org', kinds: ['Grafana', 'GrafanaDashboard', 'GrafanaDatasource', 'GrafanaFolder'] },
];

/** Foreign kinds that Outrigger uses locally: PrometheusRule → rules, OpenTelemetryCollector → trace export target. */
export const usedForeignKinds: ReadonlySet<string> = new Set(['PrometheusRule', 'OpenTelemetryCollector']);

export function foreignGroup(group: string): ForeignKind | undefined {
  return foreignKinds.find((f) => f.group === group);
}

/** `networking.istio.io/v1` → ['networking.istio.io', 'v1']; `v1` → ['', 'v1']. */
export function splitApiVersion(apiVersion: string): [string, string] {
  const slash = apiVersion.lastIndexOf('/');
  return slash < 0 ? ['', apiVersion] : [apiVersion.slice(0, slash), apiVersion.slice(slash + 1)];
}

export function apiVersionsOf(k: KindDef): string[] {
  return k.versions.map((v) => (k.group ? `${k.group}/${v}` : v));
}
