// The analyzer message catalogue: stable codes, Istio's name and severity where Istio has the check
// (pkg/config/analysis/msg/messages.yaml, current codes only), OR2xxx for checks only Outrigger makes.
import type { Severity } from '../config/diagnostic.ts';

export interface CatalogueEntry {
  code: string;
  name: string;
  severity: Severity;
  description: string;
}

export const analyzerCatalogue: readonly CatalogueEntry[] = [
  { code: 'IST0101', name: 'ReferencedResourceNotFound', severity: 'error', description: 'A referenced resource (host, subset, gateway, namespace, selector target) does not exist.' },
  { code: 'IST0102', name: 'NamespaceNotInjected', severity: 'info', description: 'A namespace (with or without workloads) has no sidecar injection label.' },
  { code: 'IST0109', name: 'ConflictingMeshGatewayVirtualServiceHosts', severity: 'error', description: 'Several VirtualServices bound to the mesh gateway define the same host.' },
  { code: 'IST0110', name: 'ConflictingSidecarWorkloadSelectors', severity: 'error', description: 'Several Sidecar resources select the same workload.' },
  { code: 'IST0111', name: 'MultipleSidecarsWithoutWorkloadSelectors', severity: 'error', description: 'More than one Sidecar without workloadSelector in a namespace.' },
  { code: 'IST0112', name: 'VirtualServiceDestinationPortSelectorRequired', severity: 'error', description: 'A route to a service with several ports names no port.' },
  { code: 'IST0116', name: 'DeploymentAssociatedToMultipleServices', severity: 'warning', description: 'Services selecting one meshed Deployment give the same port different protocols.' },
  { code: 'IST0118', name: 'PortNameIsNotUnderNamingConvention', severity: 'info', description: 'A Service port name (or appProtocol) does not name a protocol Istio knows, so the protocol is detected instead of declared.' },
  { code: 'IST0123', name: 'NamespaceMultipleInjectionLabels', severity: 'warning', description: 'A namespace has more than one injection label (istio-injection with istio.io/rev or istio.io/dataplane-mode).' },
  { code: 'IST0127', name: 'NoMatchingWorkloadsFound', severity: 'warning', description: 'An AuthorizationPolicy selector matches no workload, or a namespace-wide one sits in a namespace without workloads.' },
  { code: 'IST0128', name: 'NoServerCertificateVerificationDestinationLevel', severity: 'warning', description: 'DestinationRule TLS origination (SIMPLE/MUTUAL) without caCertificates trusts only the platform\'s public roots for the server.' },
  { code: 'IST0129', name: 'NoServerCertificateVerificationPortLevel', severity: 'warning', description: 'Port-level TLS origination without caCertificates trusts only the platform\'s public roots for the server.' },
  { code: 'IST0130', name: 'VirtualServiceUnreachableRule', severity: 'warning', description: 'A rule (HTTP, TCP or TLS) can never match: an earlier rule matches everything it would.' },
  { code: 'IST0131', name: 'VirtualServiceIneffectiveMatch', severity: 'info', description: 'A match condition repeats an earlier one, or an earlier uri prefix match covers it, and never decides anything.' },
  { code: 'IST0132', name: 'VirtualServiceHostNotFoundInGateway', severity: 'warning', description: 'A VirtualService host is not served by a Gateway it binds to.' },
  { code: 'IST0134', name: 'ServiceEntryAddressesRequired', severity: 'warning', description: 'A ServiceEntry with a TCP (or unset-protocol) port has no addresses.' },
  { code: 'IST0140', name: 'IngressRouteRulesNotAffected', severity: 'warning', description: 'A gateway-bound VirtualService routes without a subset to a host whose mesh VirtualService picks subsets; gateway requests do not follow those subsets.' },
  { code: 'IST0137', name: 'DeploymentConflictingPorts', severity: 'warning', description: 'Services selecting one meshed Deployment put the same targetPort behind different ports.' },
  { code: 'IST0144', name: 'InvalidApplicationUID', severity: 'warning', description: "A Deployment's or Pod's application runs as UID 1337, the sidecar proxy's." },
  { code: 'IST0145', name: 'ConflictingGateways', severity: 'error', description: 'Two Gateways with the same selector and port claim overlapping hosts.' },
  { code: 'IST0149', name: 'JwtClaimBasedRoutingWithoutRequestAuthN', severity: 'error', description: 'Routing on JWT claims without a RequestAuthentication for the gateway.' },
  { code: 'IST0150', name: 'ExternalNameServiceTypeInvalidPortName', severity: 'warning', description: 'An ExternalName Service port is named tcp or names no protocol Istio knows.' },
  { code: 'IST0157', name: 'InvalidTelemetryProvider', severity: 'warning', description: 'A Telemetry entry lists no provider and no default provider is configured, so it is ignored.' },
  { code: 'IST0159', name: 'ConflictingTelemetryWorkloadSelectors', severity: 'error', description: 'Several Telemetry resources select the same workload.' },
  { code: 'IST0160', name: 'MultipleTelemetriesWithoutWorkloadSelectors', severity: 'error', description: 'More than one Telemetry without selector in a namespace.' },
  { code: 'IST0161', name: 'InvalidGatewayCredential', severity: 'error', description: "A Gateway's credentialName Secret holds no valid certificate and key." },
  { code: 'IST0162', name: 'GatewayPortNotDefinedOnService', severity: 'warning', description: 'A Gateway server port is not a port of the gateway Service.' },
  { code: 'IST0166', name: 'IneffectiveSelector', severity: 'warning', description: "A policy's selector picks a Kubernetes Gateway's proxy; Istio wants targetRefs there." },
  { code: 'IST0173', name: 'DestinationRuleSubsetNotSelectPods', severity: 'error', description: 'A DestinationRule subset selects no pod of its host.' },
  { code: 'IST0174', name: 'UnknownDestinationRuleHost', severity: 'warning', description: 'A DestinationRule host matches no service.' },
  { code: 'IST0177', name: 'ConflictingServiceEntryProtocol', severity: 'warning', description: 'ServiceEntries visible in one namespace give the same host and port different protocols.' },
  { code: 'OR2001', name: 'ConflictingDestinationRules', severity: 'warning', description: 'Several DestinationRules for one host in one namespace; Istio merges them and drops what collides.' },
  { code: 'OR2002', name: 'DestinationRuleDisablesTLSToStrictWorkload', severity: 'error', description: 'A DestinationRule sends plaintext (tls.mode DISABLE) to workloads whose PeerAuthentication is STRICT.' },
  { code: 'OR2003', name: 'ConflictingMeshWidePeerAuthentication', severity: 'error', description: 'More than one mesh-wide PeerAuthentication in the root namespace.' },
  { code: 'OR2004', name: 'ConflictingNamespacePeerAuthentication', severity: 'error', description: 'More than one namespace-wide PeerAuthentication in a namespace.' },
  { code: 'OR2006', name: 'PolicyTargetsWorkloadWithoutSidecar', severity: 'warning', description: 'A policy selects workloads that get no sidecar, so nothing enforces it.' },
  { code: 'OR2007', name: 'AuthorizationSourceWithoutSidecar', severity: 'warning', description: 'An AuthorizationPolicy names callers (namespace or principal) whose workloads get no sidecar, so they carry no identity.' },
  { code: 'OR2008', name: 'UnknownTelemetryProvider', severity: 'error', description: 'A Telemetry names a provider that meshConfig.extensionProviders does not define.' },
  { code: 'OR2009', name: 'SubjectAltNamesMatchNoWorkload', severity: 'error', description: "A DestinationRule's ISTIO_MUTUAL subjectAltNames name none of the accounts of the workloads behind its host, so secure naming refuses every connection." },
  { code: 'OR2010', name: 'GatewayApiReferenceNotAccepted', severity: 'warning', description: 'An HTTPRoute parentRef or backendRef names a resource that exists but does not accept it (a Gateway of another class, a listener whose allowedRoutes or hostname refuse it, a Service in another namespace without a ReferenceGrant, a backendRef without a port), or a Gateway listener certificateRef that cannot be used; it is not followed.' },
  { code: 'OR2011', name: 'PolicyTargetRefAttachesToNothing', severity: 'warning', description: 'An AuthorizationPolicy or RequestAuthentication with targetRef(s) attaches to no workload: no Gateway it names, in its namespace, runs a proxy (a Service or ServiceEntry ref attaches to waypoints only), so nothing enforces it.' },
  { code: 'OR2012', name: 'GatewayServerProtocolConflict', severity: 'warning', description: "A Gateway server shares a port (and bind) with a server whose protocol it cannot share: an HTTPS or TCP server where plain-text HTTP listens, a second TCP server, a plain-text server on a TLS port. Istio's gateway leaves it out (mergeGateways)." },
  { code: 'OR2013', name: 'PolicySelectsNoWorkload', severity: 'warning', description: 'A PeerAuthentication or RequestAuthentication selector matches no workload, so the policy applies nowhere (Istio has no analyzer for these).' },
];

const byCode = new Map(analyzerCatalogue.map((e) => [e.code, e]));

export function catalogueEntry(code: string): CatalogueEntry {
  const entry = byCode.get(code);
  if (!entry) throw Object.assign(new Error(`analyzer code ${code} is not in the catalogue`), { code: 'ERR_UNKNOWN_ANALYZER_CODE' });
  return entry;
}
