// Gateway, ServiceEntry, WorkloadEntry, WorkloadGroup, Sidecar and ProxyConfig (networking.istio.io).
import * as z from 'zod';
import { bool, int, labelSelector, networkingWorkloadSelector, obj, port, sanList, str, strList, strMap, uint, withRules } from './common.ts';
import { connectionPool } from './destination-rule.ts';
import { dnsName } from './metadata.ts';
import { destination } from './virtual-service.ts';

const protocols = ['HTTP', 'HTTPS', 'GRPC', 'GRPC-WEB', 'HTTP2', 'MONGO', 'REDIS', 'MYSQL', 'TCP', 'TLS', 'UDP'];

/** Istio matches protocol names case-insensitively; unknown ones are treated as TCP, so they are an error here. */
const protocol = z.string().superRefine((p, ctx) => {
  if (!protocols.includes(p.toUpperCase())) {
    ctx.addIssue({ code: 'custom', message: `unknown protocol "${p}"; expected one of ${protocols.join(', ')}`, params: { code: 'OR1023', values: protocols } });
  }
});

export const servicePort = obj({ number: port, protocol, name: z.string().min(1), targetPort: port.optional() });
const gatewayPort = obj({ number: port, protocol, name: str.optional(), targetPort: port.optional() });

const tlsVersion = z.enum(['TLS_AUTO', 'TLSV1_0', 'TLSV1_1', 'TLSV1_2', 'TLSV1_3']);

