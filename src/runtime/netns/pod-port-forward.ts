// A port on a pod's own loopback (its sidecar's outbound 15001), reached from the host as `kubectl
// port-forward` reaches one: a listener on the host's 127.0.0.1, and for each connection a relay process
// inside the pod's namespace that pipes its stdin and stdout to the port. Needs root, as netns mode does.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

/**
 * Run with `node -e` inside the pod (the port is its argument, never part of the code): connects to the
 * port on loopback, bytes both ways. Writes to a pipe are synchronous on Linux, so exiting once the
 * connection closes loses nothing.
 */
const RELAY_SCRIPT = `const s = require('node:net').connect(Number(process.argv[1]), '127.0.0.1');
s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
s.on('close', () => process.exit(0));
process.stdin.pipe(s);
s.pipe(process.stdout);`;

/** The local runtime's own pod namespaces (`or-<id>-<k>`): nothing else is entered as root. */
const POD_NETNS = /^or-[a-z0-9]+-\d+$/;

export class PodPortForwardError extends Error {
  readonly code = 'POD_PORT_FORWARD';
}

export class PodPortForward {
  #server: net.Server;
  #netns: string;
  #port: number;
  #nodeBinary: string;
  #open = new Set<{ socket: net.Socket; relay: ChildProcess }>();

  /** Connections still to be taken; after the last, the listener closes (undefined: any number). */
  #remaining: number | undefined;

  /**
   * `connections`: how many connections the caller will make. The forward is the pod's loopback (an
   * admin API that takes `POST /quitquitquit`) on the host's 127.0.0.1, where any local user could
   * connect while it listens: a caller that needs one connection takes it and the listener closes.
   */
  constructor(o: { netns: string; port: number; nodeBinary?: string; connections?: number }) {
    // Both come from the mesh's state file, which a root command reads: checked before either reaches `ip netns exec`.
    if (!POD_NETNS.test(o.netns)) throw new PodPortForwardError(`not a pod network namespace of a local mesh: ${JSON.stringify(o.netns)}`);
    if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) throw new PodPortForwardError(`not a port: ${JSON.stringify(o.port)}`);
    this.#netns = o.netns;
    this.#port = o.port;
    this.#remaining = o.connections;
    this.#nodeBinary = o.nodeBinary ?? process.execPath;
    this.#server = net.createServer((socket) => this.#onConnection(socket));
  }

  #onConnection(socket: net.Socket): void {
    if (this.#remaining !== undefined && --this.#remaining <= 0) this.#server.close();
    const relay = spawn('ip', ['netns', 'exec', this.#netns, this.#nodeBinary, '-e', RELAY_SCRIPT, String(this.#port)], { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env['PATH'] ?? '' } });
    const entry = { socket, relay };
    this.#open.add(entry);
    // The relay ends when the pod's side closes: its stdout's end ends the host socket (piped), a
    // failure (nothing listens) resets it.
    relay.once('close', (code) => {
      this.#open.delete(entry);
      if (code !== 0) socket.destroy();
    });
    relay.once('error', () => socket.destroy());
    socket.on('error', () => relay.kill());
    socket.once('close', () => relay.stdin?.destroy());
    relay.stdin?.on('error', () => {});
    socket.pipe(relay.stdin as NodeJS.WritableStream);
    relay.stdout?.pipe(socket);
  }

  /** Listens on a free port of the host's 127.0.0.1; resolves with it. */
  listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(0, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve((this.#server.address() as net.AddressInfo).port);
      });
    });
  }

  close(): Promise<void> {
    for (const { socket, relay } of this.#open) {
      socket.destroy();
      relay.kill();
    }
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}
