// Kubernetes Gateway API specs (gateway.networking.k8s.io v1 / v1beta1), field for field as in the
// YAML: the kinds Outrigger converts into Istio Gateways and VirtualServices (src/model/gateway-api/).
import type { LabelSelector } from './kubernetes.ts';

/** A reference to a route's parent: a Gateway (the default) or, for mesh routing (GAMMA), a Service. */
export interface ParentReference {
  /** `gateway.networking.k8s.io` (default) or `''` (core) for a Service. */
  group?: string;
  /** `Gateway` (default) or `Service`. */
  kind?: string;
  namespace?: string;
  name: string;
  /** A Gateway listener's name. */
  sectionName?: string;
  port?: number;
}

export interface HTTPHeaderMatch {
  /** `Exact` (default) or `RegularExpression`. */
  type?: 'Exact' | 'RegularExpression';
  name: string;
  value: string;
}

export interface HTTPPathMatch {
  /** `PathPrefix` (default), `Exact` or `RegularExpression`. */
  type?: 'Exact' | 'PathPrefix' | 'RegularExpression';
  /** Default `/`. */
  value?: string;
}

export interface HTTPRouteMatch {
  path?: HTTPPathMatch;
  headers?: HTTPHeaderMatch[];
  queryParams?: HTTPHeaderMatch[];
  method?: string;
}

export interface HTTPHeader {
  name: string;
  value: string;
}

export interface HTTPHeaderFilter {
  set?: HTTPHeader[];
  add?: HTTPHeader[];
  remove?: string[];
}

export interface HTTPPathModifier {
  type: 'ReplaceFullPath' | 'ReplacePrefixMatch';
  replaceFullPath?: string;
  replacePrefixMatch?: string;
}

export interface HTTPRequestRedirectFilter {
  scheme?: 'http' | 'https';
  hostname?: string;
  path?: HTTPPathModifier;
  port?: number;
  /** 301 (default) or 302 in the standard channel; 303, 307, 308 also accepted. */
  statusCode?: number;
}

export interface HTTPURLRewriteFilter {
  hostname?: string;
  path?: HTTPPathModifier;
}

/** A backend by kind and name: a Service (group `''`, the default kind) and its port. */
export interface BackendObjectReference {
  group?: string;
  kind?: string;
  name: string;
  namespace?: string;
  port?: number;
}

export interface HTTPRequestMirrorFilter {
  backendRef: BackendObjectReference;
  percent?: number;
  fraction?: { numerator: number; denominator?: number };
}

/** The CORS filter (experimental channel): the response headers of a CORS request and its preflight. */
export interface HTTPCORSFilter {
  allowOrigins?: string[];
  allowCredentials?: boolean;
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  /** Seconds; the API server's default is 5. */
  maxAge?: number;
}

export interface HTTPRouteFilter {
  type: 'RequestHeaderModifier' | 'ResponseHeaderModifier' | 'RequestRedirect' | 'URLRewrite' | 'RequestMirror' | 'CORS' | 'ExtensionRef';
  requestHeaderModifier?: HTTPHeaderFilter;
  responseHeaderModifier?: HTTPHeaderFilter;
  requestRedirect?: HTTPRequestRedirectFilter;
  urlRewrite?: HTTPURLRewriteFilter;
  requestMirror?: HTTPRequestMirrorFilter;
  cors?: HTTPCORSFilter;
  extensionRef?: { group: string; kind: string; name: string };
}

export interface HTTPBackendRef extends BackendObjectReference {
  /** Relative; default 1; 0 sends nothing to it. */
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface HTTPRouteTimeouts {
  /** The whole request, retries included (`0s`: none). */
  request?: string;
  /** One attempt to the backend. */
  backendRequest?: string;
}

/** A rule's retries (experimental channel). */
export interface HTTPRouteRetry {
  /** HTTP status codes (400 to 599, as the API's HTTPRouteRetryStatusCode) that are retried, besides connection errors. */
  codes?: number[];
  attempts?: number;
  /** A Gateway API duration: the base interval between attempts. */
  backoff?: string;
}

export interface HTTPRouteRule {
  name?: string;
  /** Absent: the API server's default, one PathPrefix `/` match; `[]`: a rule with no match at all. */
  matches?: HTTPRouteMatch[];
  filters?: HTTPRouteFilter[];
  backendRefs?: HTTPBackendRef[];
  timeouts?: HTTPRouteTimeouts;
  retry?: HTTPRouteRetry;
}

export interface HTTPRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: HTTPRouteRule[];
}

