// IstioOperator (install.istio.io/v1alpha1). The top level and components are checked field by field;
// meshConfig's well-known fields are typed, the rest of MeshConfig and Helm `values` pass through, as
// istioctl only checks them against the chart.
import * as z from 'zod';
import { isTrustDomain } from '../../ca/spiffe-id.ts';
import { bool, duration, issueCode, num, obj, port, str, strList, strMap, uint } from './common.ts';
import { proxyStatsMatcher } from './proxy-stats-matcher.ts';

const any = z.unknown().optional();

const component = obj({
  enabled: bool.optional(),
  name: str.optional(),
  namespace: str.optional(),
  hub: str.optional(),
  tag: z.union([str, num]).optional(),
  label: strMap.optional(),
  k8s: z.record(z.string(), z.unknown()).optional(),
  spec: any,
});

const extensionProvider = z.looseObject({ name: z.string().min(1) });

const defaultConfig = z.looseObject({
  concurrency: uint.optional(),
  holdApplicationUntilProxyStarts: bool.optional(),
  tracing: z.looseObject({ sampling: z.number().min(0).max(100).optional(), max_path_tag_length: uint.optional() }).optional(),
  proxyMetadata: strMap.optional(),
  terminationDrainDuration: duration.optional(),
  drainDuration: duration.optional(),
  proxyHeaders: z
    .looseObject({
      server: obj({ disabled: bool.optional(), value: str.optional() }).optional(),
      requestId: obj({ disabled: bool.optional() }).optional(),
      attemptCount: obj({ disabled: bool.optional() }).optional(),
      envoyDebugHeaders: obj({ disabled: bool.optional() }).optional(),
    })
    .optional(),
  proxyStatsMatcher: proxyStatsMatcher.optional(),
});

/** A SPIFFE trust domain: certificates and secure naming are built from it, so a bad one fails every handshake. */
const trustDomain = (what: string, allowEmpty: boolean) =>
  str.superRefine((td, ctx) => {
    if (!(allowEmpty && td === '') && !isTrustDomain(td)) {
      const lower = td.toLowerCase();
      ctx.addIssue({ code: 'custom', message: `${what} "${td}" is not a SPIFFE trust domain: use lower-case letters, digits, '.', '-' and '_'${lower !== td ? ` (e.g. "${lower}")` : ''}`, ...issueCode('OR1024') });
    }
  });

const meshConfig = z.looseObject({
  // An empty trustDomain means the default; an empty alias means nothing.
  trustDomain: trustDomain('trustDomain', true).optional(),
  trustDomainAliases: z.array(trustDomain('trust domain alias', false)).optional(),
  rootNamespace: str.optional(),
  enableTracing: bool.optional(),
  accessLogFile: str.optional(),
  accessLogEncoding: z.enum(['TEXT', 'JSON']).optional(),
  accessLogFormat: str.optional(),
  defaultConfig: defaultConfig.optional(),
  extensionProviders: z.array(extensionProvider).optional(),
  defaultProviders: obj({ tracing: strList.optional(), metrics: strList.optional(), accessLogging: strList.optional() }).optional(),
  outboundTrafficPolicy: obj({ mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional() }).optional(),
  defaultServiceExportTo: strList.optional(),
  defaultVirtualServiceExportTo: strList.optional(),
  defaultDestinationRuleExportTo: strList.optional(),
  enableAutoMtls: bool.optional(),
  connectTimeout: duration.optional(),
  protocolDetectionTimeout: z.string().optional(),
  proxyListenPort: port.optional(),
  proxyHttpPort: port.optional(),
  pathNormalization: obj({ normalization: z.enum(['DEFAULT', 'NONE', 'BASE', 'MERGE_SLASHES', 'DECODE_AND_MERGE_SLASHES']).optional() }).optional(),
  // Istio's HTTPRetry, as a VirtualService's `retries`.
  defaultHttpRetryPolicy: obj({
    attempts: uint.optional(),
    perTryTimeout: duration.optional(),
    retryOn: str.optional(),
    retryRemoteLocalities: bool.optional(),
    retryIgnorePreviousHosts: bool.optional(),
    backoff: duration.optional(),
  }).optional(),
  tlsDefaults: obj({ minProtocolVersion: z.enum(['TLS_AUTO', 'TLSV1_2', 'TLSV1_3']).optional(), ecdhCurves: strList.optional(), cipherSuites: strList.optional() }).optional(),
});

export const istioOperatorSpec = obj({
  profile: str.optional(),
  installPackagePath: str.optional(),
  hub: str.optional(),
  tag: z.union([str, num]).optional(),
  resourceSuffix: str.optional(),
  namespace: str.optional(),
  revision: str.optional(),
  compatibilityVersion: str.optional(),
  defaultRevision: bool.optional(),
  meshConfig: meshConfig.optional(),
  components: obj({
    base: component.optional(),
    pilot: component.optional(),
    cni: component.optional(),
    ztunnel: component.optional(),
    istiodRemote: component.optional(),
    ingressGateways: z.array(component).optional(),
    egressGateways: z.array(component).optional(),
  }).optional(),
  values: z.record(z.string(), z.unknown()).optional(),
  unvalidatedValues: z.record(z.string(), z.unknown()).optional(),
});
