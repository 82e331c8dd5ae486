// Declared protocols: Service port names (or appProtocol) name a protocol Istio knows (IST0118; for an
// ExternalName Service, IST0150), and TCP ServiceEntries carry addresses (IST0134).
import type { Service, ServiceEntry } from '../../config/resource.ts';
import type { ServicePort } from '../../config/types/kubernetes.ts';
import type { Analyzer, Report } from '../analyzer.ts';
import { type AnalysisContext, controlPlane, systemNamespaces } from '../context.ts';

/** Istio's protocol names (pkg/config/protocol Parse), lower-cased. */
const protocols = new Set(['http', 'http2', 'https', 'grpc', 'grpc-web', 'tcp', 'tls', 'mongo', 'mysql', 'redis', 'udp', 'http_proxy']);

/** Kubernetes' own appProtocol names, which Istio's ConvertProtocol maps (h2c → HTTP2, ws → HTTP, wss → HTTPS). */
const kubernetesAppProtocols = new Set(['kubernetes.io/h2c', 'kubernetes.io/ws', 'kubernetes.io/wss']);

/** SMTP, DNS, MySQL, MongoDB: ConvertProtocol makes them TCP when the name says nothing. */
const wellKnownPorts = new Set([25, 53, 3306, 27017]);

/** Whether Istio's ConvertProtocol (pkg/config/kube) finds no protocol for the port. */
function unsupported(port: ServicePort): boolean {
  if (port.protocol === 'UDP') return false;
  const name = port.appProtocol ?? port.name ?? '';
  if (port.appProtocol !== undefined && kubernetesAppProtocols.has(name)) return false;
  if (name.toLowerCase().startsWith('grpc-web')) return false;
  if (protocols.has((name.split('-')[0] ?? '').toLowerCase())) return false;
  return !wellKnownPorts.has(port.port);
}

/** Services util.IsIstioControlPlane skips (label `istio`, or `release: istio`) and gateway-managed ones. */
function skipped(svc: Service): boolean {
  const labels = svc.metadata.labels;
  const managed = labels['gateway.istio.io/managed'];
  return (
    controlPlane(labels) ||
    managed === 'istio.io-gateway-controller' ||
    managed === 'istio.io-mesh-controller' ||
    managed === 'istio.io-eastwest-controller'
  );
}

/** Istio's service.PortNameAnalyzer: Services of system namespaces are skipped entirely. */
function portNames(ctx: AnalysisContext, report: Report): void {
  for (const svc of ctx.ofKind<Service>('Service')) {
    if (systemNamespaces.has(svc.metadata.namespace) || skipped(svc)) continue;
    const external = svc.spec.type === 'ExternalName';
    for (const [i, port] of (svc.spec.ports ?? []).entries()) {
      if (!unsupported(port) && !(external && port.name === 'tcp')) continue;
      const path = port.name === undefined ? ['spec', 'ports', i] : ['spec', 'ports', i, 'name'];
      if (external) {
        report({
          code: 'IST0150',
          resource: svc,
          path,
          message: 'Port name for ExternalName service is invalid. Proxy may prevent tcp named ports and unmatched traffic for ports serving TCP protocol from being forwarded correctly',
          fix: 'Name the port for the protocol the external service speaks (http, https, tls, ...), not tcp.',
        });
        continue;
      }
      report({
        code: 'IST0118',
        resource: svc,
        path,
        message: `Port name ${port.name ?? ''} (port: ${port.port}, targetPort: ${port.targetPort ?? port.port}) doesn't follow the naming convention of Istio port.`,
        fix: 'Name the port <protocol>[-suffix] (http, http-web, grpc, tcp-db, ...) or set appProtocol to one of Istio\'s protocols, so the protocol is declared, not sniffed.',
      });
    }
  }
}

/**
 * Istio's serviceentry ProtocolAddressesAnalyzer: a TCP (or unset) port needs addresses, unless the mesh
 * allocates them (meshConfig.defaultConfig.proxyMetadata ISTIO_META_DNS_CAPTURE with
 * ISTIO_META_DNS_AUTO_ALLOCATE or PILOT_ENABLE_IP_AUTOALLOCATE). Wildcard hosts are not exempt.
 */
function addresses(ctx: AnalysisContext, report: Report): void {
  const meta = ctx.mesh.raw.defaultConfig?.proxyMetadata ?? {};
  if (meta['ISTIO_META_DNS_CAPTURE'] === 'true' && (meta['ISTIO_META_DNS_AUTO_ALLOCATE'] === 'true' || meta['PILOT_ENABLE_IP_AUTOALLOCATE'] === 'true')) return;
  for (const se of ctx.ofKind<ServiceEntry>('ServiceEntry')) {
    if ((se.spec.addresses ?? []).length > 0) continue;
    for (const [i, port] of (se.spec.ports ?? []).entries()) {
      const proto = (port.protocol ?? '').toLowerCase();
      if (proto !== '' && proto !== 'tcp') continue;
      report({
        code: 'IST0134',
        resource: se,
        path: ['spec', 'ports', i, 'protocol'],
        message: 'ServiceEntry addresses are required for this protocol.',
        fix: 'Add spec.addresses (a VIP or CIDR), or declare an HTTP/TLS protocol for the port.',
      });
    }
  }
}

export const portProtocols: Analyzer = {
  name: 'service.PortNameAnalyzer',
  codes: ['IST0118', 'IST0150', 'IST0134'],
  analyze(ctx, report) {
    portNames(ctx, report);
    addresses(ctx, report);
  },
};
