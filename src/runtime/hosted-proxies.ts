// The proxies of one proxy host (`outrigger proxy-host`), kept running as a kubelet keeps a pod's
// istio-proxy container running: a proxy that exits (POST /quitquitquit on its admin port, a drain) is
// started again after a backoff that doubles from 0.5s up to 30s, reset once it has run 10 minutes.
// Each exit and restart is said to whoever runs the host (`up`, over the IPC channel), so `status`
// shows it. A proxy is left stopped only when asked (`retire`: a finished Job takes its sidecar with
// it) or when the whole host drains (SIGTERM).
import type { Scheduler } from './supervisor.ts';

/** What the host runs of each proxy: `runProxy`'s answer. */
export interface HostedRun {
  readonly stopped: Promise<void>;
  drain(): Promise<void>;
}

export interface HostedProxy {
  /** `istio-system/istio-egressgateway-0`: the component's name in state.json. */
  name: string;
  start(): Promise<HostedRun>;
}

/** What the host says to `up` of one of its proxies. */
export type HostEvent =
  | { type: 'proxy-exit'; name: string; restartInMs: number; reason?: string }
  | { type: 'proxy-started'; name: string }
  | { type: 'proxy-retired'; name: string };

/** What `up` asks of the host. */
export type HostRequest = { type: 'retire'; name: string };

export interface HostedProxiesOptions {
  report: (event: HostEvent) => void;
  scheduler?: Scheduler;
  now?: () => number;
}

/** The backoff keeps the host alive: a host whose only proxy is waiting to restart has nothing else to run. */
const keptScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    return { cancel: () => clearTimeout(t) };
  },
};

const minBackoffMs = 500;
const maxBackoffMs = 30_000;
/** Kubernetes forgets a container's backoff once it has run this long. */
const backoffResetMs = 10 * 60_000;

interface Slot {
  proxy: HostedProxy;
  run: HostedRun | undefined;
  startedAt: number;
  failures: number;
  retired: boolean;
  pending: { cancel(): void } | undefined;
}

export class HostedProxies {
  #slots: Slot[];
  #o: HostedProxiesOptions;
  #scheduler: Scheduler;
  #now: () => number;
  #draining = false;
  #done = Promise.withResolvers<void>();

  constructor(proxies: readonly HostedProxy[], o: HostedProxiesOptions) {
    this.#slots = proxies.map((proxy) => ({ proxy, run: undefined, pending: undefined, startedAt: 0, failures: 0, retired: false }));
    this.#o = o;
    this.#scheduler = o.scheduler ?? keptScheduler;
    this.#now = o.now ?? Date.now;
  }

  /** Resolves once every proxy has stopped for good: the host drained, or each proxy was retired. */
  get done(): Promise<void> {
    return this.#done.promise;
  }

  /** Starts each proxy in turn; one that cannot start the first time fails the host (its log says why). */
  async start(): Promise<void> {
    for (const slot of this.#slots) this.#watch(slot, await slot.proxy.start());
  }

  #watch(slot: Slot, run: HostedRun): void {
    slot.run = run;
    slot.startedAt = this.#now();
    void run.stopped.then(() => this.#stopped(slot, run));
  }

  #stopped(slot: Slot, run: HostedRun, reason?: string): void {
    if (slot.run !== run) return;
    slot.run = undefined;
    if (this.#draining || slot.retired) {
      if (slot.retired) this.#o.report({ type: 'proxy-retired', name: slot.proxy.name });
      this.#settle();
      return;
    }
    if (this.#now() - slot.startedAt >= backoffResetMs) slot.failures = 0;
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** slot.failures);
    slot.failures++;
    this.#o.report({ type: 'proxy-exit', name: slot.proxy.name, restartInMs: delay, ...(reason ? { reason } : {}) });
    slot.pending = this.#scheduler.setTimeout(() => {
      slot.pending = undefined;
      if (this.#draining || slot.retired) return this.#settle();
      void this.#restart(slot);
    }, delay);
  }

  async #restart(slot: Slot): Promise<void> {
    // A start that fails (its port still held, say) is one more exit: tried again after a longer backoff.
    const placeholder: HostedRun = { stopped: new Promise(() => {}), drain: async () => {} };
    slot.run = placeholder;
    let run: HostedRun;
    try {
      run = await slot.proxy.start();
    } catch (err) {
      slot.startedAt = this.#now();
      this.#stopped(slot, placeholder, `cannot start: ${(err as Error).message}`);
      return;
    }
    if (this.#draining || slot.retired) {
      slot.run = undefined;
      await run.drain();
      this.#settle();
      return;
    }
    this.#watch(slot, run);
    this.#o.report({ type: 'proxy-started', name: slot.proxy.name });
  }

  /** Drains one proxy for good (its Job finished). Unknown names are ignored. */
  retire(name: string): void {
    const slot = this.#slots.find((s) => s.proxy.name === name);
    if (!slot || slot.retired) return;
    slot.retired = true;
    slot.pending?.cancel();
    slot.pending = undefined;
    if (slot.run) void slot.run.drain();
    else this.#settle();
  }

  /** Drains every proxy; none is restarted. */
  async drainAll(): Promise<void> {
    this.#draining = true;
    for (const slot of this.#slots) {
      slot.pending?.cancel();
      slot.pending = undefined;
    }
    await Promise.all(this.#slots.map((s) => s.run?.drain()));
    this.#settle();
  }

  #settle(): void {
    if (this.#slots.every((s) => s.run === undefined && s.pending === undefined && (this.#draining || s.retired))) this.#done.resolve();
  }
}
