// The kinds Outrigger reads: for each, its API group, the versions Istio/Kubernetes accept, and the
// schema of the whole document. Kinds of other systems are recognised by group (DESIGN.md §5).
import * as z from 'zod';
import { obj, str, withRules } from './schema/common.ts';
import { destinationRuleSpec } from './schema/destination-rule.ts';
import { gatewayClassSpec, grpcRouteSpec, httpRouteSpec, kubernetesGatewaySpec, referenceGrantSpec, tcpRouteSpec, tlsRouteSpec, backendTlsPolicySpec } from './schema/gateway-api.ts';
import { istioOperatorSpec } from './schema/istio-operator.ts';
import { configMapFields, deploymentSpec, jobSpec, namespaceSpec, secretFields, serviceAccountFields, serviceSpec } from './schema/kubernetes.ts';
import { objectMeta } from './schema/metadata.ts';
import { gatewaySpec, proxyConfigSpec, serviceEntrySpec, sidecarSpec, workloadEntrySpec, workloadGroupSpec } from './schema/networking-edge.ts';
import { authorizationPolicySpec, checkDryRunAnnotation, peerAuthenticationSpec, requestAuthenticationSpec } from './schema/security.ts';
import { telemetrySpec } from './schema/telemetry.ts';
import { virtualServiceSpec } from './schema/virtual-service.ts';

