// The Kubernetes kinds a local mesh reads. Every field Kubernetes defines is named (so misspellings are
// caught); the parts Outrigger runs (containers, ports, env, probes) are typed, the rest pass through.
import * as z from 'zod';
import { bool, intOrString, obj, port, str, strList, strMap, uint, withRules } from './common.ts';
import { dnsName } from './metadata.ts';
import { podAnnotations } from './proxy-stats-matcher.ts';

const any = z.unknown().optional();

/**
 * A LabelSelector's expression, as the API server validates it: In and NotIn name at least one value,
 * Exists and DoesNotExist none.
 */
const labelSelectorRequirement = withRules(obj({ key: z.string().min(1), operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist']), values: strList.optional() }), (v, add) => {
  const n = Array.isArray(v['values']) ? v['values'].length : 0;
  if ((v['operator'] === 'In' || v['operator'] === 'NotIn') && n === 0) add(['values'], 'OR1022', `operator ${v['operator']} needs at least one value`);
  if ((v['operator'] === 'Exists' || v['operator'] === 'DoesNotExist') && n > 0) add(['values'], 'OR1024', `operator ${v['operator']} takes no values`);
});

/** Kubernetes' `metav1.LabelSelector`. */
export const labelSelector = obj({ matchLabels: strMap.optional(), matchExpressions: z.array(labelSelectorRequirement).optional() });

const probe = obj({
  exec: obj({ command: strList }).optional(),
  httpGet: obj({ path: str.optional(), port: intOrString, host: str.optional(), scheme: z.enum(['HTTP', 'HTTPS']).optional(), httpHeaders: z.array(obj({ name: str, value: str })).optional() }).optional(),
  tcpSocket: obj({ port: intOrString, host: str.optional() }).optional(),
  grpc: obj({ port, service: str.optional() }).optional(),
  initialDelaySeconds: uint.optional(),
  periodSeconds: uint.optional(),
  timeoutSeconds: uint.optional(),
  successThreshold: uint.optional(),
  failureThreshold: uint.optional(),
  terminationGracePeriodSeconds: uint.optional(),
});

const keyRef = obj({ name: str, key: str, optional: bool.optional() });

const envVar = obj({
  name: z.string().min(1),
  value: str.optional(),
  valueFrom: obj({
    fieldRef: obj({ fieldPath: str, apiVersion: str.optional() }).optional(),
    resourceFieldRef: obj({ resource: str, containerName: str.optional(), divisor: z.union([str, z.number()]).optional() }).optional(),
    secretKeyRef: keyRef.optional(),
    configMapKeyRef: keyRef.optional(),
  }).optional(),
});

const quantity = z.record(z.string(), z.union([z.string(), z.number()]));

const container = obj({
  name: z.string().min(1),
  image: str.optional(),
  command: strList.optional(),
  args: strList.optional(),
  env: z.array(envVar).optional(),
  envFrom: any,
  ports: z.array(obj({ name: str.optional(), containerPort: port, protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(), hostPort: port.optional(), hostIP: str.optional() })).optional(),
  readinessProbe: probe.optional(),
  livenessProbe: probe.optional(),
  startupProbe: probe.optional(),
  resources: obj({ requests: quantity.optional(), limits: quantity.optional(), claims: any }).optional(),
  workingDir: str.optional(),
  imagePullPolicy: z.enum(['Always', 'IfNotPresent', 'Never']).optional(),
  lifecycle: any,
  resizePolicy: any,
  restartPolicy: any,
  securityContext: any,
  stdin: bool.optional(),
  stdinOnce: bool.optional(),
  terminationMessagePath: str.optional(),
  terminationMessagePolicy: str.optional(),
  tty: bool.optional(),
  volumeDevices: any,
  volumeMounts: any,
});

const podSpec = obj({
  containers: z.array(container).min(1, 'a pod needs at least one container'),
  initContainers: z.array(container).optional(),
  // A ServiceAccount's name, as Kubernetes requires it: the workload's SPIFFE ID is made of it, so a
  // '/' in it would make an ID that policies read as another namespace's (ns/x/ns/istio-system/...).
  serviceAccountName: dnsName(false).optional(),
  serviceAccount: dnsName(false).optional(),
  restartPolicy: z.enum(['Always', 'OnFailure', 'Never']).optional(),
  activeDeadlineSeconds: uint.optional(),
  terminationGracePeriodSeconds: uint.optional(),
  automountServiceAccountToken: bool.optional(),
  nodeSelector: strMap.optional(),
  hostname: str.optional(),
  subdomain: str.optional(),
  ...Object.fromEntries(
    [
      'affinity', 'dnsConfig', 'dnsPolicy', 'enableServiceLinks', 'ephemeralContainers', 'hostAliases', 'hostIPC', 'hostNetwork', 'hostPID',
      'hostUsers', 'imagePullSecrets', 'nodeName', 'os', 'overhead', 'preemptionPolicy', 'priority', 'priorityClassName', 'readinessGates',
      'resourceClaims', 'resources', 'runtimeClassName', 'schedulerName', 'schedulingGates', 'securityContext', 'setHostnameAsFQDN',
      'shareProcessNamespace', 'tolerations', 'topologySpreadConstraints', 'volumes',
    ].map((k) => [k, any]),
  ),
});

const podTemplate = obj({
  metadata: z.looseObject({ labels: strMap.optional(), annotations: podAnnotations.optional() }).optional(),
  spec: podSpec,
});

export const deploymentSpec = obj({
  replicas: uint.optional(),
  selector: obj({ matchLabels: strMap.optional(), matchExpressions: any }),
  template: podTemplate,
  strategy: any,
  minReadySeconds: uint.optional(),
  paused: bool.optional(),
  progressDeadlineSeconds: uint.optional(),
  revisionHistoryLimit: uint.optional(),
});

export const jobSpec = obj({
  template: podTemplate,
  backoffLimit: uint.optional(),
  completions: uint.optional(),
  parallelism: uint.optional(),
  activeDeadlineSeconds: uint.optional(),
  ttlSecondsAfterFinished: uint.optional(),
  selector: any,
  manualSelector: bool.optional(),
  suspend: bool.optional(),
  completionMode: z.enum(['NonIndexed', 'Indexed']).optional(),
  ...Object.fromEntries(['backoffLimitPerIndex', 'managedBy', 'maxFailedIndexes', 'podFailurePolicy', 'podReplacementPolicy', 'successPolicy'].map((k) => [k, any])),
});

const servicePort = obj({
  name: str.optional(),
  port,
  targetPort: intOrString.optional(),
  protocol: z.enum(['TCP', 'UDP', 'SCTP']).optional(),
  appProtocol: str.optional(),
  nodePort: port.optional(),
});

export const serviceSpec = obj({
  selector: strMap.optional(),
  ports: z.array(servicePort).optional(),
  type: z.enum(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']).optional(),
  clusterIP: str.optional(),
  clusterIPs: strList.optional(),
  externalName: str.optional(),
  sessionAffinity: z.enum(['None', 'ClientIP']).optional(),
  publishNotReadyAddresses: bool.optional(),
  ...Object.fromEntries(
    [
      'allocateLoadBalancerNodePorts', 'externalIPs', 'externalTrafficPolicy', 'healthCheckNodePort', 'internalTrafficPolicy', 'ipFamilies',
      'ipFamilyPolicy', 'loadBalancerClass', 'loadBalancerIP', 'loadBalancerSourceRanges', 'sessionAffinityConfig', 'trafficDistribution',
    ].map((k) => [k, any]),
  ),
});

export const namespaceSpec = obj({ finalizers: strList.optional() });

/** Top-level fields of kinds without a `spec`. */
export const serviceAccountFields = { automountServiceAccountToken: bool.optional(), imagePullSecrets: any, secrets: any };
export const secretFields = { type: str.optional(), data: strMap.optional(), stringData: strMap.optional(), immutable: bool.optional() };
export const configMapFields = { data: strMap.optional(), binaryData: strMap.optional(), immutable: bool.optional() };

