// Reads a proxy's xDS node (id + Istio metadata, docs/internals.md §4) into the ProxyView that
// translation works from. A node that says too little still gets a view; the ADS server decides trust.
import type { ProxyView } from '../model/proxy-view.ts';
import { fromStruct } from './any.ts';

export interface XdsNode {
  id?: string;
  cluster?: string;
  metadata?: unknown;
  user_agent_name?: string;
}

export interface NodeInfo {
  view: ProxyView;
  /** `grpc` for proxyless gRPC clients (Istio's `GENERATOR` key), otherwise `envoy`. */
  generator: 'grpc' | 'envoy';
  /** The pod (instance) name from `node.id`: `podinfo-stable-0`. */
  podName: string;
  metadata: Record<string, unknown>;
}

export class NodeError extends Error {
  readonly code = 'XDS_NODE';
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) if (typeof x === 'string') out[k] = x;
  return out;
}

function portMap(v: unknown): Record<number, number> {
  const out: Record<number, number> = {};
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      const from = Number(k);
      const to = Number(x);
      if (Number.isInteger(from) && Number.isInteger(to) && from > 0 && to > 0) out[from] = to;
    }
  }
  return out;
}

/**
 * `POD.NAMESPACE` of a node id: a namespace is a DNS label (no dots) while a pod name may hold dots,
 * so the namespace is what follows the last one.
 */
export function splitPodDotNamespace(podDotNs: string): { pod: string; namespace?: string } {
  const dot = podDotNs.lastIndexOf('.');
  return dot > 0 ? { pod: podDotNs.slice(0, dot), namespace: podDotNs.slice(dot + 1) } : { pod: podDotNs };
}

/** Parses `sidecar~IP~POD.NAMESPACE~NAMESPACE.svc.cluster.local` and the metadata Struct. */
export function parseNode(node: XdsNode | undefined): NodeInfo {
  const id = str(node?.id);
  if (!id) throw new NodeError('the first request on a stream must carry node.id');
  const metadata = node?.metadata ? fromStruct(node.metadata) : {};
  const parts = id.split('~');
  const role = parts[0] === 'router' ? 'router' : 'sidecar';
  const { pod, namespace: idNamespace } = splitPodDotNamespace(parts.length === 4 ? (parts[2] ?? '') : '');
  const podName = pod || id;
  const namespace = str(metadata['NAMESPACE']) ?? idNamespace ?? 'default';
  if (idNamespace && idNamespace !== namespace) {
    throw new NodeError(`node.id namespace ${idNamespace} disagrees with metadata NAMESPACE ${namespace}`);
  }
  const ips = str(metadata['INSTANCE_IPS'])?.split(',')[0]?.trim();
  const view: ProxyView = {
    id,
    role,
    namespace,
    workloadName: str(metadata['WORKLOAD_NAME']) ?? podName,
    serviceAccount: str(metadata['SERVICE_ACCOUNT']) ?? 'default',
    labels: stringMap(metadata['LABELS']),
    ip: (parts.length === 4 ? str(parts[1]) : undefined) ?? ips ?? '127.0.0.1',
    appPorts: portMap(metadata['OUTRIGGER_APP_PORTS']),
  };
  const tunnel = str(metadata['OUTRIGGER_TUNNEL_ADDRESS']);
  if (tunnel) view.tunnelAddress = tunnel;
  const generator = metadata['GENERATOR'] === 'grpc' ? 'grpc' : 'envoy';
  return { view, generator, podName, metadata };
}
