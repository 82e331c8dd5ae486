// The SDS names of `credentialName` secrets, as Istio's credentials package spells them, and which
// namespace each is read from.

/** A Secret of the proxy's own namespace: `kubernetes://NAME`. */
export const KUBERNETES_CREDENTIAL_PREFIX = 'kubernetes://';
/** A Secret of any namespace, as a Gateway API listener names it: `kubernetes-gateway://NAMESPACE/NAME`. */
export const GATEWAY_CREDENTIAL_PREFIX = 'kubernetes-gateway://';
/** The suffix of the CA half of a credential (`NAME-cacert`). */
export const CA_CREDENTIAL_SUFFIX = '-cacert';

/** The SDS name a gateway server's `credentialName` is served under: as written when it has a scheme, else `kubernetes://NAME`. */
export function credentialResourceName(credentialName: string): string {
  return credentialName.startsWith(GATEWAY_CREDENTIAL_PREFIX) || credentialName.startsWith(KUBERNETES_CREDENTIAL_PREFIX) ? credentialName : `${KUBERNETES_CREDENTIAL_PREFIX}${credentialName}`;
}

export interface CredentialRef {
  /** The Secret's namespace; the proxy's own for `kubernetes://`. */
  readonly namespace: string;
  /** The Secret's name, with `-cacert` when that is what is asked. */
  readonly name: string;
}

/** Where an SDS `kubernetes://` or `kubernetes-gateway://` name points, for a proxy of `proxyNamespace`; undefined for any other name. */
export function credentialRef(sdsName: string, proxyNamespace: string): CredentialRef | undefined {
  if (sdsName.startsWith(KUBERNETES_CREDENTIAL_PREFIX)) return { namespace: proxyNamespace, name: sdsName.slice(KUBERNETES_CREDENTIAL_PREFIX.length) };
  if (!sdsName.startsWith(GATEWAY_CREDENTIAL_PREFIX)) return undefined;
  const rest = sdsName.slice(GATEWAY_CREDENTIAL_PREFIX.length);
  const slash = rest.indexOf('/');
  if (slash <= 0 || slash === rest.length - 1 || rest.indexOf('/', slash + 1) !== -1) return undefined;
  return { namespace: rest.slice(0, slash), name: rest.slice(slash + 1) };
}
