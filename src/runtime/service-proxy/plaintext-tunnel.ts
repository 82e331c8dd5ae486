// Streams to a sidecar's tunnel that stand for plaintext connections: each is marked
// `x-outrigger-transport: raw_buffer`, so the sidecar serves it as it would a plaintext connection that
// kube-proxy delivered to its pod (no peer identity; PERMISSIVE takes it, STRICT resets it). The mutual
// TLS under the marker is only how a process reaches a sidecar's tunnel port on this host; it vouches
// for nothing, and the marker can only take privileges away.
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2';
import { meshContextOptions, type MeshTlsMaterial } from '../../proxy/tunnel/mesh-tls.ts';
import { TARGET_PORT_HEADER, TRANSPORT_HEADER } from '../../proxy/upstream/h2-upstream.ts';

export class PlaintextTunnels {
  #material: () => MeshTlsMaterial | undefined;
  #sessions = new Map<string, ClientHttp2Session>();

  constructor(material: () => MeshTlsMaterial | undefined) {
    this.#material = material;
  }

  /** An HTTP request for `targetPort` of the pod behind `tunnelAddress`. */
  request(tunnelAddress: string, targetPort: number, headers: OutgoingHttpHeaders): ClientHttp2Stream {
    return this.#session(tunnelAddress).request({ ...headers, [TARGET_PORT_HEADER]: String(targetPort), [TRANSPORT_HEADER]: 'raw_buffer' });
  }

  /** A TCP connection to `address:targetPort` of the pod behind `tunnelAddress`. */
  connect(tunnelAddress: string, address: string, targetPort: number): ClientHttp2Stream {
    return this.#session(tunnelAddress).request({ ':method': 'CONNECT', ':authority': `${address}:${targetPort}`, [TRANSPORT_HEADER]: 'raw_buffer' });
  }

  /** New connections take the certificate renewed since; those open keep theirs until they close. */
  renewed(): void {
    for (const s of this.#sessions.values()) s.close();
    this.#sessions.clear();
  }

  close(): void {
    for (const s of this.#sessions.values()) s.destroy();
    this.#sessions.clear();
  }

  #session(tunnelAddress: string): ClientHttp2Session {
    const open = this.#sessions.get(tunnelAddress);
    if (open && !open.closed && !open.destroyed) return open;
    const material = this.#material();
    if (!material) throw Object.assign(new Error('no certificate for the mesh tunnel yet'), { code: 'NO_TUNNEL_CERTIFICATE' });
    const colon = tunnelAddress.lastIndexOf(':');
    const session = http2.connect(`https://${tunnelAddress}`, {
      ...meshContextOptions(material),
      host: tunnelAddress.slice(0, colon),
      port: Number(tunnelAddress.slice(colon + 1)),
      // The sidecar's certificate is checked against the mesh's roots; its name is not, as a plaintext
      // client checks none (the pod is whichever kube-proxy picked).
      checkServerIdentity: () => undefined,
      // As Envoy's codec as a client: a pushed stream is refused, never kept on the session.
      settings: { enablePush: false },
    });
    const forget = () => {
      if (this.#sessions.get(tunnelAddress) === session) this.#sessions.delete(tunnelAddress);
    };
    session.on('error', forget);
    session.on('close', forget);
    session.on('goaway', forget);
    // An idle session must not keep `up` alive at its end, nor a stale one live on.
    session.unref();
    this.#sessions.set(tunnelAddress, session);
    return session;
  }
}
