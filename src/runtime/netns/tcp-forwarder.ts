// A host-side TCP forwarder: publishes a port that lives inside a pod namespace (the ingress gateway's
// 8080) on the host, and the host's loopback control plane on the bridge. Bytes only; no parsing.
import net from 'node:net';

export class TcpForwarder {
  #server: net.Server;
  #sockets = new Set<net.Socket>();
  #target: { host: string; port: number };

  constructor(target: { host: string; port: number }) {
    this.#target = target;
    this.#server = net.createServer((downstream) => this.#onConnection(downstream));
  }

  #onConnection(downstream: net.Socket): void {
    const upstream = net.connect(this.#target.port, this.#target.host);
    for (const s of [downstream, upstream]) {
      this.#sockets.add(s);
      s.once('close', () => this.#sockets.delete(s));
    }
    // A reset on one side is passed on as a reset, an end as an end (half-close kept).
    downstream.on('error', () => upstream.destroy());
    upstream.on('error', () => downstream.destroy());
    downstream.pipe(upstream);
    upstream.pipe(downstream);
  }

  /** Listens on `host:port` (0 = any free port); resolves with the bound port. */
  listen(host: string, port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, host, () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
