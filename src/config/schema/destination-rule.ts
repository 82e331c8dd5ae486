// DestinationRule (networking.istio.io v1alpha3/v1beta1/v1): load balancing, connection pools,
// outlier detection and client TLS, per host, per subset and per port.
import * as z from 'zod';
import { bool, deprecated, duration, int, labelSelector, num, obj, oneOf, port, portSelector, sanList, str, strList, strMap, uint, withRules } from './common.ts';

const consistentHash = withRules(
  obj({
    httpHeaderName: str.optional(),
    httpCookie: obj({ name: str, path: str.optional(), ttl: z.union([duration, z.literal('0s')]).optional(), attributes: z.array(obj({ name: str, value: str.optional() })).optional() }).optional(),
    useSourceIp: bool.optional(),
    httpQueryParameterName: str.optional(),
    ringHash: obj({ minimumRingSize: uint.optional() }).optional(),
    maglev: obj({ tableSize: uint.optional() }).optional(),
    minimumRingSize: uint.optional(),
  }),
  oneOf(['httpHeaderName', 'httpCookie', 'useSourceIp', 'httpQueryParameterName']),
  oneOf(['ringHash', 'maglev', 'minimumRingSize']),
  deprecated('minimumRingSize', 'ringHash.minimumRingSize'),
);

const localityLbSetting = obj({
  distribute: z.array(obj({ from: str.optional(), to: z.record(z.string(), uint).optional() })).optional(),
  failover: z.array(obj({ from: str.optional(), to: str.optional() })).optional(),
  failoverPriority: strList.optional(),
  enabled: bool.optional(),
});

const loadBalancer = withRules(
  obj({
    simple: z.enum(['UNSPECIFIED', 'LEAST_CONN', 'RANDOM', 'PASSTHROUGH', 'ROUND_ROBIN', 'LEAST_REQUEST']).optional(),
    consistentHash: consistentHash.optional(),
    localityLbSetting: localityLbSetting.optional(),
    warmupDurationSecs: duration.optional(),
    warmup: obj({ duration, minimumPercent: z.number().min(0).max(100).optional(), aggression: z.number().min(1).optional() }).optional(),
  }),
  oneOf(['simple', 'consistentHash']),
  oneOf(['warmupDurationSecs', 'warmup']),
);

export const connectionPool = obj({
  tcp: obj({
    maxConnections: uint.optional(),
    connectTimeout: duration.optional(),
    tcpKeepalive: obj({ probes: uint.optional(), time: duration.optional(), interval: duration.optional() }).optional(),
    maxConnectionDuration: duration.optional(),
    idleTimeout: duration.optional(),
  }).optional(),
  http: obj({
    http1MaxPendingRequests: uint.optional(),
    http2MaxRequests: uint.optional(),
    maxRequestsPerConnection: uint.optional(),
    maxRetries: uint.optional(),
    idleTimeout: duration.optional(),
    h2UpgradePolicy: z.enum(['DEFAULT', 'DO_NOT_UPGRADE', 'UPGRADE']).optional(),
    useClientProtocol: bool.optional(),
    maxConcurrentStreams: uint.optional(),
  }).optional(),
});

const outlierDetection = withRules(
  obj({
    splitExternalLocalOriginErrors: bool.optional(),
    consecutiveLocalOriginFailures: uint.optional(),
    consecutiveGatewayErrors: uint.optional(),
    consecutive5xxErrors: uint.optional(),
    consecutiveErrors: int.optional(),
    interval: duration.optional(),
    baseEjectionTime: duration.optional(),
    maxEjectionPercent: z.number().int().min(0).max(100).optional(),
    minHealthPercent: z.number().int().min(0).max(100).optional(),
  }),
  // Istio's applyOutlierDetection no longer reads it: translation ignores it too, and says so.
  (v, add) => {
    if (v['consecutiveErrors'] !== undefined) add(['consecutiveErrors'], 'OR1033', 'consecutiveErrors is deprecated and ignored (as by Istio); use consecutive5xxErrors or consecutiveGatewayErrors');
  },
);

const clientTls = withRules(
  obj({
    mode: z.enum(['DISABLE', 'SIMPLE', 'MUTUAL', 'ISTIO_MUTUAL']).optional(),
    clientCertificate: str.optional(),
    privateKey: str.optional(),
    caCertificates: str.optional(),
    credentialName: str.optional(),
    subjectAltNames: sanList.optional(),
    sni: str.optional(),
    insecureSkipVerify: bool.optional(),
    caCrl: str.optional(),
  }),
  (v, add) => {
    if (v['mode'] === 'MUTUAL' && v['credentialName'] === undefined) {
      for (const f of ['clientCertificate', 'privateKey']) {
        if (v[f] === undefined) add([], 'OR1022', `mode MUTUAL needs ${f} (or credentialName)`);
      }
    }
  },
);

const portTrafficPolicy = obj({
  port: portSelector.optional(),
  loadBalancer: loadBalancer.optional(),
  connectionPool: connectionPool.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTls.optional(),
});

const trafficPolicy = obj({
  loadBalancer: loadBalancer.optional(),
  connectionPool: connectionPool.optional(),
  outlierDetection: outlierDetection.optional(),
  tls: clientTls.optional(),
  portLevelSettings: z.array(portTrafficPolicy).optional(),
  tunnel: obj({ protocol: z.enum(['CONNECT', 'POST']).optional(), targetHost: str, targetPort: port }).optional(),
  proxyProtocol: obj({ version: z.enum(['V1', 'V2']).optional() }).optional(),
  retryBudget: obj({ percent: obj({ value: num.min(0).max(100) }).optional(), minRetryConcurrency: uint.optional(), budgetInterval: duration.optional() }).optional(),
});

const subset = obj({ name: z.string().min(1), labels: strMap.optional(), trafficPolicy: trafficPolicy.optional() });

export const destinationRuleSpec = withRules(
  obj({
    host: z.string().min(1, 'host is required'),
    trafficPolicy: trafficPolicy.optional(),
    subsets: z.array(subset).optional(),
    exportTo: strList.optional(),
    workloadSelector: labelSelector.optional(),
  }),
  (v, add) => {
    const subsets = v['subsets'];
    if (!Array.isArray(subsets)) return;
    const seen = new Set<string>();
    subsets.forEach((s: unknown, i) => {
      const name = s && typeof s === 'object' ? (s as Record<string, unknown>)['name'] : undefined;
      if (typeof name !== 'string') return;
      if (seen.has(name)) add(['subsets', i, 'name'], 'OR1024', `duplicate subset name "${name}"`);
      seen.add(name);
    });
  },
);
