// Istio networking API specs (networking.istio.io v1alpha3 / v1beta1 / v1), field for field as in the
// YAML. Durations stay strings (`"2s"`, `"100ms"`); validation checked their syntax.

export type Duration = string;

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface Percent {
  value: number;
}

export interface PortSelector {
  number: number;
}

export interface Destination {
  host: string;
  subset?: string;
  port?: PortSelector;
}

export interface Headers {
  request?: HeaderOperations;
  response?: HeaderOperations;
}

export interface HeaderOperations {
  set?: Record<string, string>;
  add?: Record<string, string>;
  remove?: string[];
}

export interface HTTPMatchRequest {
  name?: string;
  uri?: StringMatch;
  scheme?: StringMatch;
  method?: StringMatch;
  authority?: StringMatch;
  headers?: Record<string, StringMatch>;
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  queryParams?: Record<string, StringMatch>;
  ignoreUriCase?: boolean;
  withoutHeaders?: Record<string, StringMatch>;
  sourceNamespace?: string;
  statPrefix?: string;
}

export interface HTTPRouteDestination {
  destination: Destination;
  weight?: number;
  headers?: Headers;
}

export interface HTTPRedirect {
  uri?: string;
  authority?: string;
  port?: number;
  derivePort?: 'FROM_PROTOCOL_DEFAULT' | 'FROM_REQUEST_PORT';
  scheme?: string;
  redirectCode?: number;
}

export interface HTTPDirectResponse {
  status: number;
  body?: { string?: string; bytes?: string };
}

export interface RegexRewrite {
  match: string;
  rewrite: string;
}

export interface HTTPRewrite {
  uri?: string;
  authority?: string;
  uriRegexRewrite?: RegexRewrite;
}

export interface HTTPRetry {
  attempts?: number;
  perTryTimeout?: Duration;
  retryOn?: string;
  retryRemoteLocalities?: boolean;
  /** Retries go to other hosts (Envoy's previous_hosts predicate); unset: yes, unless the route hashes. */
  retryIgnorePreviousHosts?: boolean;
  /** The base interval of the exponential back-off between retries (Envoy's default 25 ms). */
  backoff?: Duration;
}

export interface HTTPFaultInjection {
  delay?: { fixedDelay?: Duration; exponentialDelay?: Duration; percentage?: Percent; percent?: number };
  abort?: { httpStatus?: number; grpcStatus?: string; http2Error?: string; percentage?: Percent };
}

export interface HTTPMirrorPolicy {
  destination: Destination;
  percentage?: Percent;
}

export interface CorsPolicy {
  allowOrigins?: StringMatch[];
  /** Deprecated in Istio; still accepted. */
  allowOrigin?: string[];
  allowMethods?: string[];
  allowHeaders?: string[];
  exposeHeaders?: string[];
  maxAge?: Duration;
  allowCredentials?: boolean;
  unmatchedPreflights?: 'UNSPECIFIED' | 'FORWARD' | 'IGNORE';
}

export interface Delegate {
  name: string;
  namespace?: string;
}

export interface HTTPRoute {
  name?: string;
  match?: HTTPMatchRequest[];
  route?: HTTPRouteDestination[];
  redirect?: HTTPRedirect;
  directResponse?: HTTPDirectResponse;
  delegate?: Delegate;
  rewrite?: HTTPRewrite;
  timeout?: Duration;
  retries?: HTTPRetry;
  fault?: HTTPFaultInjection;
  mirror?: Destination;
  mirrorPercentage?: Percent;
  /** Deprecated integer percent. */
  mirrorPercent?: number;
  mirrors?: HTTPMirrorPolicy[];
  corsPolicy?: CorsPolicy;
  headers?: Headers;
}

export interface L4MatchAttributes {
  destinationSubnets?: string[];
  port?: number;
  sourceLabels?: Record<string, string>;
  gateways?: string[];
  sourceNamespace?: string;
}

export interface TLSMatchAttributes extends L4MatchAttributes {
  sniHosts: string[];
}

