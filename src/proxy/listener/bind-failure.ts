// A listener LDS named whose listen socket would not bind, in Envoy's words: the listener manager
// reports it and the LDS update that named it is NACKed (docs/proxy.md, NACKs).
import type { CompiledListener } from './compile-listener.ts';

export interface ListenerBindFailure {
  readonly name: string;
  /** `cannot bind '0.0.0.0:15008': Address already in use`, as Envoy's ListenSocketImpl::bind says it. */
  readonly message: string;
}

/** glibc's strerror() for the errors bind() gives, which Envoy's message carries; libuv words them otherwise. */
const strerror: Readonly<Record<string, string>> = {
  EADDRINUSE: 'Address already in use',
  EACCES: 'Permission denied',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

/**
 * Envoy names the listener's own address. Outrigger binds Istio's ports through the port map (and
 * 0.0.0.0 as loopback), so where it tried is added when that is another address: that is the port to free.
 */
export function bindFailure(l: CompiledListener, err: Error & { code?: string; address?: string; port?: number }): ListenerBindFailure {
  const reason = (err.code && strerror[err.code]) || err.message;
  const tried = err.address !== undefined && err.port !== undefined ? `${err.address}:${err.port}` : undefined;
  const configured = `${l.address}:${l.port}`;
  const where = tried && tried !== configured ? ` (port map: ${tried})` : '';
  return { name: l.name, message: `cannot bind '${configured}': ${reason}${where}` };
}