export interface GatewayTLSConfig {
  /** `Terminate` (default) or `Passthrough`. */
  mode?: 'Terminate' | 'Passthrough';
  certificateRefs?: { group?: string; kind?: string; name: string; namespace?: string }[];
  options?: Record<string, string>;
}

export interface AllowedRoutes {
  namespaces?: { from?: 'Same' | 'All' | 'Selector'; selector?: LabelSelector };
  kinds?: { group?: string; kind: string }[];
}

export interface Listener {
  name: string;
  hostname?: string;
  port: number;
  protocol: string;
  tls?: GatewayTLSConfig;
  allowedRoutes?: AllowedRoutes;
}

export interface KubernetesGatewaySpec {
  gatewayClassName: string;
  listeners: Listener[];
  addresses?: { type?: string; value: string }[];
  infrastructure?: { labels?: Record<string, string>; annotations?: Record<string, string> };
}

export interface GatewayClassSpec {
  controllerName: string;
  description?: string;
}

export interface ReferenceGrantSpec {
  from: { group: string; kind: string; namespace: string }[];
  to: { group: string; kind: string; name?: string }[];
}

export interface GRPCMethodMatch {
  /** `Exact` (default) or `RegularExpression`. */
  type?: 'Exact' | 'RegularExpression';
  service?: string;
  method?: string;
}

export interface GRPCRouteMatch {
  method?: GRPCMethodMatch;
  headers?: HTTPHeaderMatch[];
}

export interface GRPCBackendRef extends BackendObjectReference {
  weight?: number;
  filters?: HTTPRouteFilter[];
}

export interface GRPCRouteRule {
  name?: string;
  matches?: GRPCRouteMatch[];
  /** RequestHeaderModifier, ResponseHeaderModifier, RequestMirror (as HTTPRoute's). */
  filters?: HTTPRouteFilter[];
  backendRefs?: GRPCBackendRef[];
}

export interface GRPCRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules?: GRPCRouteRule[];
}

export interface TCPRouteRule {
  name?: string;
  backendRefs?: (BackendObjectReference & { weight?: number })[];
}

/** TCPRoute (v1alpha2): connections, by parent and port only; the first rule's backends take them. */
export interface TCPRouteSpec {
  parentRefs?: ParentReference[];
  rules: TCPRouteRule[];
}

/** TLSRoute (v1alpha2, v1alpha3, v1): TLS connections by SNI, unterminated; the first rule's backends take them. */
export interface TLSRouteSpec {
  parentRefs?: ParentReference[];
  hostnames?: string[];
  rules: TCPRouteRule[];
}

/** A Service (or one of its ports, by name) that a BackendTLSPolicy applies to. */
export interface PolicyTargetReference {
  group: string;
  kind: string;
  name: string;
  sectionName?: string;
}

/** BackendTLSPolicy (v1alpha3, v1): connections to the target Services are TLS, verified as `validation` says. */
export interface BackendTLSPolicySpec {
  targetRefs: PolicyTargetReference[];
  validation: {
    /** ConfigMaps (key `ca.crt`) of the policy's namespace holding the CA to trust; Istio uses the first. */
    caCertificateRefs?: { group: string; kind: string; name: string }[];
    /** `System`: the platform's trusted roots. */
    wellKnownCACertificates?: string;
    /** The SNI sent, and the name the certificate must carry unless subjectAltNames say otherwise. */
    hostname: string;
    subjectAltNames?: { type: 'Hostname' | 'URI'; hostname?: string; uri?: string }[];
  };
  options?: Record<string, string>;
}
