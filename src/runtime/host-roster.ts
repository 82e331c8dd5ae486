// The proxies one proxy host is meant to run, as `up` keeps them. A retired proxy (its Job finished)
// leaves the host's spec file, which the host reads each time it starts: a host restarting when the
// `retire` request is sent (no process to take it, or one not yet listening) comes back without it,
// rather than starting the finished Job's sidecar again. The request is sent again whenever the host
// starts, for a host spawned before the spec was rewritten.
import type { HostRequest } from './hosted-proxies.ts';
import { writeFileAtomic } from './write-atomic.ts';

export interface RosterHost {
  send(message: unknown): boolean;
  stop(graceMs?: number): Promise<void>;
  on(event: 'started', fn: (pid: number) => void): unknown;
}

export interface RosterProxy {
  readonly name: string;
}

export class HostRoster<P extends RosterProxy> {
  readonly #proxies: readonly P[];
  readonly #specFile: string;
  readonly #host: RosterHost;
  readonly #retired = new Set<string>();

  constructor(proxies: readonly P[], specFile: string, host: RosterHost) {
    this.#proxies = proxies;
    this.#specFile = specFile;
    this.#host = host;
    host.on('started', () => {
      for (const name of this.#retired) host.send({ type: 'retire', name } satisfies HostRequest);
    });
  }

  /** The proxies not retired. */
  get live(): P[] {
    return this.#proxies.filter((p) => !this.#retired.has(p.name));
  }

  isRetired(name: string): boolean {
    return this.#retired.has(name);
  }

  /**
   * Writes the spec file the host starts from: the live proxies. Whole or not at all: a write cut short
   * (a full disk) would leave a spec the host cannot start from, and no proxy at all after its restart.
   */
  writeSpec(): void {
    writeFileAtomic(this.#specFile, `${JSON.stringify({ proxies: this.live }, null, 2)}\n`, { mode: 0o600 });
  }

  /** A proxy stops for good. The last one takes the host with it; else the host drains that one alone. */
  retire(name: string): void {
    if (this.#retired.has(name) || !this.#proxies.some((p) => p.name === name)) return;
    this.#retired.add(name);
    if (this.live.length === 0) {
      void this.#host.stop(10_000);
      return;
    }
    try {
      this.writeSpec();
    } catch {
      // The state directory is full or read-only: the running host still retires it (only a host
      // restarted before the spec can be written would start it again). Never a throw from a Job's exit.
    }
    this.#host.send({ type: 'retire', name } satisfies HostRequest);
  }
}