export interface RouteDestination {
  destination: Destination;
  weight?: number;
}

export interface TCPRoute {
  match?: L4MatchAttributes[];
  route?: RouteDestination[];
}

export interface TLSRoute {
  match: TLSMatchAttributes[];
  route?: RouteDestination[];
}

export interface VirtualServiceSpec {
  hosts?: string[];
  gateways?: string[];
  http?: HTTPRoute[];
  tls?: TLSRoute[];
  tcp?: TCPRoute[];
  exportTo?: string[];
}

// ---- DestinationRule ----

export interface ConsistentHashLB {
  httpHeaderName?: string;
  httpCookie?: { name: string; path?: string; ttl?: Duration; attributes?: { name: string; value?: string }[] };
  useSourceIp?: boolean;
  httpQueryParameterName?: string;
  ringHash?: { minimumRingSize?: number };
  maglev?: { tableSize?: number };
  /** Deprecated; use ringHash. */
  minimumRingSize?: number;
}

export interface LocalityLoadBalancerSetting {
  distribute?: { from?: string; to?: Record<string, number> }[];
  failover?: { from?: string; to?: string }[];
  failoverPriority?: string[];
  enabled?: boolean;
}

export interface LoadBalancerSettings {
  simple?: 'UNSPECIFIED' | 'LEAST_CONN' | 'RANDOM' | 'PASSTHROUGH' | 'ROUND_ROBIN' | 'LEAST_REQUEST';
  consistentHash?: ConsistentHashLB;
  localityLbSetting?: LocalityLoadBalancerSetting;
  warmupDurationSecs?: Duration;
  warmup?: { duration: Duration; minimumPercent?: number; aggression?: number };
}

export interface ConnectionPoolSettings {
  tcp?: {
    maxConnections?: number;
    connectTimeout?: Duration;
    tcpKeepalive?: { probes?: number; time?: Duration; interval?: Duration };
    maxConnectionDuration?: Duration;
    idleTimeout?: Duration;
  };
  http?: {
    http1MaxPendingRequests?: number;
    http2MaxRequests?: number;
    maxRequestsPerConnection?: number;
    maxRetries?: number;
    idleTimeout?: Duration;
    h2UpgradePolicy?: 'DEFAULT' | 'DO_NOT_UPGRADE' | 'UPGRADE';
    useClientProtocol?: boolean;
    maxConcurrentStreams?: number;
  };
}

export interface OutlierDetection {
  splitExternalLocalOriginErrors?: boolean;
  consecutiveLocalOriginFailures?: number;
  consecutiveGatewayErrors?: number;
  consecutive5xxErrors?: number;
  /** Deprecated alias of consecutive5xxErrors (counts 502, 503, 504 only). */
  consecutiveErrors?: number;
  interval?: Duration;
  baseEjectionTime?: Duration;
  maxEjectionPercent?: number;
  minHealthPercent?: number;
}

export type ClientTLSMode = 'DISABLE' | 'SIMPLE' | 'MUTUAL' | 'ISTIO_MUTUAL';

export interface ClientTLSSettings {
  mode?: ClientTLSMode;
  clientCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  credentialName?: string;
  subjectAltNames?: string[];
  sni?: string;
  insecureSkipVerify?: boolean;
  caCrl?: string;
}

export interface PortTrafficPolicy {
  port?: PortSelector;
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
}

export interface TrafficPolicy {
  loadBalancer?: LoadBalancerSettings;
  connectionPool?: ConnectionPoolSettings;
  outlierDetection?: OutlierDetection;
  tls?: ClientTLSSettings;
  portLevelSettings?: PortTrafficPolicy[];
  tunnel?: { protocol?: string; targetHost: string; targetPort: number };
  proxyProtocol?: { version?: 'V1' | 'V2' };
}

export interface Subset {
  name: string;
  labels?: Record<string, string>;
  trafficPolicy?: TrafficPolicy;
}

