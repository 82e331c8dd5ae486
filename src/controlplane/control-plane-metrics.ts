// The control plane's metric families, under Istio's pilot names where one exists (so existing
// dashboards and alerts read them) and `outrigger_` otherwise.
import { MetricRegistry } from './prometheus.ts';

const seconds = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const bytes = [1_000, 10_000, 100_000, 1_000_000, 4_000_000, 10_000_000];

/** `type.googleapis.com/envoy.config.cluster.v3.Cluster` → `cds`. */
export function shortType(typeUrl: string): string {
  if (typeUrl.endsWith('.Cluster')) return 'cds';
  if (typeUrl.endsWith('.ClusterLoadAssignment')) return 'eds';
  if (typeUrl.endsWith('.Listener')) return 'lds';
  if (typeUrl.endsWith('.RouteConfiguration')) return 'rds';
  if (typeUrl.endsWith('.Secret')) return 'sds';
  return typeUrl.slice(typeUrl.lastIndexOf('.') + 1).toLowerCase();
}

export function controlPlaneMetrics() {
  const registry = new MetricRegistry();
  return {
    registry,
    pushes: registry.counter('pilot_xds_pushes', 'xDS responses sent, by type.'),
    pushTime: registry.histogram('pilot_xds_push_time', 'Seconds to compute and send one push to every connected proxy.', seconds),
    translationTime: registry.histogram('outrigger_xds_translation_seconds', 'Seconds to translate the mesh snapshot for one proxy.', seconds),
    convergence: registry.histogram('pilot_proxy_convergence_time', 'Seconds from a config change to the proxy ACKing it.', seconds),
    debounce: registry.histogram('pilot_debounce_time', 'Seconds a config change waited in the debounce.', seconds),
    rejects: registry.counter('pilot_total_xds_rejects', 'NACKs received from proxies, by type.'),
    connected: registry.gauge('pilot_xds', 'Connected xDS streams.'),
    configBytes: registry.gauge('outrigger_xds_config_bytes', 'Bytes of xDS config last sent, per proxy.'),
    configSize: registry.histogram('pilot_xds_config_size_bytes', 'Size of one xDS response in bytes, by type.', bytes),
    refused: registry.counter('outrigger_xds_refused_streams_total', 'ADS streams and CSDS calls refused, by reason code.'),
    translationErrors: registry.counter('outrigger_xds_translation_errors_total', 'Resources that failed to encode or translate, by type.'),
    rejectedResources: registry.gauge('outrigger_config_rejected_resources', 'Config resources excluded as invalid (error diagnostics).'),
    heldResources: registry.gauge('outrigger_config_held_resources', 'Invalid resources still served at their last good version.'),
    snapshots: registry.counter('outrigger_snapshots_total', 'Mesh snapshots built.'),
    certificatesIssued: registry.counter('citadel_server_success_cert_issuance_count', 'Workload certificates signed, by how the caller authenticated (auth: token, client_certificate).'),
    rootCertExpiry: registry.gauge('citadel_server_root_cert_expiry_timestamp', 'Unix time (seconds) when the mesh root certificate expires.'),
  };
}

export type ControlPlaneMetrics = ReturnType<typeof controlPlaneMetrics>;
