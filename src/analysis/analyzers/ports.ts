// Declared protocols: Service port names follow <protocol>[-suffix] (IST0118), appProtocol and
// prefixes name known protocols (OR2005), and TCP ServiceEntries carry addresses (IST0134).
import type { Service, ServiceEntry } from '../../config/resource.ts';
import type { Analyzer } from '../analyzer.ts';

/** Istio's protocol names (pkg/config/protocol), lower-cased as port names use them. */
const protocols = new Set(['http', 'http2', 'https', 'grpc', 'grpc-web', 'tcp', 'tls', 'mongo', 'mysql', 'redis', 'udp', 'http_proxy']);

function prefixOf(name: string): string {
  return name.startsWith('grpc-web') ? 'grpc-web' : (name.split('-')[0] ?? '');
}

export const portProtocols: Analyzer = {
  name: 'service.PortNameAnalyzer',
  codes: ['IST0118', 'OR2005', 'IST0134'],
  analyze(ctx, report) {
    for (const svc of ctx.ofKind<Service>('Service')) {
      if (ctx.isSystemNamespace(svc.metadata.namespace) || svc.spec.type === 'ExternalName') continue;
      for (const [i, port] of (svc.spec.ports ?? []).entries()) {
        const app = port.appProtocol;
        if (app !== undefined) {
          // kubernetes.io/h2c and other domain-qualified names are Kubernetes' own and valid.
          if (!app.includes('/') && !protocols.has(app.toLowerCase())) {
            report({
              code: 'OR2005',
              resource: svc,
              path: ['spec', 'ports', i, 'appProtocol'],
              message: `appProtocol "${app}" is not a protocol Istio knows; traffic on port ${port.port} is treated as TCP`,
              fix: `Use one of ${[...protocols].join(', ')}.`,
            });
          }
          continue;
        }
        const name = port.name ?? '';
        if (protocols.has(prefixOf(name).toLowerCase())) continue;
        report({
          code: 'IST0118',
          resource: svc,
          path: port.name === undefined ? ['spec', 'ports', i] : ['spec', 'ports', i, 'name'],
          message: `Port name ${name || '(none)'} (port: ${port.port}, targetPort: ${port.targetPort ?? port.port}) doesn't follow the naming convention of Istio port`,
          fix: 'Name the port <protocol>[-suffix] (http, http-web, grpc, tcp-db, ...) or set appProtocol, so the protocol is declared, not sniffed.',
        });
      }
    }
    for (const se of ctx.ofKind<ServiceEntry>('ServiceEntry')) {
      if ((se.spec.addresses ?? []).length > 0 || (se.spec.hosts ?? []).some((h) => h.startsWith('*'))) continue;
      for (const [i, port] of (se.spec.ports ?? []).entries()) {
        const proto = (port.protocol ?? '').toLowerCase();
        if (proto !== '' && proto !== 'tcp') continue;
        report({
          code: 'IST0134',
          resource: se,
          path: ['spec', 'ports', i, 'protocol'],
          message: `ServiceEntry addresses are required for port ${port.number} with protocol ${port.protocol ?? '(unset)'}`,
          fix: 'Add spec.addresses (a VIP or CIDR), or declare an HTTP/TLS protocol for the port.',
        });
      }
    }
  },
};
