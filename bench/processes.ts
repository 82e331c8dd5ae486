// Child processes of the benchmark: started pinned to a core with taskset (servers on core 0, load
// generators on core 1), logs kept in the work directory, stopped by their own pid only.
import { type ChildProcess, spawn } from 'node:child_process';
import { openSync, readFileSync } from 'node:fs';
import net from 'node:net';

export class BenchProcessError extends Error {
  readonly code = 'BENCH_PROCESS';
}

export interface Started {
  pid: number;
  child: ChildProcess;
  logFile: string;
  stop(): Promise<void>;
}

/** Cores: 0 for the system under test, 1 for load; on a 1-core box both map to 0. */
export function core(which: 'server' | 'load'): string {
  return which === 'load' && (globalThis.navigator?.hardwareConcurrency ?? 2) > 1 ? '1' : '0';
}

export function startPinned(cpu: string, file: string, args: readonly string[], logFile: string, env?: NodeJS.ProcessEnv): Started {
  const log = openSync(logFile, 'a');
  const child = spawn('taskset', ['-c', cpu, file, ...args], { stdio: ['ignore', log, log], env: env ?? process.env });
  if (child.pid === undefined) throw new BenchProcessError(`could not start ${file}`);
  const pid = child.pid;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    pid,
    child,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 8000);
      await exited;
      clearTimeout(t);
    },
  };
}

/** Resolves once something accepts TCP connections on the port; bounded by `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 15_000, p?: Started): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (p && p.child.exitCode !== null) {
      const tail = readFileSync(p.logFile, 'utf8').split('\n').slice(-8).join('\n');
      throw new BenchProcessError(`process exited with ${p.child.exitCode} before port ${port} opened:\n${tail}`);
    }
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new BenchProcessError(`nothing listened on port ${port} within ${timeoutMs} ms`);
}

/** Runs a command to completion and returns its stdout; rejects on a non-zero exit. */
export function runCommand(file: string, args: readonly string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString();
    });
    const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(out);
      else reject(new BenchProcessError(`${file} ${args.join(' ')} exited with ${code}: ${err.slice(-2000)}`));
    });
  });
}
