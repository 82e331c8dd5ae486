// Runs one local process and keeps it running: logs to a file, restarts with exponential backoff after
// a crash, reports exits with their status and the tail of the log, and stops gracefully. The process
// leads a process group of its own, as a container's processes share one: stopping it, or its exit,
// ends what it started too (a shell's `sleep`), not just the process itself.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, openSync, readFileSync, statSync } from 'node:fs';

export interface ProcessSpec {
  /** `podinfo/podinfo-stable-0 app`, for messages. */
  label: string;
  file: string;
  args: readonly string[];
  env: Record<string, string>;
  cwd?: string;
  logFile: string;
  /** A Job's process: exit 0 is success and ends supervision; Deployments restart whatever the status. */
  runToCompletion?: boolean;
  /**
   * A Job's `backoffLimit`: once it has been restarted this many times, a failed exit ends supervision
   * (`done`, with `gaveUp`) instead of another restart, as Kubernetes fails the Job.
   */
  maxRestarts?: number;
  /** Group id to run as (a netns sidecar: 1337, which the pod's capture rules let through). */
  gid?: number;
  /** An IPC channel to the process (`send`, and its messages as `message` events): the proxy host's. */
  ipc?: boolean;
}

export interface Scheduler {
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

export const realScheduler: Scheduler = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

export interface ExitReport {
  label: string;
  code: number | null;
  signal: string | null;
  /** The last lines of the log, for the person reading the report. */
  logTail: string;
  restartInMs?: number;
  /** Why the process never ran (`spawn ./app ENOENT`): it did not exit, it failed to start. */
  startError?: string;
  /** A Job out of tries (`maxRestarts`): how many times it ran. */
  gaveUpAfter?: number;
}

/** Reads at most the last `lines` lines (and 8 KiB) of a log file. */
export function tailFile(file: string, lines = 10): string {
  try {
    const size = statSync(file).size;
    const text = readFileSync(file, 'utf8').slice(Math.max(0, size - 8192));
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

const ownGroup = process.platform !== 'win32';

/** Signals the process and everything in its process group; just the process where it has no group of its own. */
function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (ownGroup && child.pid !== undefined) {
    try {
      process.kill(-child.pid, signal);
      return;
    } catch {
      // The group is empty (all gone): nothing to signal; or it never formed: signal the process.
    }
  }
  if (child.exitCode === null && child.signalCode === null) child.kill(signal);
}

const minBackoffMs = 500;
const maxBackoffMs = 30_000;

export class Supervised extends EventEmitter<{ exit: [ExitReport]; started: [number]; done: [ExitReport]; message: [unknown]; warning: [string] }> {
  readonly spec: ProcessSpec;
  #child: ChildProcess | undefined;
  #stopping = false;
  #restarts = 0;
  #pending: { cancel(): void } | undefined;
  #scheduler: Scheduler;
  #exited: Promise<void> = Promise.resolve();

  constructor(spec: ProcessSpec, scheduler: Scheduler = realScheduler) {
    super();
    this.spec = spec;
    this.#scheduler = scheduler;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  get restarts(): number {
    return this.#restarts;
  }

  get running(): boolean {
    return this.#child !== undefined && this.#child.exitCode === null && this.#child.signalCode === null;
  }

  start(): void {
    // A log that cannot be opened (a full or read-only state directory) costs the log, not the process:
    // a restart runs from a timer, where a throw would take the `up` process, the control plane, down.
    let fd: number | undefined;
    let logError: string | undefined;
    try {
      fd = openSync(this.spec.logFile, 'a', 0o600);
    } catch (err) {
      logError = (err as Error).message;
    }
    const out = fd ?? 'ignore';
    let child: ChildProcess;
    try {
      child = spawn(this.spec.file, [...this.spec.args], {
        env: this.spec.env,
        cwd: this.spec.cwd,
        stdio: this.spec.ipc ? ['ignore', out, out, 'ipc'] : ['ignore', out, out],
        // Its own process group (POSIX): signalled as one, and out of reach of the terminal's Ctrl-C,
        // which the `up` process turns into an orderly stop (apps first, then the proxies).
        detached: ownGroup,
        ...(this.spec.gid !== undefined ? { gid: this.spec.gid } : {}),
      });
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (logError !== undefined) this.emit('warning', `its output is discarded: cannot open its log (${logError})`);
    this.#child = child;
    let resolveExit!: () => void;
    this.#exited = new Promise((r) => {
      resolveExit = r;
    });
    child.once('error', (err) => {
      this.#onExit(null, null, err.message);
      resolveExit();
    });
    if (this.spec.ipc) child.on('message', (m) => this.emit('message', m));
    child.once('exit', (code, signal) => {
      // What it started and left behind goes with it, as a container's processes go when its main one exits.
      if (child.pid !== undefined) signalGroup(child, 'SIGKILL');
      this.#onExit(code, signal);
      resolveExit();
    });
    if (child.pid !== undefined) this.emit('started', child.pid);
  }

  #onExit(code: number | null, signal: string | null, startError?: string): void {
    this.#child = undefined;
    const report: ExitReport = {
      label: this.spec.label,
      code,
      signal,
      logTail: startError !== undefined ? `cannot start ${this.spec.file}: ${startError}` : tailFile(this.spec.logFile),
      ...(startError ? { startError } : {}),
    };
    if (this.#stopping || (this.spec.runToCompletion && code === 0)) {
      this.emit('done', report);
      return;
    }
    if (this.spec.maxRestarts !== undefined && this.#restarts >= this.spec.maxRestarts) {
      report.gaveUpAfter = this.#restarts + 1;
      this.emit('done', report);
      return;
    }
    const delay = Math.min(maxBackoffMs, minBackoffMs * 2 ** this.#restarts);
    this.#restarts++;
    report.restartInMs = delay;
    this.emit('exit', report);
    this.#pending = this.#scheduler.setTimeout(() => {
      this.#pending = undefined;
      if (!this.#stopping) this.start();
    }, delay);
  }

  /** Sends a message over the IPC channel (`ipc`); false when there is no process to take it. */
  send(message: unknown): boolean {
    const child = this.#child;
    if (!child?.connected) return false;
    child.send(message as object, (err) => {
      // Gone meanwhile: its exit is reported on its own.
      void err;
    });
    return true;
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
  async stop(graceMs = 5000): Promise<void> {
    this.#stopping = true;
    this.#pending?.cancel();
    const child = this.#child;
    if (!child) return;
    signalGroup(child, 'SIGTERM');
    const timer = setTimeout(() => signalGroup(child, 'SIGKILL'), graceMs);
    timer.unref();
    await this.#exited;
    clearTimeout(timer);
  }

  /** Resolves when the current process exits (for Jobs). */
  exited(): Promise<void> {
    return this.#exited;
  }
}
