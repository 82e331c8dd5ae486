// What the person running `up` reads, and what state.json records, when a component's app or proxy
// process starts, exits and is restarted, or (a Job) finishes for good.
import type { ComponentTracker } from './component-tracker.ts';
import { indent } from './indent.ts';
import type { ComponentState } from './state.ts';
import type { ExitReport, Supervised } from './supervisor.ts';

export interface ExitReporterOptions {
  tracker: ComponentTracker;
  progress: (line: string) => void;
  /** True once the mesh is being stopped: exits are then expected and not reported. */
  stopping: () => boolean;
}

/** `exited with status 1`, `exited with SIGKILL`, or `could not start (spawn ./app ENOENT)`. */
export function exitCause(report: ExitReport): string {
  if (report.startError) return `could not start (${report.startError})`;
  return `exited with ${report.signal ?? `status ${report.code}`}`;
}

/** `0.5s`, `2s`, `30s`: the restart delay as the supervisor waits it. */
export function restartDelay(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))}s`;
}

export class ExitReporter {
  #o: ExitReporterOptions;

  constructor(o: ExitReporterOptions) {
    this.#o = o;
  }

  /** Records the pid of each start and reports each exit the supervisor restarts. */
  watch(sup: Supervised, c: ComponentState, which: 'app' | 'proxy'): void {
    sup.on('started', (pid) => {
      if (which === 'app') c.pid = pid;
      else c.proxyPid = pid;
      markRestarted(c);
      this.#o.tracker.save();
    });
    sup.on('warning', (message) => this.#o.progress(`${c.name}: ${which}: warning: ${message}`));
    sup.on('exit', (report) => {
      if (this.#o.stopping()) return;
      c.status = 'restarting';
      c.restarts++;
      c.detail = `${which} ${exitCause(report)}; restarting in ${restartDelay(report.restartInMs ?? 0)}`;
      this.#o.progress(`${c.name}: ${which} ${exitCause(report)}, restarting\n${indent(report.logTail)}`);
      this.#o.tracker.save();
    });
  }

  /** Reports a Job's app finishing, then runs `after` (its sidecar leaves with it). */
  watchCompletion(app: Supervised, c: ComponentState, after: () => void): void {
    app.on('done', (report) => {
      if (this.#o.stopping()) return;
      c.status = report.code === 0 && !report.startError ? 'completed' : 'failed';
      // Kubernetes' BackoffLimitExceeded: the Job failed after backoffLimit retries.
      c.detail = report.gaveUpAfter ? `${exitCause(report)} on its last try of ${report.gaveUpAfter} (backoffLimit ${report.gaveUpAfter - 1})` : exitCause(report);
      this.#o.progress(`${c.name}: ${c.status} (${c.detail})\n${indent(report.logTail)}`);
      after();
      this.#o.tracker.save();
    });
  }
}

/** Restarted: the exit that restarted it is history (counted in `restarts`), not its state now. */
export function markRestarted(c: ComponentState): void {
  if (c.status !== 'restarting') return;
  c.status = 'running';
  delete c.detail;
}
