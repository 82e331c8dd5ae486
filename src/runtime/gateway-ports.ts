// `up --ephemeral-ports`, after the start: a gateway server port a later config edit adds is bound by the
// gateway on a free port (its port map's `*=0`). After each config change the gateways have acknowledged,
// this reads their listeners (the admin's `/listeners`), names each new port in the gateway's
// `proxy:PORT` ports (what `outrigger status` shows) and announces it as the start-up ports are; a port
// whose server is gone is closed by the gateway, and forgotten and announced here. Ports mapped at the
// start stay reserved for the mesh's life: a server added back there gets the same host port.
import type { ComponentState } from './state.ts';
import { proxyPortNumbers } from './proxy-process.ts';

export interface WatchedGateway {
  state: ComponentState;
  adminPort: number;
  healthPort: number;
  /** Istio ports the gateway's port map names (the proxy's own and the start-up server ports). */
  mapped: ReadonlySet<number>;
}

export interface GatewayPortsOptions {
  gateways: readonly WatchedGateway[];
  /** The control plane's config version: a change means the gateways may have new listeners. */
  configVersion(): string;
  /** Resolves once every proxy has acknowledged the latest config (true), or false at the deadline. */
  whenSynced(timeoutMs: number): Promise<boolean>;
  progress(line: string): void;
  /** Writes the state file after a change. */
  save(): void;
  /** How often the (in-process) config version is compared; ms. */
  intervalMs?: number;
}

export class GatewayPortWatcher {
  #o: GatewayPortsOptions;
  #seen: string;
  #dirty = false;
  #running: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(o: GatewayPortsOptions) {
    this.#o = o;
    this.#seen = o.configVersion();
  }

  start(): void {
    this.#timer = setInterval(() => this.#tick(), this.#o.intervalMs ?? 250);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** Looks again at the next tick though the config did not change (the proxy host restarted). */
  markDirty(): void {
    this.#dirty = true;
  }

  #tick(): void {
    if (this.#running) return;
    const version = this.#o.configVersion();
    if (version === this.#seen && !this.#dirty) return;
    this.#seen = version;
    this.#dirty = false;
    this.#running = this.refresh()
      .then((done) => {
        if (!done) this.#dirty = true;
      })
      .finally(() => {
        this.#running = undefined;
      });
  }

  /** Reads every gateway's listeners once the config is acknowledged; false when a gateway could not be read (tried again). */
  async refresh(): Promise<boolean> {
    await this.#o.whenSynced(10_000);
    let done = true;
    let changed = false;
    for (const g of this.#o.gateways) {
      const bound = await boundListenerPorts(g);
      if (!bound) {
        done = false;
        continue;
      }
      for (const [port, host] of bound) {
        const before = g.state.ports[`proxy:${port}`];
        if (before === host) continue;
        g.state.ports[`proxy:${port}`] = host;
        changed = true;
        this.#o.progress(`${g.state.name}: server port ${port} on 127.0.0.1:${host} (${before === undefined ? 'added by a config edit' : 'bound again after a restart'})`);
      }
      for (const key of Object.keys(g.state.ports)) {
        const port = Number(key.slice('proxy:'.length));
        if (!key.startsWith('proxy:') || (proxyPortNumbers as readonly number[]).includes(port) || bound.has(port)) continue;
        const host = g.state.ports[key];
        delete g.state.ports[key];
        changed = true;
        // A port mapped at the start stays reserved for the mesh's life; status lists it only while served.
        const after = g.mapped.has(port) ? `127.0.0.1:${host} kept for it` : `127.0.0.1:${host} released`;
        this.#o.progress(`${g.state.name}: server port ${port} removed by a config edit; ${after}`);
      }
    }
    if (changed) this.#o.save();
    return done;
  }
}

/** Istio port → bound host port of each `0.0.0.0_PORT` listener, or undefined when the gateway is not ready to say. */
async function boundListenerPorts(g: WatchedGateway): Promise<Map<number, number> | undefined> {
  try {
    // A gateway that is not ready (restarting, no listeners yet) would list none: nothing is concluded from it.
    const ready = await fetch(`http://127.0.0.1:${g.healthPort}/healthz/ready`, { signal: AbortSignal.timeout(2000) });
    await ready.body?.cancel();
    if (ready.status !== 200) return undefined;
    const res = await fetch(`http://127.0.0.1:${g.adminPort}/listeners?format=json`, { signal: AbortSignal.timeout(2000) });
    if (res.status !== 200) return undefined;
    const body = (await res.json()) as { listener_statuses?: { name: string; local_address?: { socket_address?: { port_value?: number } } }[] };
    const out = new Map<number, number>();
    for (const l of body.listener_statuses ?? []) {
      const m = /_(\d+)$/.exec(l.name);
      const host = l.local_address?.socket_address?.port_value;
      if (m && host !== undefined) out.set(Number(m[1]), host);
    }
    return out;
  } catch {
    return undefined;
  }
}