/** istio.type.v1beta1.WorkloadSelector (DestinationRule, security and telemetry kinds). */
export interface WorkloadSelector {
  matchLabels?: Record<string, string>;
}

/** networking.istio.io's own WorkloadSelector (Sidecar, ServiceEntry): the field is `labels`. */
export interface NetworkingWorkloadSelector {
  labels?: Record<string, string>;
}

export interface DestinationRuleSpec {
  host: string;
  trafficPolicy?: TrafficPolicy;
  subsets?: Subset[];
  exportTo?: string[];
  workloadSelector?: WorkloadSelector;
}

// ---- Gateway ----

export interface Port {
  number: number;
  protocol: string;
  name?: string;
  targetPort?: number;
}

export type ServerTLSMode = 'PASSTHROUGH' | 'SIMPLE' | 'MUTUAL' | 'AUTO_PASSTHROUGH' | 'ISTIO_MUTUAL' | 'OPTIONAL_MUTUAL';

export interface ServerTLSSettings {
  httpsRedirect?: boolean;
  mode?: ServerTLSMode;
  serverCertificate?: string;
  privateKey?: string;
  caCertificates?: string;
  caCrl?: string;
  credentialName?: string;
  credentialNames?: string[];
  /** Certificates by file, one per key type (RSA, ECDSA). */
  tlsCertificates?: { serverCertificate?: string; privateKey?: string; caCertificates?: string }[];
  subjectAltNames?: string[];
  verifyCertificateSpki?: string[];
  verifyCertificateHash?: string[];
  minProtocolVersion?: 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';
  maxProtocolVersion?: 'TLS_AUTO' | 'TLSV1_0' | 'TLSV1_1' | 'TLSV1_2' | 'TLSV1_3';
  cipherSuites?: string[];
}

export interface Server {
  port: Port;
  bind?: string;
  hosts: string[];
  tls?: ServerTLSSettings;
  defaultEndpoint?: string;
  name?: string;
}

export interface GatewaySpec {
  servers: Server[];
  selector?: Record<string, string>;
}

// ---- ServiceEntry, WorkloadEntry, WorkloadGroup ----

export interface WorkloadEntrySpec {
  address?: string;
  ports?: Record<string, number>;
  labels?: Record<string, string>;
  network?: string;
  locality?: string;
  weight?: number;
  serviceAccount?: string;
}

export interface ServiceEntrySpec {
  hosts: string[];
  addresses?: string[];
  ports?: Port[];
  location?: 'MESH_EXTERNAL' | 'MESH_INTERNAL';
  resolution?: 'NONE' | 'STATIC' | 'DNS' | 'DNS_ROUND_ROBIN';
  endpoints?: WorkloadEntrySpec[];
  workloadSelector?: NetworkingWorkloadSelector;
  exportTo?: string[];
  subjectAltNames?: string[];
}

export interface WorkloadGroupSpec {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  template: WorkloadEntrySpec;
  probe?: Record<string, unknown>;
}

// ---- Sidecar ----

export interface IstioIngressListener {
  port: Port;
  bind?: string;
  captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  defaultEndpoint?: string;
  tls?: ServerTLSSettings;
  connectionPool?: ConnectionPoolSettings;
}

export interface IstioEgressListener {
  port?: Port;
  bind?: string;
  captureMode?: 'DEFAULT' | 'IPTABLES' | 'NONE';
  hosts: string[];
}

export interface SidecarSpec {
  workloadSelector?: NetworkingWorkloadSelector;
  ingress?: IstioIngressListener[];
  egress?: IstioEgressListener[];
  inboundConnectionPool?: ConnectionPoolSettings;
  outboundTrafficPolicy?: { mode?: 'REGISTRY_ONLY' | 'ALLOW_ANY'; egressProxy?: Destination };
}

export interface ProxyConfigSpec {
  selector?: WorkloadSelector;
  concurrency?: number;
  environmentVariables?: Record<string, string>;
  image?: { imageType?: string };
}
