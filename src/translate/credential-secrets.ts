// The Kubernetes Secrets that `credentialName` names, as the SDS secrets a proxy's TLS contexts refer
// to: `kubernetes://NAME` (certificate and key) and `kubernetes://NAME-cacert` (the CA: of the Secret
// `NAME-cacert`, else of NAME), read from the proxy's own namespace; `kubernetes-gateway://NS/NAME`, a
// Gateway API listener's certificate, read from NS only when a Gateway of the proxy's own namespace
// that selects the proxy names it and NS is that namespace or a ReferenceGrant there lets its Gateways
// use it (Istio's mergeGateways VerifiedCertificateReferences: a Gateway of another namespace verifies
// nothing, and sds.go never sends an unverified cross-namespace secret); and `configmap://NS/NAME`, a BackendTLSPolicy's
// CA. Only the ones a proxy's listeners and clusters name are sent; a Secret that is missing or lacks
// the keys is not sent, so the TLS context that needs it refuses handshakes. Whose identity may have a
// key is the control plane's call (controlplane/credential-readers.ts), not translation's: a proxy's
// role and labels are its claim.
import type { ConfigMap, Secret } from '../config/resource.ts';
import type { TrafficPolicy } from '../config/types/networking.ts';
import { CA_CREDENTIAL_SUFFIX, credentialRef, credentialResourceName, GATEWAY_CREDENTIAL_PREFIX, KUBERNETES_CREDENTIAL_PREFIX } from '../model/credentials.ts';
import { CERT_KEY_PAIRS, gatewaySelectsPod } from '../model/gateway-api/gateways.ts';
import { CONFIGMAP_CREDENTIAL_PREFIX } from '../model/gateway-api/backend-tls.ts';
import { gatewayCredentialVerified, secretGranted } from '../model/gateway-api/references.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';

const CA_KEYS = ['cacert', 'ca.crt'];

/** Every credential SDS name (`kubernetes://`, `kubernetes-gateway://`, `configmap://`) an xDS resource refers to. */
export function credentialSecretNames(resources: Iterable<unknown>): Set<string> {
  const names = new Set<string>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) {
      for (const x of v) visit(x);
    } else if (v !== null && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      const name = o['name'];
      if ('sds_config' in o && typeof name === 'string' && (name.startsWith(KUBERNETES_CREDENTIAL_PREFIX) || name.startsWith(GATEWAY_CREDENTIAL_PREFIX) || name.startsWith(CONFIGMAP_CREDENTIAL_PREFIX))) names.add(name);
      for (const x of Object.values(o)) visit(x);
    }
  };
  for (const r of resources) visit(r);
  return names;
}

/** Whether any Gateway or DestinationRule names a credential (so translation need not look for them). */
export function usesCredentials(snapshot: MeshSnapshot): boolean {
  const inPolicy = (p: TrafficPolicy | undefined) => !!p && (!!p.tls?.credentialName || (p.portLevelSettings ?? []).some((l) => !!l.tls?.credentialName));
  return (
    snapshot.gateways.some((g) => g.spec.servers.some((s) => !!s.tls?.credentialName)) ||
    snapshot.destinationRules.some((dr) => inPolicy(dr.spec.trafficPolicy) || (dr.spec.subsets ?? []).some((s) => inPolicy(s.trafficPolicy)))
  );
}

function first(data: Readonly<Record<string, string>>, keys: readonly string[]): string | undefined {
  for (const k of keys) if (data[k]) return data[k];
  return undefined;
}

