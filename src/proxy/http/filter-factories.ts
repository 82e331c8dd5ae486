// The HTTP filters a proxy knows by default, in one list: the connection manager looks them up by
// Envoy name or type URL. A new filter is one line here.
import type { Writable } from 'node:stream';
import type { Duplex } from 'node:stream';
import type { TelemetryWorkloadConfig } from '../../telemetry/filter-config.ts';
import type { MetricsRegistry } from '../../telemetry/metrics/registry.ts';
import { createCorsFilterFactory } from '../filters/cors/filter.ts';
import { createExtAuthzFilterFactory } from '../filters/ext_authz/http-filter.ts';
import { createFaultFilterFactory } from '../filters/fault/filter.ts';
import { createJwtAuthnFilterFactory } from '../filters/jwt_authn/http-filter.ts';
import { createRbacFilterFactory } from '../filters/rbac/http-filter.ts';
import type { ClusterServices } from '../filters/telemetry/edges.ts';
import { createTelemetryFilterFactory } from '../filters/telemetry/index.ts';
import type { HttpFilterFactory } from './filter.ts';
import type { Timers } from './router.ts';

export interface FilterFactoryDeps {
  registry: MetricsRegistry;
  /** The proxy's clock (ms since the epoch): telemetry's timestamps, jwt_authn's exp, nbf and JWKS cache age. */
  now?: () => number;
  random?: () => number;
  /** Local mode: policy denials carry their receipt (deciding policy and rule) without the debug header. */
  localMode?: boolean;
  /** Where spans go, overriding the tracing provider's address (local mode: the built-in collector). */
  traceEndpoint?: string;
  /** The proxy's own output: where `/dev/stdout` and `/dev/stderr` access logs go when the proxy shares its process. */
  output?: Writable;
  /** The proxy's pod environment: what `environment` span tags read (process.env by default). */
  env?: Readonly<Record<string, string | undefined>>;
  /** The proxy's xDS node id: spans carry it as `node_id`, as Envoy's do. */
  nodeId?: string;
  /** Opens a stream to a cluster's endpoint: how ext_authz reaches its service by cluster name; `signal` abandons the dial. */
  dialCluster?: (cluster: string, signal?: AbortSignal) => Promise<Duplex>;
  /** This proxy's workload, from its node metadata: the telemetry filter's local identity. */
  localWorkload?: TelemetryWorkloadConfig;
  /** A cluster's `istio.services` metadata, by cluster name (the telemetry filter's inbound service). */
  clusterServices?: ClusterServices;
  /** The proxy is a gateway (node type `router`): its telemetry never names a service after the Host header. */
  gateway?: boolean;
  /** The proxy's timers: fault delays, ext_authz's check timeout and jwt_authn's JWKS fetch timeout run on them. */
  timers?: Timers;
}

export function defaultFilterFactories(deps: FilterFactoryDeps): HttpFilterFactory[] {
  const random = deps.random ?? Math.random;
  return [
    createRbacFilterFactory({ localMode: deps.localMode === true }),
    // A token's exp and nbf are read on the proxy's clock, not the host's: a test clock in tests.
    createJwtAuthnFilterFactory({ ...(deps.now ? { now: deps.now } : {}), ...(deps.timers ? { timers: deps.timers } : {}) }),
    createExtAuthzFilterFactory({ ...(deps.dialCluster ? { dial: deps.dialCluster } : {}), ...(deps.timers ? { timers: deps.timers } : {}) }),
    createFaultFilterFactory(deps.timers ? { random: Math.random, timer: deps.timers } : undefined),
    createCorsFilterFactory(random),
    createTelemetryFilterFactory({
      registry: deps.registry,
      random,
      ...(deps.now ? { now: deps.now } : {}),
      ...(deps.traceEndpoint ? { traceEndpoint: () => deps.traceEndpoint } : {}),
      ...(deps.output ? { output: deps.output } : {}),
      ...(deps.env ? { env: deps.env } : {}),
      ...(deps.nodeId ? { nodeId: deps.nodeId } : {}),
      ...(deps.localWorkload ? { localWorkload: deps.localWorkload } : {}),
      ...(deps.clusterServices ? { clusterServices: deps.clusterServices } : {}),
      ...(deps.gateway ? { gateway: true } : {}),
    }),
  ];
}
