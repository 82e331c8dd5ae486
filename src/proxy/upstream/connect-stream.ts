// A raw byte stream to an endpoint: a TCP connection, or an HTTP/2 CONNECT stream through the mesh
// tunnel when the endpoint is meshed; in the cluster's originated TLS when it has some. Used by
// tcp_proxy, CONNECT and WebSocket upgrades.
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Cluster } from '../cluster/cluster.ts';
import { type Endpoint, hostOf } from '../cluster/endpoint.ts';
import { H2Upstream } from './h2-upstream.ts';
import { connectTimeout, endedByTeardown, UpstreamError } from './upstream.ts';

/**
 * `signal` abandons the connect (a caller that stopped waiting, such as a timed-out ext_authz check): a
 * TCP connect or TLS handshake under way is closed at once; a CONNECT through a shared tunnel session,
 * which cannot be withdrawn, is closed when it lands. `forHost`: the HTTP host the stream is for (an
 * upgrade's, requestHost), which auto_sni and auto_san_validation use; none for tcp_proxy, as in Envoy.
 */
export function connectStream(cluster: Cluster, e: Pick<Endpoint, 'key' | 'address' | 'port' | 'mesh' | 'targetPort'>, signal?: AbortSignal, forHost?: string): Promise<Duplex> {
  if (signal?.aborted) return Promise.reject(abandoned());
  // The cluster's transport socket applies to TCP too: a DestinationRule SIMPLE or MUTUAL wraps the bytes in its TLS.
  if (cluster.settings.origination) return cluster.originate(e, signal, forHost);
  if (e.mesh) {
    const u = cluster.upstream(e);
    if (!(u instanceof H2Upstream)) return Promise.reject(new UpstreamError('connect', 'mesh endpoint without tunnel'));
    return u.connect(`${hostOf(e.address)}:${e.targetPort}`).then((stream) => {
      if (!signal?.aborted) return stream;
      stream.destroy();
      throw abandoned();
    });
  }
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: e.address, port: e.port, noDelay: true });
    const timers = cluster.timers;
    const timer = timers.set(() => socket.destroy(connectTimeout(cluster.settings.connectTimeoutMs)), cluster.settings.connectTimeoutMs);
    const onAbort = () => socket.destroy(abandoned());
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => {
      timers.clear(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.removeListener('error', onError);
      socket.on('error', () => {});
      resolve(socket);
    });
    const onError = (err: Error) => {
      timers.clear(timer);
      signal?.removeEventListener('abort', onAbort);
      reject(err instanceof UpstreamError ? err : new UpstreamError('connect', err.message, err));
    };
    socket.once('error', onError);
  });
}

/** The error of a connect its caller abandoned. */
function abandoned(): UpstreamError {
  return new UpstreamError('connect', 'connect abandoned by its caller');
}

/**
 * Pipes two streams both ways; half-closes propagate, a reset or error on either side tears down both.
 * An HTTP/2 stream torn down with its session ends too, but that is a reset: the other side is
 * destroyed, not half-closed, so a TCP client sees the connection fail rather than end cleanly.
 */
export function splice(a: Duplex, b: Duplex, onClose?: () => void): void {
  let open = 2;
  const fail = () => {
    a.destroy();
    b.destroy();
  };
  const ended = (self: Duplex, other: Duplex) => () => {
    if (endedByTeardown(self)) fail();
    else other.end();
  };
  const closed = (self: Duplex, other: Duplex) => () => {
    if (!self.readableEnded) other.destroy();
    if (--open === 0) onClose?.();
  };
  a.on('error', fail);
  b.on('error', fail);
  // First in line: Node's own 'end' listener on an HTTP/2 stream may destroy it after a real END_STREAM.
  a.prependListener('end', ended(a, b));
  b.prependListener('end', ended(b, a));
  a.on('close', closed(a, b));
  b.on('close', closed(b, a));
  a.pipe(b, { end: false });
  b.pipe(a, { end: false });
  // A side that ended or closed before the splice (a client's FIN while the upstream was connecting)
  // emits nothing more: its end and close are handled as if just seen.
  for (const [self, other] of [[a, b] as const, [b, a] as const]) {
    const state = (self as Duplex & { _readableState?: { closeEmitted?: boolean } })._readableState;
    if (self.readableEnded) process.nextTick(ended(self, other));
    if (state?.closeEmitted) process.nextTick(closed(self, other));
  }
}
