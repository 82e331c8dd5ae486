// Istio telemetry API spec (telemetry.istio.io v1alpha1 / v1).
import type { WorkloadSelector } from './networking.ts';

export interface ProviderRef {
  name: string;
}

export interface CustomTag {
  literal?: { value: string };
  environment?: { name: string; defaultValue?: string };
  header?: { name: string; defaultValue?: string };
}

export interface TracingSelector {
  mode?: 'CLIENT_AND_SERVER' | 'CLIENT' | 'SERVER';
}

export interface Tracing {
  match?: TracingSelector;
  providers?: ProviderRef[];
  randomSamplingPercentage?: number;
  disableSpanReporting?: boolean;
  customTags?: Record<string, CustomTag>;
  useRequestIdForTraceSampling?: boolean;
}

export interface MetricSelector {
  metric?: string;
  customMetric?: string;
  mode?: 'CLIENT_AND_SERVER' | 'CLIENT' | 'SERVER';
}

export interface MetricsOverrides {
  match?: MetricSelector;
  disabled?: boolean;
  tagOverrides?: Record<string, { operation?: 'UPSERT' | 'REMOVE'; value?: string }>;
}

export interface Metrics {
  providers?: ProviderRef[];
  overrides?: MetricsOverrides[];
  reportingInterval?: string;
}

export interface AccessLogging {
  match?: TracingSelector;
  providers?: ProviderRef[];
  disabled?: boolean;
  filter?: { expression: string };
}

export interface TelemetrySpec {
  selector?: WorkloadSelector;
  targetRef?: { group?: string; kind: string; name: string; namespace?: string };
  targetRefs?: { group?: string; kind: string; name: string; namespace?: string }[];
  tracing?: Tracing[];
  metrics?: Metrics[];
  accessLogging?: AccessLogging[];
}