export const serverTls = withRules(
  obj({
    httpsRedirect: bool.optional(),
    mode: z.enum(['PASSTHROUGH', 'SIMPLE', 'MUTUAL', 'AUTO_PASSTHROUGH', 'ISTIO_MUTUAL', 'OPTIONAL_MUTUAL']).optional(),
    serverCertificate: str.optional(),
    privateKey: str.optional(),
    caCertificates: str.optional(),
    caCrl: str.optional(),
    credentialName: str.optional(),
    credentialNames: strList.optional(),
    caCertCredentialName: str.optional(),
    tlsCertificates: z.array(obj({ serverCertificate: str.optional(), privateKey: str.optional(), caCertificates: str.optional() })).optional(),
    subjectAltNames: sanList.optional(),
    verifyCertificateSpki: strList.optional(),
    verifyCertificateHash: strList.optional(),
    minProtocolVersion: tlsVersion.optional(),
    maxProtocolVersion: tlsVersion.optional(),
    cipherSuites: strList.optional(),
    insecureSkipVerify: bool.optional(),
  }),
  (v, add) => {
    const mode = v['mode'];
    if ((mode === 'SIMPLE' || mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && !v['credentialName'] && !v['credentialNames'] && !v['tlsCertificates']) {
      for (const f of ['serverCertificate', 'privateKey']) {
        if (v[f] === undefined) add([], 'OR1022', `TLS mode ${String(mode)} needs credentialName or ${f}`);
      }
      if ((mode === 'MUTUAL' || mode === 'OPTIONAL_MUTUAL') && v['caCertificates'] === undefined) add([], 'OR1022', `TLS mode ${String(mode)} needs credentialName or caCertificates (the client CA bundle)`);
    }
  },
);

const server = withRules(
  obj({
    port: gatewayPort,
    bind: str.optional(),
    hosts: z.array(z.string().min(1)).min(1, 'a server needs at least one host'),
    tls: serverTls.optional(),
    defaultEndpoint: str.optional(),
    name: str.optional(),
  }),
  (v, add) => {
    const p = v['port'] as Record<string, unknown> | undefined;
    const proto = typeof p?.['protocol'] === 'string' ? (p['protocol'] as string).toUpperCase() : '';
    const tls = v['tls'] as Record<string, unknown> | undefined;
    // Istio's validateServerPort: the name keys a server's HTTPS route configuration, so it is required.
    if (p !== undefined && (typeof p['name'] !== 'string' || p['name'] === '')) add(['port', 'name'], 'OR1022', 'port name must be set');
    if ((proto === 'HTTPS' || proto === 'TLS') && tls === undefined) add(['port', 'protocol'], 'OR1022', `a ${proto} server needs a tls block`);
    // Istio forwards a sidecar's own mTLS by its SNI to the pods; the mesh tunnel cannot take it (docs/routing.md).
    if ((proto === 'HTTPS' || proto === 'TLS') && tls?.['mode'] === 'AUTO_PASSTHROUGH') add(['tls', 'mode'], 'OR1045', 'tls mode AUTO_PASSTHROUGH is not supported: the server gets no filter chain, so nothing serves it');
    // Istio's validateServer: a plain-text HTTP server may only say httpsRedirect; others none at all.
    if (tls !== undefined && proto !== 'HTTPS' && proto !== 'TLS') {
      const http = ['HTTP', 'HTTP2', 'GRPC', 'GRPC-WEB'].includes(proto);
      // PASSTHROUGH and AUTO_PASSTHROUGH terminate nothing (Istio's IsPassThroughServer).
      const terminates = (tls['mode'] !== undefined && tls['mode'] !== 'PASSTHROUGH' && tls['mode'] !== 'AUTO_PASSTHROUGH') || ['caCertificates', 'privateKey', 'serverCertificate'].some((f) => tls[f] !== undefined);
      if (!http) add(['tls'], 'OR1024', `a ${proto} server cannot have TLS settings; use protocol TLS or HTTPS`);
      else if (terminates) add(['tls'], 'OR1024', `a plain-text ${proto} server cannot have TLS settings other than httpsRedirect; use protocol HTTPS to terminate TLS`);
    }
  },
);

export const gatewaySpec = withRules(obj({ servers: z.array(server).min(1, 'a Gateway needs at least one server'), selector: strMap.optional() }), (v, add) => {
  // Istio: port names in servers must be unique (they name the HTTPS route configurations).
  const seen = new Set<string>();
  for (const [i, srv] of ((v['servers'] as { port?: { name?: unknown } }[] | undefined) ?? []).entries()) {
    const name = srv?.port?.name;
    if (typeof name !== 'string') continue;
    if (seen.has(name)) add(['servers', i, 'port', 'name'], 'OR1024', `port names in servers must be unique: duplicate name ${name}`);
    seen.add(name);
  }
});

export const workloadEntrySpec = obj({
  address: str.optional(),
  ports: z.record(z.string(), port).optional(),
  labels: strMap.optional(),
  network: str.optional(),
  locality: str.optional(),
  weight: uint.optional(),
  // Its SPIFFE ID's account: a DNS name, as a pod's serviceAccountName (kubernetes.ts).
  serviceAccount: dnsName(false).optional(),
});

export const serviceEntrySpec = withRules(
  obj({
    hosts: z.array(z.string().min(1)).min(1, 'a ServiceEntry needs at least one host'),
    addresses: strList.optional(),
    ports: z.array(servicePort).optional(),
    location: z.enum(['MESH_EXTERNAL', 'MESH_INTERNAL']).optional(),
    resolution: z.enum(['NONE', 'STATIC', 'DNS', 'DNS_ROUND_ROBIN', 'DYNAMIC_DNS']).optional(),
    endpoints: z.array(workloadEntrySpec).optional(),
    workloadSelector: networkingWorkloadSelector.optional(),
    exportTo: strList.optional(),
    subjectAltNames: sanList.optional(),
  }),
  (v, add) => {
    if (v['workloadSelector'] !== undefined && v['endpoints'] !== undefined) add(['endpoints'], 'OR1029', 'endpoints cannot be used together with workloadSelector');
    if (v['resolution'] === 'STATIC' && v['endpoints'] === undefined && v['workloadSelector'] === undefined) {
      add(['resolution'], 'OR1022', 'resolution STATIC needs endpoints or a workloadSelector');
    }
    // `.invalid` (RFC 6761) names no host anywhere: Outrigger points what must be refused there (a Gateway
    // API route's invalid backends), so no ServiceEntry may take those names and the traffic with them.
    for (const [i, h] of ((v['hosts'] as unknown[] | undefined) ?? []).entries()) {
      if (typeof h === 'string' && /(^|\.)invalid\.?$/i.test(h)) add(['hosts', i], 'OR1024', `${h} is under .invalid, a name reserved for what resolves nowhere (RFC 6761); name the service by a real host`);
    }
    // Istio's ValidateServiceEntry.
    const resolution = v['resolution'] ?? 'NONE';
    const endpoints = (v['endpoints'] as { ports?: Record<string, unknown> }[] | undefined) ?? [];
    const ports = (v['ports'] as { number?: unknown; name?: unknown }[] | undefined) ?? [];
    if (resolution === 'NONE' && endpoints.length > 0) add(['endpoints'], 'OR1024', 'no endpoints should be provided for resolution type NONE');
    if ((resolution === 'DNS' || resolution === 'DNS_ROUND_ROBIN') && endpoints.length === 0) {
      for (const [i, h] of ((v['hosts'] as unknown[] | undefined) ?? []).entries()) {
        if (typeof h === 'string' && h.includes('*')) add(['hosts', i], 'OR1024', `hosts must be FQDN if no endpoints are provided for resolution mode ${String(resolution)}: ${h}`);
      }
    }
    const names = new Set<unknown>();
    const numbers = new Set<unknown>();
    for (const [i, p] of ports.entries()) {
      // An unnamed port is its own error (the schema's): it is no duplicate of another.
      if (typeof p?.name === 'string' && names.has(p.name)) add(['ports', i, 'name'], 'OR1024', `service entry port name ${p.name} already defined`);
      if (numbers.has(p?.number)) add(['ports', i, 'number'], 'OR1024', `service entry port ${String(p?.number)} already defined`);
      names.add(p?.name);
      numbers.add(p?.number);
    }
    for (const [i, e] of endpoints.entries()) {
      for (const name of Object.keys(e?.ports ?? {})) {
        if (!names.has(name)) add(['endpoints', i, 'ports', name], 'OR1024', `endpoint port ${name} is not defined by the service entry`);
      }
    }
  },
);

const probe = obj({
  initialDelaySeconds: uint.optional(),
  timeoutSeconds: uint.optional(),
  periodSeconds: uint.optional(),
  successThreshold: uint.optional(),
  failureThreshold: uint.optional(),
  httpGet: obj({ path: str.optional(), port, host: str.optional(), scheme: str.optional(), httpHeaders: z.array(obj({ name: str, value: str })).optional() }).optional(),
  tcpSocket: obj({ host: str.optional(), port }).optional(),
  exec: obj({ command: strList }).optional(),
  grpc: obj({ port, service: str.optional() }).optional(),
});

export const workloadGroupSpec = obj({
  metadata: obj({ labels: strMap.optional(), annotations: strMap.optional() }).optional(),
  template: workloadEntrySpec,
  probe: probe.optional(),
});

const captureMode = z.enum(['DEFAULT', 'IPTABLES', 'NONE']);

const egressHost = z.string().superRefine((h, ctx) => {
  if (!/^[^/]+\/[^/]+$/.test(h)) ctx.addIssue({ code: 'custom', message: `egress host "${h}" must be namespace/dnsName (e.g. "./*", "istio-system/*")`, params: { code: 'OR1024' } });
});

// Sidecar listener fields Outrigger accepts but does not apply (OR1045, docs/routing.md): Istio binds
// such a listener to a real address and port, or sends to a unix socket; Outrigger's proxy does neither.
const sidecarIngress = withRules(
  obj({ port: gatewayPort, bind: str.optional(), captureMode: captureMode.optional(), defaultEndpoint: str.optional(), tls: serverTls.optional(), connectionPool: connectionPool.optional() }),
  (v, add) => {
    if (v['captureMode'] === 'NONE') add(['captureMode'], 'OR1045', 'ingress captureMode NONE is not supported: the port is served through the inbound listener, as with DEFAULT');
    if (typeof v['defaultEndpoint'] === 'string' && v['defaultEndpoint'].startsWith('unix://')) add(['defaultEndpoint'], 'OR1045', 'a unix:// defaultEndpoint is not supported: the port is delivered to 127.0.0.1 on the same port');
  },
);
const sidecarEgress = withRules(
  obj({ port: gatewayPort.optional(), bind: str.optional(), captureMode: captureMode.optional(), hosts: z.array(egressHost).min(1, 'egress needs at least one host') }),
  (v, add) => {
    if (v['bind'] !== undefined) add(['bind'], 'OR1045', 'egress bind is not supported: the listener matches its services on their own addresses, as without bind');
    if (v['captureMode'] === 'NONE') add(['captureMode'], 'OR1045', 'egress captureMode NONE is not supported: no listener is bound for it; traffic is captured as with DEFAULT');
  },
);

export const sidecarSpec = withRules(obj({
  workloadSelector: networkingWorkloadSelector.optional(),
  ingress: z.array(sidecarIngress).optional(),
  egress: z.array(sidecarEgress).optional(),
  inboundConnectionPool: connectionPool.optional(),
  outboundTrafficPolicy: obj({ mode: z.enum(['REGISTRY_ONLY', 'ALLOW_ANY']).optional(), egressProxy: destination.optional() }).optional(),
}), (v, add) => {
  // Istio's ValidateSidecar refuses a selector without labels.
  const selector = v['workloadSelector'] as Record<string, unknown> | undefined;
  if (selector && selector['labels'] === undefined) add(['workloadSelector'], 'OR1022', 'sidecar: workloadSelector cannot have empty labels');
  // Istio's validateSidecarOutboundTrafficPolicy: an egress proxy only under ALLOW_ANY (an absent mode is
  // REGISTRY_ONLY), and with a port, the catch-all's cluster is named by it.
  const policy = v['outboundTrafficPolicy'] as { mode?: string; egressProxy?: { port?: unknown } } | undefined;
  if (policy?.egressProxy) {
    const at = ['outboundTrafficPolicy', 'egressProxy'];
    if (policy.mode !== 'ALLOW_ANY') add(at, 'OR1024', 'sidecar: egress_proxy must be set only with ALLOW_ANY outbound_traffic_policy mode');
    else if (policy.egressProxy.port === undefined) add(at, 'OR1024', 'sidecar: egress_proxy port must be non-nil');
  }
});

export const proxyConfigSpec = obj({
  selector: labelSelector.optional(),
  concurrency: int.min(0).optional(),
  environmentVariables: strMap.optional(),
  image: obj({ imageType: str.optional() }).optional(),
});
