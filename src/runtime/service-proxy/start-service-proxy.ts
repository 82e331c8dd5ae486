// The service proxy of a local mesh, beside its control plane: the mesh's snapshot says where each
// Service's pods are, and the mesh's CA gives it a certificate to reach their sidecars' tunnels with
// (kube-system/kube-proxy, renewed as a proxy's is).
import type { CertificateAuthority } from '../../ca/certificate-authority.ts';
import { formatSpiffeId } from '../../ca/spiffe-id.ts';
import type { MeshSnapshot } from '../../model/snapshot.ts';
import { CertificateManager } from '../../proxy/tls/certificate-manager.ts';
import { PlaintextTunnels } from './plaintext-tunnel.ts';
import { ServiceEndpoints } from './service-endpoints.ts';
import { ServiceProxy } from './service-proxy.ts';

/** The identity under the plaintext marker: never a principal a policy sees (the sidecar drops it). */
const SERVICE_PROXY_IDENTITY = Object.freeze({ namespace: 'kube-system', serviceAccount: 'kube-proxy' });

export async function startServiceProxy(o: { snapshot: () => MeshSnapshot; ca: CertificateAuthority }): Promise<ServiceProxy> {
  const certs = new CertificateManager({
    spiffeId: formatSpiffeId(o.ca.trustDomain, SERVICE_PROXY_IDENTITY),
    sign: (csrPem, ttlSeconds) => o.ca.sign(csrPem, SERVICE_PROXY_IDENTITY, ttlSeconds),
  });
  await certs.start();
  const tunnels = new PlaintextTunnels(() => {
    const c = certs.current;
    return c ? { key: c.keyPem, cert: c.certChainPem, ca: o.ca.trustBundle().join('') } : undefined;
  });
  certs.on('rotated', () => tunnels.renewed());
  return new ServiceProxy({ endpoints: new ServiceEndpoints(o.snapshot), tunnels, onClose: () => certs.stop() });
}
