// The typed resource every stage after parsing works with: Kubernetes metadata, a typed spec, and
// where it came from. Produced once in src/config (parse + validate); trusted everywhere after.
import type { SourceSpan, SpanLookup } from './source.ts';
import type * as GwApi from './types/gateway-api.ts';
import type * as K8s from './types/kubernetes.ts';
import type * as Net from './types/networking.ts';
import type * as Other from './types/other.ts';
import type * as Sec from './types/security.ts';
import type * as Tel from './types/telemetry.ts';

export interface ObjectMeta {
  name: string;
  /** Defaulted to `default` for namespaced kinds, `''` for cluster-scoped ones (Namespace). */
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Monotonic per resource in a config store; `'0'` when loaded from files. */
  resourceVersion?: string;
  /** As written (an exported manifest carries one); absent for what is created now. Orders VirtualServices. */
  creationTimestamp?: string;
}

export interface ResourceOrigin {
  /** The file and the span of the whole document. */
  span: SourceSpan;
  /** Index of the document within its file (0-based). */
  documentIndex: number;
  /** The span of any field path inside this document (`['spec','http',0]`). */
  lookup: SpanLookup;
}

export interface Resource<K extends string, S> {
  apiVersion: string;
  kind: K;
  metadata: ObjectMeta;
  spec: S;
  origin?: ResourceOrigin;
}

export type VirtualService = Resource<'VirtualService', Net.VirtualServiceSpec>;
export type DestinationRule = Resource<'DestinationRule', Net.DestinationRuleSpec>;
export type Gateway = Resource<'Gateway', Net.GatewaySpec>;
export type ServiceEntry = Resource<'ServiceEntry', Net.ServiceEntrySpec>;
export type SidecarResource = Resource<'Sidecar', Net.SidecarSpec>;
export type WorkloadEntry = Resource<'WorkloadEntry', Net.WorkloadEntrySpec>;
export type WorkloadGroup = Resource<'WorkloadGroup', Net.WorkloadGroupSpec>;
export type ProxyConfig = Resource<'ProxyConfig', Net.ProxyConfigSpec>;
export type EnvoyFilter = Resource<'EnvoyFilter', Record<string, unknown>>;
export type PeerAuthentication = Resource<'PeerAuthentication', Sec.PeerAuthenticationSpec>;
export type AuthorizationPolicy = Resource<'AuthorizationPolicy', Sec.AuthorizationPolicySpec>;
export type RequestAuthentication = Resource<'RequestAuthentication', Sec.RequestAuthenticationSpec>;
export type Telemetry = Resource<'Telemetry', Tel.TelemetrySpec>;
export type IstioOperator = Resource<'IstioOperator', Other.IstioOperatorSpec>;
export type Namespace = Resource<'Namespace', Record<string, never>>;
export type Service = Resource<'Service', K8s.ServiceSpec>;
export type Deployment = Resource<'Deployment', K8s.DeploymentSpec>;
export type Job = Resource<'Job', K8s.JobSpec>;
export type ServiceAccount = Resource<'ServiceAccount', Record<string, never>>;
/** Secret and ConfigMap keep their top-level `data`/`stringData` in `spec` (decoded to strings). */
export type Secret = Resource<'Secret', K8s.SecretSpec>;
export type ConfigMap = Resource<'ConfigMap', K8s.ConfigMapSpec>;
export type HTTPRoute = Resource<'HTTPRoute', GwApi.HTTPRouteSpec>;
export type GRPCRoute = Resource<'GRPCRoute', GwApi.GRPCRouteSpec>;
export type TCPRoute = Resource<'TCPRoute', GwApi.TCPRouteSpec>;
export type TLSRoute = Resource<'TLSRoute', GwApi.TLSRouteSpec>;
export type BackendTLSPolicy = Resource<'BackendTLSPolicy', GwApi.BackendTLSPolicySpec>;
/** The Gateway API's Gateway (`gateway.networking.k8s.io`), named apart from Istio's as Istio names it internally. */
export type KubernetesGateway = Resource<'KubernetesGateway', GwApi.KubernetesGatewaySpec>;
export type GatewayClass = Resource<'GatewayClass', GwApi.GatewayClassSpec>;
export type ReferenceGrant = Resource<'ReferenceGrant', GwApi.ReferenceGrantSpec>;
export type GatewayApiResource = HTTPRoute | GRPCRoute | TCPRoute | TLSRoute | BackendTLSPolicy | KubernetesGateway | GatewayClass | ReferenceGrant;
/** A kind of another system (Jaeger, ServiceMonitor, PrometheusRule, ...), recognised but not typed. */
export type ForeignResource = Resource<string, Record<string, unknown>> & { foreign: true };

export type IstioResource =
  | VirtualService
  | DestinationRule
  | Gateway
  | ServiceEntry
  | SidecarResource
  | WorkloadEntry
  | WorkloadGroup
  | ProxyConfig
  | EnvoyFilter
  | PeerAuthentication
  | AuthorizationPolicy
  | RequestAuthentication
  | Telemetry
  | IstioOperator;

export type KubernetesResource = Namespace | Service | Deployment | Job | ServiceAccount | Secret | ConfigMap;

export type AnyResource = IstioResource | KubernetesResource | GatewayApiResource | ForeignResource;

/** `Kind namespace/name`, the way diagnostics and logs name a resource. */
export function resourceKey(r: { kind: string; metadata: { name: string; namespace: string } }): string {
  // The Gateway API's Gateway is named as written, with its group to tell it from Istio's.
  const kind = r.kind === 'KubernetesGateway' ? 'Gateway.gateway.networking.k8s.io' : r.kind;
  return r.metadata.namespace ? `${kind} ${r.metadata.namespace}/${r.metadata.name}` : `${kind} ${r.metadata.name}`;
}
