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

/** `status 1` or `SIGKILL`. */
export function exitCause(report: ExitReport): string {
  return report.signal ?? `status ${report.code}`;
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
      c.detail = `${which} exited with ${exitCause(report)}; restarting in ${Math.round((report.restartInMs ?? 0) / 1000)}s`;
      this.#o.progress(`${c.name}: ${which} exited with ${exitCause(report)}, restarting\n${indent(report.logTail)}`);
      this.#o.tracker.save();
    });
  }

  /** Reports a Job's app finishing, then runs `after` (its sidecar leaves with it). */
  watchCompletion(app: Supervised, c: ComponentState, after: () => void): void {
    app.on('done', (report) => {
      if (this.#o.stopping()) return;
      c.status = report.code === 0 ? 'completed' : 'failed';
      c.detail = `exited with status ${report.code}`;
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
