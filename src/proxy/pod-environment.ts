// The environment Istio's injector gives a sidecar container, rebuilt from the proxy's node: what
// `environment` custom tags read. Proxies sharing one process (the proxy host) each see their own pod.
import { splitPodDotNamespace } from '../xds/node-view.ts';

export type Environment = Readonly<Record<string, string | undefined>>;

export interface ProxyNode {
  /** `sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local`. */
  nodeId: string;
  metadata: Readonly<Record<string, unknown>>;
  /** `spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT`. */
  identity?: string;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

/**
 * Istio's injection template sets POD_NAME (metadata.name), POD_NAMESPACE (metadata.namespace),
 * INSTANCE_IP (status.podIP), SERVICE_ACCOUNT (spec.serviceAccountName) and ISTIO_META_* from the pod;
 * each is taken from the node metadata (NAME, NAMESPACE, INSTANCE_IPS, SERVICE_ACCOUNT, ...), else the
 * node id and identity. A name the pod does not say comes from `processEnv`; one neither says is absent.
 */
export function podEnvironment(node: ProxyNode, processEnv: Environment): Environment {
  const m = node.metadata;
  const parts = node.nodeId.split('~');
  const fromId = splitPodDotNamespace(parts.length === 4 ? (parts[2] ?? '') : '');
  const namespace = str(m['NAMESPACE']) ?? fromId.namespace;
  const podName = fromId.pod;
  const pod: Record<string, string | undefined> = {
    POD_NAME: str(m['NAME']) ?? str(podName),
    POD_NAMESPACE: namespace,
    INSTANCE_IP: str(str(m['INSTANCE_IPS'])?.split(',')[0]?.trim()) ?? (parts.length === 4 ? str(parts[1]) : undefined),
    SERVICE_ACCOUNT: str(m['SERVICE_ACCOUNT']) ?? /\/sa\/([^/]+)$/.exec(node.identity ?? '')?.[1],
    ISTIO_META_WORKLOAD_NAME: str(m['WORKLOAD_NAME']),
    ISTIO_META_CLUSTER_ID: str(m['CLUSTER_ID']),
    ISTIO_META_INTERCEPTION_MODE: str(m['INTERCEPTION_MODE']),
  };
  const env: Record<string, string | undefined> = { ...processEnv };
  for (const [name, value] of Object.entries(pod)) if (value !== undefined) env[name] = value;
  return env;
}