/** The SDS Secret resources for these credential names (see the top of this file for where each is read from). */
export function buildCredentialSecrets(snapshot: MeshSnapshot, proxy: ProxyView, names: Iterable<string>): TypedAny[] {
  const byNamespace = new Map<string, Map<string, Secret>>();
  const secretsOf = (namespace: string) => {
    let secrets = byNamespace.get(namespace);
    if (!secrets) {
      secrets = new Map();
      for (const r of snapshot.resources) if (r.kind === 'Secret' && r.metadata.namespace === namespace) secrets.set(r.metadata.name, r as Secret);
      byNamespace.set(namespace, secrets);
    }
    return secrets;
  };
  const out: TypedAny[] = [];
  for (const name of [...names].sort()) {
    if (name.startsWith(CONFIGMAP_CREDENTIAL_PREFIX)) {
      // `configmap://NAMESPACE/NAME`: a CA, public, so read from the ConfigMap's own namespace.
      const ca = configMapCa(snapshot, name.slice(CONFIGMAP_CREDENTIAL_PREFIX.length));
      if (ca) out.push({ '@type': TypeUrl.Secret, name, validation_context: { trusted_ca: { inline_string: ca } } });
      continue;
    }
    const ref = credentialRef(name, proxy.namespace);
    if (!ref) continue;
    const isCa = ref.name.endsWith(CA_CREDENTIAL_SUFFIX);
    const base = isCa ? ref.name.slice(0, -CA_CREDENTIAL_SUFFIX.length) : ref.name;
    // A `kubernetes-gateway://` Secret only when verified: named by a Gateway of the proxy's namespace,
    // and of that namespace or granted to its Gateways by a ReferenceGrant.
    if (name.startsWith(GATEWAY_CREDENTIAL_PREFIX) && !namedByVerifyingGateway(snapshot, proxy, `${GATEWAY_CREDENTIAL_PREFIX}${ref.namespace}/${base}`)) continue;
    if (!secretGranted(snapshot.resources, proxy.namespace, ref.namespace, base)) continue;
    const secrets = secretsOf(ref.namespace);
    if (isCa) {
      // Istio's GetCaCert: the `NAME-cacert` Secret when there is one (a client CA kept apart from a
      // cert-manager Secret whose ca.crt is the server certificate's issuer), else NAME's own.
      const own = secrets.get(ref.name);
      const ca = own ? first(own.spec.data ?? {}, CA_KEYS) : first(secrets.get(base)?.spec.data ?? {}, CA_KEYS);
      if (ca) out.push({ '@type': TypeUrl.Secret, name, validation_context: { trusted_ca: { inline_string: ca } } });
      continue;
    }
    const data = secrets.get(ref.name)?.spec.data ?? {};
    const pair = CERT_KEY_PAIRS.find(([c, k]) => data[c] && data[k]);
    const cert = pair ? data[pair[0]] : undefined;
    const key = pair ? data[pair[1]] : undefined;
    if (cert && key) out.push({ '@type': TypeUrl.Secret, name, tls_certificate: { certificate_chain: { inline_string: cert }, private_key: { inline_string: key } } });
  }
  return out;
}

/** Whether a Gateway that selects the proxy names this `kubernetes-gateway://` SDS name and verifies it for the proxy (Istio's identityVerified). */
function namedByVerifyingGateway(snapshot: MeshSnapshot, proxy: ProxyView, sdsName: string): boolean {
  return snapshot.gateways.some(
    (g) =>
      gatewaySelectsPod(g, proxy) &&
      g.spec.servers.some((s) => !!s.tls?.credentialName && credentialResourceName(s.tls.credentialName) === sdsName) &&
      gatewayCredentialVerified(snapshot.resources, g.metadata.namespace, proxy.namespace, sdsName),
  );
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----\r?\n[A-Za-z0-9+/=\r\n]+-----END CERTIFICATE-----/g;

/**
 * The certificates of the `ca.crt` of the ConfigMap `namespace/name`, and nothing else of it: any proxy
 * may be sent a `configmap://` CA (a CA certificate is public), and any config may name one, so what
 * else a ConfigMap holds under that key (a key pasted by mistake, a comment) never leaves it.
 */
function configMapCa(snapshot: MeshSnapshot, ref: string): string | undefined {
  const [namespace, name] = ref.split('/', 2);
  const cm = snapshot.resources.find((r): r is ConfigMap => r.kind === 'ConfigMap' && r.metadata.namespace === namespace && r.metadata.name === name);
  const certificates = cm?.spec.data?.['ca.crt']?.match(PEM_CERTIFICATE);
  return certificates ? `${certificates.join('\n')}\n` : undefined;
}
