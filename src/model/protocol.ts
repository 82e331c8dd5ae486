// Service port protocols, decided as Istio decides them: `appProtocol` first, then a `grpc-web` name
// prefix, then the port name up to its first `-` (`http-web` → HTTP), else left to detection ('auto').

/**
 * `GRPC-WEB` is Istio's `GRPC-Web` (`appProtocol: grpc-web`, a port named `grpc-web…`, a ServiceEntry's or
 * Sidecar's `GRPC-Web`): served as HTTP, counted as gRPC where Istio's `IsGRPC()` counts it (the inbound
 * route: see listener-inbound.ts) and spoken as HTTP/2 upstream, as Istio's `IsHTTP2()` (see isHttp2).
 */
export type Protocol = 'HTTP' | 'HTTP2' | 'GRPC' | 'GRPC-WEB' | 'HTTPS' | 'TLS' | 'TCP' | 'MONGO' | 'REDIS' | 'MYSQL' | 'UDP' | 'auto';

const byName: Record<string, Protocol> = {
  http: 'HTTP',
  http2: 'HTTP2',
  h2c: 'HTTP2',
  grpc: 'GRPC',
  'grpc-web': 'GRPC-WEB',
  https: 'HTTPS',
  tls: 'TLS',
  tcp: 'TCP',
  mongo: 'MONGO',
  redis: 'REDIS',
  mysql: 'MYSQL',
  udp: 'UDP',
  'kubernetes.io/h2c': 'HTTP2',
  'kubernetes.io/ws': 'HTTP',
  'kubernetes.io/wss': 'HTTPS',
};

/** Parses a protocol word (`HTTP`, `grpc`, `kubernetes.io/h2c`); 'auto' when unknown. */
export function parseProtocol(word: string | undefined): Protocol {
  if (!word) return 'auto';
  return byName[word.toLowerCase()] ?? 'auto';
}

// Server-first protocols (the server speaks first, so there is nothing to sniff) on their well-known
// ports: an undeclared port with one of these numbers is TCP. Istio's `wellKnownPorts` (SMTP 25, DNS 53,
// MySQL 3306, MongoDB 27017) in pilot/pkg/serviceregistry/kube/conversion.go `ConvertProtocol`, checked
// against the Service port number.
const serverFirstPorts: ReadonlySet<number> = new Set([25, 53, 3306, 27017]);

const GRPC_WEB_PREFIX = /^grpc-web/i;

/** The protocol of a Kubernetes Service port. */
export function kubernetesPortProtocol(port: { name?: string; appProtocol?: string; protocol?: string; port?: number }): Protocol {
  if (port.protocol === 'UDP') return 'UDP';
  let p: Protocol;
  if (port.appProtocol) p = parseProtocol(port.appProtocol);
  else {
    const name = port.name ?? '';
    // Istio's ConvertProtocol looks for the `grpc-web` prefix (any case) before it cuts the name at its
    // first '-', which would leave `grpc`: `grpc-web`, `grpc-web-ui` and `grpc-webui` are gRPC-Web.
    if (GRPC_WEB_PREFIX.test(name)) p = 'GRPC-WEB';
    else {
      const dash = name.indexOf('-');
      p = parseProtocol(dash >= 0 ? name.slice(0, dash) : name);
    }
  }
  return p === 'auto' && port.port !== undefined && serverFirstPorts.has(port.port) ? 'TCP' : p;
}

/** Protocols that the HTTP connection manager serves (routes, retries, faults). */
export function isHttp(p: Protocol): boolean {
  return p === 'HTTP' || p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';
}

/** Istio's `protocol.IsGRPC()`: gRPC and gRPC-Web. */
export function isGrpc(p: Protocol): boolean {
  return p === 'GRPC' || p === 'GRPC-WEB';
}

/**
 * Protocols spoken as HTTP/2 to the upstream: Istio's `protocol.Instance.IsHTTP2()` (HTTP2, GRPC, GRPC-Web),
 * which its cluster builder's setUpstreamProtocol turns into http2_protocol_options, outbound and inbound.
 * Istio's inbound listener converts gRPC-Web to gRPC first (the grpc_web filter); Outrigger has no such
 * filter, so a gRPC-Web request reaches the app unconverted, over HTTP/2 (docs/translation.md).
 */
export function isHttp2(p: Protocol): boolean {
  return p === 'HTTP2' || p === 'GRPC' || p === 'GRPC-WEB';
}
