// A readiness probe's part for a pod the local runtime runs: the pod joins its services' endpoints once
// its app listens (or, as at the first start, once the runtime has waited its time with the app running),
// leaves them when its app exits or finishes (Kubernetes takes a pod whose container is not running out
// of them), and joins again when the restarted app listens.
import type { WorkloadInstance } from '../model/workload.ts';
import type { Supervised } from './supervisor.ts';

export interface ReadinessOptions {
  /** Resolves once the app accepts connections on its ports (true), or when the runtime stops waiting (false). */
  listening: () => Promise<boolean>;
  /** True once the mesh is stopping: exits are then expected, and nothing is registered. */
  stopping: () => boolean;
  /** Tells the control plane the pod as it is now. */
  register: (instance: WorkloadInstance) => void;
}

export class AppReadiness {
  readonly #app: Supervised;
  readonly #ready: WorkloadInstance;
  readonly #o: ReadinessOptions;
  /** Which start of the app a wait belongs to: a wait that outlived its run decides nothing. */
  #run = 0;
  /** In its services' endpoints now. */
  #in = false;

  constructor(app: Supervised, ready: WorkloadInstance, o: ReadinessOptions) {
    this.#app = app;
    this.#ready = ready;
    this.#o = o;
    app.on('started', () => {
      this.#run++;
      // The first start is the runtime's to wait for (it says so as it waits): joined().
      const run = this.#run;
      if (run > 1) void this.#o.listening().then(() => this.joined(run));
    });
    app.on('exit', () => this.#leave());
    // A Job that finished, or a pod that gave up restarting: out for good.
    app.on('done', () => this.#leave());
  }

  /** The app of run `run` (the current one by default) listens, or was waited for long enough: the pod joins. */
  joined(run = this.#run): void {
    if (run !== this.#run || this.#in || !this.#app.running || this.#o.stopping()) return;
    this.#in = true;
    this.#o.register(this.#ready);
  }

  #leave(): void {
    if (!this.#in || this.#o.stopping()) return;
    this.#in = false;
    this.#o.register({ ...this.#ready, healthy: false });
  }
}
