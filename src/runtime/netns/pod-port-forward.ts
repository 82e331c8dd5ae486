// A port on a pod's own loopback (its sidecar's outbound 15001), reached from the host as `kubectl
// port-forward` reaches one: a listener on the host's 127.0.0.1, and for each connection a relay process
// inside the pod's namespace that pipes its stdin and stdout to the port. Needs root, as netns mode does.
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';

/**
 * Run with `node -e` inside the pod: connects to the port on loopback, bytes both ways. Writes to a pipe
 * are synchronous on Linux, so exiting once the connection closes loses nothing.
 */
function relayScript(port: number): string {
  return `const s = require('node:net').connect(${port}, '127.0.0.1');
s.on('error', (e) => { process.stderr.write(e.message); process.exit(1); });
s.on('close', () => process.exit(0));
process.stdin.pipe(s);
s.pipe(process.stdout);`;
}

export class PodPortForward {
  #server: net.Server;
  #netns: string;
  #port: number;
  #nodeBinary: string;
  #open = new Set<{ socket: net.Socket; relay: ChildProcess }>();

  constructor(o: { netns: string; port: number; nodeBinary?: string }) {
    this.#netns = o.netns;
    this.#port = o.port;
    this.#nodeBinary = o.nodeBinary ?? process.execPath;
    this.#server = net.createServer((socket) => this.#onConnection(socket));
  }

  #onConnection(socket: net.Socket): void {
    const relay = spawn('ip', ['netns', 'exec', this.#netns, this.#nodeBinary, '-e', relayScript(this.#port)], { stdio: ['pipe', 'pipe', 'ignore'], env: { PATH: process.env['PATH'] ?? '' } });
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
