// Narrow views of Envoy's route.proto (v3) in canonical JSON (snake_case, wrappers as `{ value }`,
// enums as strings, int64 as strings): only the fields the route library reads.
import type { TypedAny } from '../../../xds/any.ts';
import type { XdsDuration } from '../../../xds/duration.ts';

export interface EnvoyRegexMatcher {
  regex?: string;
  google_re2?: Record<string, unknown>;
}

export interface EnvoyStringMatcher {
  exact?: string;
  prefix?: string;
  suffix?: string;
  contains?: string;
  safe_regex?: EnvoyRegexMatcher;
  ignore_case?: boolean;
}

export interface EnvoyFractionalPercent {
  numerator?: number;
  denominator?: 'HUNDRED' | 'TEN_THOUSAND' | 'MILLION' | string;
}

export interface EnvoyRuntimeFractionalPercent {
  default_value?: EnvoyFractionalPercent;
  runtime_key?: string;
}

export interface EnvoyHeaderMatcher {
  name?: string;
  exact_match?: string;
  safe_regex_match?: EnvoyRegexMatcher;
  range_match?: { start?: string | number; end?: string | number };
  present_match?: boolean;
  prefix_match?: string;
  suffix_match?: string;
  contains_match?: string;
  string_match?: EnvoyStringMatcher;
  invert_match?: boolean;
  treat_missing_header_as_empty?: boolean;
}

export interface EnvoyQueryParameterMatcher {
  name?: string;
  string_match?: EnvoyStringMatcher;
  present_match?: boolean;
}

export interface EnvoyRouteMatch {
  prefix?: string;
  path?: string;
  safe_regex?: EnvoyRegexMatcher;
  path_separated_prefix?: string;
  case_sensitive?: { value?: boolean };
  runtime_fraction?: EnvoyRuntimeFractionalPercent;
  headers?: EnvoyHeaderMatcher[];
  query_parameters?: EnvoyQueryParameterMatcher[];
  grpc?: Record<string, unknown>;
  dynamic_metadata?: EnvoyMetadataMatcher[];
}

/** envoy.type.matcher.v3.ValueMatcher, the kinds a route's dynamic_metadata matcher takes. */
export interface EnvoyValueMatcher {
  string_match?: EnvoyStringMatcher;
  present_match?: boolean;
  list_match?: { one_of?: EnvoyValueMatcher };
  or_match?: { value_matchers?: EnvoyValueMatcher[] };
}

/** envoy.type.matcher.v3.MetadataMatcher over the stream's dynamic metadata. */
export interface EnvoyMetadataMatcher {
  filter?: string;
  path?: { key?: string }[];
  value?: EnvoyValueMatcher;
  invert?: boolean;
}

export interface EnvoyHeaderValueOption {
  header?: { key?: string; value?: string; raw_value?: string };
  append?: { value?: boolean };
  append_action?: 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS' | string;
  keep_empty_value?: boolean;
}

/** The header-mutation fields shared by RouteConfiguration, VirtualHost, Route and ClusterWeight. */
export interface EnvoyHeaderMutationFields {
  request_headers_to_add?: EnvoyHeaderValueOption[];
  request_headers_to_remove?: string[];
  response_headers_to_add?: EnvoyHeaderValueOption[];
  response_headers_to_remove?: string[];
}

export type EnvoyTypedPerFilterConfig = Record<string, TypedAny>;

export interface EnvoyClusterWeight extends EnvoyHeaderMutationFields {
  name?: string;
  weight?: { value?: number };
  host_rewrite_literal?: string;
  typed_per_filter_config?: EnvoyTypedPerFilterConfig;
}

export interface EnvoyRetryPolicy {
  retry_on?: string;
  num_retries?: { value?: number };
  per_try_timeout?: XdsDuration;
  per_try_idle_timeout?: XdsDuration;
  retry_host_predicate?: { name?: string; typed_config?: TypedAny }[];
  host_selection_retry_max_attempts?: string | number;
  retriable_status_codes?: number[];
  retry_back_off?: { base_interval?: XdsDuration; max_interval?: XdsDuration };
  retriable_headers?: EnvoyHeaderMatcher[];
  retriable_request_headers?: EnvoyHeaderMatcher[];
  retry_priority?: { name?: string; typed_config?: TypedAny };
}

