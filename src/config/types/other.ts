// install.istio.io IstioOperator and the mesh config it carries (the parts a local mesh honours).

/** MeshConfig's ExtensionProvider.HttpHeader: a value, or istiod's environment variable's (`envName`). */
export interface ProviderHttpHeader {
  name: string;
  value?: string;
  envName?: string;
}

export interface ExtensionProvider {
  name: string;
  envoyExtAuthzHttp?: {
    service: string;
    port: number;
    pathPrefix?: string;
    timeout?: string;
    includeRequestHeadersInCheck?: string[];
    headersToUpstreamOnAllow?: string[];
    headersToDownstreamOnDeny?: string[];
    includeAdditionalHeadersInCheck?: Record<string, string>;
    failOpen?: boolean;
    statusOnError?: string;
  };
  envoyExtAuthzGrpc?: {
    service: string;
    port: number;
    timeout?: string;
    failOpen?: boolean;
    statusOnError?: string;
    clearRouteCache?: boolean;
    includeRequestBodyInCheck?: { maxRequestBytes?: number; allowPartialMessage?: boolean; packAsBytes?: boolean };
  };
  zipkin?: { service: string; port: number; maxTagLength?: number; path?: string; timeout?: string; headers?: ProviderHttpHeader[] };
  opentelemetry?: {
    service: string;
    port: number;
    maxTagLength?: number;
    http?: { path?: string; timeout?: string; headers?: ProviderHttpHeader[] };
    grpc?: { timeout?: string; initialMetadata?: ProviderHttpHeader[] };
  };
  prometheus?: Record<string, never>;
  envoyFileAccessLog?: { path?: string; logFormat?: { text?: string; labels?: Record<string, string> } };
  envoyOtelAls?: { service: string; port: number };
  [provider: string]: unknown;
}

export interface ProxyConfigDefaults {
  concurrency?: number;
  holdApplicationUntilProxyStarts?: boolean;
  tracing?: {
    sampling?: number;
    zipkin?: { address?: string };
    custom_tags?: Record<string, unknown>;
    max_path_tag_length?: number;
  };
  proxyMetadata?: Record<string, string>;
  terminationDrainDuration?: string;
  /** The headers the proxies add or pass (ProxyConfig.proxyHeaders). */
  proxyHeaders?: ProxyHeaders;
  /** Which Envoy stats the proxies keep, besides Istio's own (ProxyConfig.proxyStatsMatcher). */
  proxyStatsMatcher?: { inclusionPrefixes?: string[]; inclusionSuffixes?: string[]; inclusionRegexps?: string[] };
  [field: string]: unknown;
}

/** ProxyConfig.ProxyHeaders: each part on unless disabled; `server.value` renames the Server header. */
export interface ProxyHeaders {
  server?: { disabled?: boolean; value?: string };
  requestId?: { disabled?: boolean };
  attemptCount?: { disabled?: boolean };
  envoyDebugHeaders?: { disabled?: boolean };
  [field: string]: unknown;
}

/** meshConfig.tlsDefaults: the TLS settings of gateway servers that terminate SIMPLE or MUTUAL TLS. */
export interface MeshTlsDefaults {
  minProtocolVersion?: 'TLS_AUTO' | 'TLSV1_2' | 'TLSV1_3';
  ecdhCurves?: string[];
  cipherSuites?: string[];
}

export interface MeshConfig {
  trustDomain?: string;
  trustDomainAliases?: string[];
  rootNamespace?: string;
  enableTracing?: boolean;
  accessLogFile?: string;
  accessLogEncoding?: 'TEXT' | 'JSON';
  accessLogFormat?: string;
  defaultConfig?: ProxyConfigDefaults;
  extensionProviders?: ExtensionProvider[];
  defaultProviders?: { tracing?: string[]; metrics?: string[]; accessLogging?: string[] };
  outboundTrafficPolicy?: { mode?: 'REGISTRY_ONLY' | 'ALLOW_ANY' };
  enableAutoMtls?: boolean;
  pathNormalization?: { normalization?: 'DEFAULT' | 'NONE' | 'BASE' | 'MERGE_SLASHES' | 'DECODE_AND_MERGE_SLASHES' };
  /** Istio's HTTPRetry: the retry policy of routes whose VirtualService sets none. */
  defaultHttpRetryPolicy?: { attempts?: number; perTryTimeout?: string; retryOn?: string; retryRemoteLocalities?: boolean; retryIgnorePreviousHosts?: boolean; backoff?: string };
  tlsDefaults?: MeshTlsDefaults;
  [field: string]: unknown;
}

export interface ComponentSpec {
  name?: string;
  enabled?: boolean;
  namespace?: string;
  label?: Record<string, string>;
  k8s?: Record<string, unknown>;
}

export interface IstioOperatorSpec {
  profile?: string;
  hub?: string;
  tag?: string;
  revision?: string;
  meshConfig?: MeshConfig;
  components?: {
    base?: ComponentSpec;
    pilot?: ComponentSpec;
    ingressGateways?: ComponentSpec[];
    egressGateways?: ComponentSpec[];
    cni?: ComponentSpec;
    [component: string]: unknown;
  };
  /** Helm-style values: `global.proxy.resources`, `pilot.env`, workload cert TTL and grace, ... */
  values?: Record<string, unknown>;
}