export interface KindDef {
  kind: string;
  /** API group; '' for the Kubernetes core group (`apiVersion: v1`). */
  group: string;
  versions: readonly string[];
  /**
   * The kind a loaded resource carries when it is not `kind`: the Gateway API's Gateway becomes a
   * `KubernetesGateway` (Istio's own name for it), so that it is never taken for Istio's Gateway.
   */
  typedKind?: string;
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
const GW = 'gateway.networking.k8s.io';
const gwVersions = ['v1beta1', 'v1'];

const any = z.unknown().optional();

function doc(spec: z.ZodType, specRequired: boolean, labelName = false): z.ZodType {
  return obj({ apiVersion: str, kind: str, metadata: objectMeta(labelName), spec: specRequired ? spec : spec.optional(), status: any });
}

function topLevel(fields: Record<string, z.ZodType>): z.ZodType {
  return obj({ apiVersion: str, kind: str, metadata: objectMeta(false), ...fields });
}

function def(kind: string, group: string, versions: readonly string[], schema: z.ZodType, namespaced = true, typedKind?: string): KindDef {
  return { kind, group, versions, namespaced, schema, ...(typedKind ? { typedKind } : {}) };
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
  def('AuthorizationPolicy', SEC, secVersions, withRules(doc(authorizationPolicySpec, false), checkDryRunAnnotation)),
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
  def('HTTPRoute', GW, gwVersions, doc(httpRouteSpec, true)),
  def('GRPCRoute', GW, ['v1alpha2', 'v1'], doc(grpcRouteSpec, true)),
  def('TCPRoute', GW, ['v1alpha2'], doc(tcpRouteSpec, true)),
  def('TLSRoute', GW, ['v1alpha2', 'v1alpha3', 'v1'], doc(tlsRouteSpec, true)),
  def('BackendTLSPolicy', GW, ['v1alpha3', 'v1'], doc(backendTlsPolicySpec, true)),
  def('Gateway', GW, gwVersions, doc(kubernetesGatewaySpec, true), true, 'KubernetesGateway'),
  def('GatewayClass', GW, gwVersions, doc(gatewayClassSpec, true), false),
  def('ReferenceGrant', GW, gwVersions, doc(referenceGrantSpec, true)),
];

/**
 * The definition of `kind` in `group`; when no group defines it, the first definition of the kind
 * (whose accepted API versions the caller then names).
 */
export function kindDef(kind: string, group?: string): KindDef | undefined {
  const defs = kinds.filter((k) => k.kind === kind);
  return defs.find((k) => k.group === group) ?? defs[0];
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

/**
 * Kubernetes and Istio kinds Outrigger recognises but does not implement. `warning` ones change what a
 * cluster would do (pods it would run, traffic it would route or refuse), so `why` names what to use
 * instead; `info` ones mean nothing without a cluster's API server (autoscaling, RBAC, admission).
 * Either way the resource is kept, its metadata checked, and the mesh starts: a manifest directory
 * written for a cluster runs as it is.
 */
export interface UnimplementedKind {
  group: string;
  kinds: readonly string[];
  severity: 'warning' | 'info';
  why: string;
}

const notStarted = 'Outrigger starts only Deployment and Job workloads; describe it as a Deployment';
const gatewayApi =
  'of the Kubernetes Gateway API Outrigger implements HTTPRoute, GRPCRoute, TCPRoute, TLSRoute, BackendTLSPolicy, Gateway, GatewayClass and ReferenceGrant (docs/gateway-api.md); describe the rest with Istio\'s Gateway and VirtualService (networking.istio.io)';
const noApiServer = 'there is no Kubernetes API server locally';

export const unimplementedKinds: readonly UnimplementedKind[] = [
  { group: '', kinds: ['Pod', 'ReplicationController'], severity: 'warning', why: notStarted },
  { group: 'apps', kinds: ['StatefulSet', 'DaemonSet', 'ReplicaSet'], severity: 'warning', why: notStarted },
  { group: 'batch', kinds: ['CronJob'], severity: 'warning', why: 'Outrigger starts only Deployment and Job workloads; run it as a Job' },
  { group: '', kinds: ['Endpoints'], severity: 'warning', why: 'Outrigger does not read endpoints written by hand; give the Service a selector, or use a ServiceEntry with endpoints' },
  { group: 'discovery.k8s.io', kinds: ['EndpointSlice'], severity: 'warning', why: 'Outrigger does not read endpoints written by hand; give the Service a selector, or use a ServiceEntry with endpoints' },
  { group: 'networking.k8s.io', kinds: ['NetworkPolicy'], severity: 'warning', why: 'Outrigger does not enforce NetworkPolicy; restrict traffic with an AuthorizationPolicy' },
  { group: 'networking.k8s.io', kinds: ['Ingress'], severity: 'warning', why: 'Outrigger does not serve Ingress; route with an Istio Gateway and VirtualService' },
  { group: 'extensions.istio.io', kinds: ['WasmPlugin'], severity: 'warning', why: 'Outrigger runs no Wasm; express the behaviour with VirtualService headers, RequestAuthentication or a CUSTOM AuthorizationPolicy' },
  {
    group: 'gateway.networking.k8s.io',
    kinds: ['UDPRoute'],
    severity: 'warning',
    why: gatewayApi,
  },
  { group: 'gateway.networking.x-k8s.io', kinds: ['XBackendTrafficPolicy', 'XListenerSet', 'XMesh'], severity: 'warning', why: gatewayApi },
  { group: 'autoscaling', kinds: ['HorizontalPodAutoscaler'], severity: 'info', why: 'replicas stay as the workload sets them' },
  { group: 'autoscaling.k8s.io', kinds: ['VerticalPodAutoscaler'], severity: 'info', why: 'resources stay as the workload sets them' },
  { group: 'policy', kinds: ['PodDisruptionBudget'], severity: 'info', why: 'nothing evicts pods locally' },
  { group: 'rbac.authorization.k8s.io', kinds: ['Role', 'RoleBinding', 'ClusterRole', 'ClusterRoleBinding'], severity: 'info', why: noApiServer },
  { group: 'apiextensions.k8s.io', kinds: ['CustomResourceDefinition'], severity: 'info', why: noApiServer },
  {
    group: 'admissionregistration.k8s.io',
    kinds: ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding'],
    severity: 'info',
    why: noApiServer,
  },
  { group: '', kinds: ['PersistentVolumeClaim', 'PersistentVolume', 'LimitRange', 'ResourceQuota'], severity: 'info', why: 'local processes use the host\'s disk and memory as they are' },
  { group: 'storage.k8s.io', kinds: ['StorageClass'], severity: 'info', why: 'local processes use the host\'s disk as it is' },
  { group: 'scheduling.k8s.io', kinds: ['PriorityClass'], severity: 'info', why: 'nothing schedules pods locally' },
  { group: 'networking.k8s.io', kinds: ['IngressClass'], severity: 'info', why: 'Ingress is not served locally' },
];

/** Unimplemented kinds without a namespace. */
export const clusterScopedUnimplemented: ReadonlySet<string> = new Set([
  'ClusterRole',
  'ClusterRoleBinding',
  'CustomResourceDefinition',
  'MutatingWebhookConfiguration',
  'ValidatingWebhookConfiguration',
  'ValidatingAdmissionPolicy',
  'ValidatingAdmissionPolicyBinding',
  'PersistentVolume',
  'StorageClass',
  'PriorityClass',
  'IngressClass',
]);

/** The unimplemented kind `kind` of `group`, whatever its version. */
export function unimplementedKind(group: string, kind: string): UnimplementedKind | undefined {
  return unimplementedKinds.find((u) => u.group === group && u.kinds.includes(kind));
}

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