export interface EnvoyHashPolicy {
  header?: { header_name?: string; regex_rewrite?: { pattern?: EnvoyRegexMatcher; substitution?: string } };
  cookie?: { name?: string; ttl?: XdsDuration; path?: string; attributes?: { name?: string; value?: string }[] };
  connection_properties?: { source_ip?: boolean };
  query_parameter?: { name?: string };
  filter_state?: { key?: string };
  terminal?: boolean;
}

export interface EnvoyMirrorPolicy {
  cluster?: string;
  runtime_fraction?: EnvoyRuntimeFractionalPercent;
  trace_sampled?: { value?: boolean };
}

export interface EnvoyRouteAction {
  cluster?: string;
  cluster_header?: string;
  weighted_clusters?: { clusters?: EnvoyClusterWeight[]; total_weight?: { value?: number }; runtime_key_prefix?: string };
  cluster_not_found_response_code?: 'SERVICE_UNAVAILABLE' | 'NOT_FOUND' | 'INTERNAL_SERVER_ERROR' | string;
  prefix_rewrite?: string;
  regex_rewrite?: { pattern?: EnvoyRegexMatcher; substitution?: string };
  host_rewrite_literal?: string;
  auto_host_rewrite?: { value?: boolean };
  host_rewrite_header?: string;
  timeout?: XdsDuration;
  idle_timeout?: XdsDuration;
  retry_policy?: EnvoyRetryPolicy;
  request_mirror_policies?: EnvoyMirrorPolicy[];
  hash_policy?: EnvoyHashPolicy[];
  max_stream_duration?: {
    max_stream_duration?: XdsDuration;
    grpc_timeout_header_max?: XdsDuration;
    grpc_timeout_header_offset?: XdsDuration;
  };
  max_grpc_timeout?: XdsDuration;
  grpc_timeout_offset?: XdsDuration;
  upgrade_configs?: { upgrade_type?: string; enabled?: { value?: boolean } }[];
  priority?: string;
}

export interface EnvoyRedirectAction {
  https_redirect?: boolean;
  scheme_redirect?: string;
  host_redirect?: string;
  port_redirect?: number;
  path_redirect?: string;
  prefix_rewrite?: string;
  regex_rewrite?: { pattern?: EnvoyRegexMatcher; substitution?: string };
  response_code?: 'MOVED_PERMANENTLY' | 'FOUND' | 'SEE_OTHER' | 'TEMPORARY_REDIRECT' | 'PERMANENT_REDIRECT' | string;
  strip_query?: boolean;
}

export interface EnvoyDirectResponseAction {
  status?: number;
  body?: { inline_string?: string; inline_bytes?: string; filename?: string };
}

export interface EnvoyRoute extends EnvoyHeaderMutationFields {
  name?: string;
  match?: EnvoyRouteMatch;
  route?: EnvoyRouteAction;
  redirect?: EnvoyRedirectAction;
  direct_response?: EnvoyDirectResponseAction;
  non_forwarding_action?: Record<string, unknown>;
  typed_per_filter_config?: EnvoyTypedPerFilterConfig;
  decorator?: EnvoyDecorator;
  metadata?: unknown;
  tracing?: unknown;
  per_request_buffer_limit_bytes?: { value?: number };
}

export interface EnvoyDecorator {
  operation?: string;
  propagate?: { value?: boolean };
}

export interface EnvoyVirtualHost extends EnvoyHeaderMutationFields {
  name?: string;
  domains?: string[];
  routes?: EnvoyRoute[];
  require_tls?: 'NONE' | 'EXTERNAL_ONLY' | 'ALL' | string;
  typed_per_filter_config?: EnvoyTypedPerFilterConfig;
  retry_policy?: EnvoyRetryPolicy;
  include_request_attempt_count?: boolean;
}

export interface EnvoyRouteConfiguration extends EnvoyHeaderMutationFields {
  name?: string;
  virtual_hosts?: EnvoyVirtualHost[];
  most_specific_header_mutations_wins?: boolean;
  ignore_port_in_host_matching?: boolean;
  validate_clusters?: { value?: boolean };
  max_direct_response_body_size_bytes?: { value?: number };
  internal_only_headers?: string[];
  typed_per_filter_config?: EnvoyTypedPerFilterConfig;
}
