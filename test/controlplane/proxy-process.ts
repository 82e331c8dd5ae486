// A real `outrigger proxy` CLI process for control-plane tests: spawned from bin/outrigger.mjs with every
// port ephemeral (the proxy binds port 0 and logs where its admin landed, so no other process can take
// a port chosen here first), its output collected so a test can wait (bounded) for a log line or its exit.
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { proxyPortNumbers } from '../../src/runtime/proxy-process.ts';

const bin = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../bin/outrigger.mjs');

export class ProxyProcess {
  readonly child: ChildProcess;
  #log = '';
  #waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(args: readonly string[]) {
    const portMap = proxyPortNumbers.map((p) => `${p}=0`).join(',');
    this.child = spawn(process.execPath, [bin, 'proxy', '--port-map', portMap, '--drain-seconds', '0', ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', OUTRIGGER_FROM_SOURCE: '1' },
    });
    const onData = (d: Buffer) => {
      this.#log += d.toString();
      for (const w of this.#waiters) w();
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code) => {
        for (const w of this.#waiters) w();
        resolve(code);
      }),
    );
  }

  static async spawn(args: readonly string[]): Promise<ProxyProcess> {
    return new ProxyProcess(args);
  }

  /** The admin port the proxy bound, from its startup line. */
  async adminPort(timeoutMs: number): Promise<number> {
    return Number((await this.waitForLog(/admin 127\.0\.0\.1:(\d+)/, timeoutMs))[1]);
  }

  get log(): string {
    return this.#log;
  }

  /** Resolves with the first match of `re` in the log; rejects at the deadline or when the process exits first. */
  waitForLog(re: RegExp, timeoutMs: number): Promise<RegExpExecArray> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.#log);
        if (m) return finish(() => resolve(m));
        if (this.child.exitCode !== null) finish(() => reject(new Error(`proxy exited (${this.child.exitCode}) before ${re}; log:\n${this.#log}`)));
      };
      const timer = setTimeout(() => finish(() => reject(new Error(`no ${re} within ${timeoutMs} ms; log:\n${this.#log}`))), timeoutMs);
      const finish = (f: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        f();
      };
      this.#waiters.add(check);
      check();
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), 10_000);
    await this.exited;
    clearTimeout(killer);
  }
}

/** GET on loopback (a proxy's admin port): the status and body, or an error after 5 s. */
export function adminGet(port: number, p: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: p, timeout: 5_000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Polls `check` every 100 ms until it holds, at most `attempts` times. */
export async function until(check: () => boolean | Promise<boolean>, attempts: number): Promise<boolean> {
  for (let i = 0; i < attempts; i++) {
    if (await check()) return true;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return false;
}
