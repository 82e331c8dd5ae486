// Runs Debian's Prometheus on a loopback port with a temporary config and data directory, and asks
// it PromQL over its HTTP API. Every wait is a bounded poll.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const PROMETHEUS = '/usr/bin/prometheus';
export const PROMTOOL = '/usr/bin/promtool';
export const prometheusInstalled = existsSync(PROMETHEUS) && existsSync(PROMTOOL);

export async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export interface VectorSample {
  metric: Record<string, string>;
  value: [number, string];
}

export class PrometheusProcess {
  #child: ChildProcess;
  #dir: string;
  readonly url: string;
  #log = '';

  private constructor(child: ChildProcess, dir: string, url: string) {
    this.#child = child;
    this.#dir = dir;
    this.url = url;
    child.stderr?.on('data', (c: Buffer) => {
      this.#log = (this.#log + c.toString()).slice(-8000);
    });
  }

  /** Starts Prometheus scraping `targets` (host:port) every second; `ruleFiles` are loaded as rules. */
  static async start(targets: readonly string[], ruleFiles: Record<string, string> = {}): Promise<PrometheusProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'outrigger-prom-'));
    const rules: string[] = [];
    for (const [name, text] of Object.entries(ruleFiles)) {
      await writeFile(join(dir, name), text);
      rules.push(join(dir, name));
    }
    const config = [
      'global:',
      '  scrape_interval: 1s',
      '  evaluation_interval: 1s',
      ...(rules.length ? ['rule_files:', ...rules.map((r) => `  - ${r}`)] : []),
      'scrape_configs:',
      '  - job_name: outrigger-proxy',
      '    metrics_path: /stats/prometheus',
      '    static_configs:',
      `      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]`,
      '',
    ].join('\n');
    await writeFile(join(dir, 'prometheus.yml'), config);
    const port = await freePort();
    const child = spawn(PROMETHEUS, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new PrometheusProcess(child, dir, `http://127.0.0.1:${port}`);
  }

  /** Starts Prometheus on a config file of its own (rule files relative to it); the file's directory is left in place. */
  static async fromConfig(configFile: string): Promise<PrometheusProcess> {
    const dir = await mkdtemp(join(tmpdir(), 'outrigger-prom-'));
    const port = await freePort();
    const child = spawn(PROMETHEUS, [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    return new PrometheusProcess(child, dir, `http://127.0.0.1:${port}`);
  }

  get log(): string {
    return this.#log;
  }

  async query(promql: string): Promise<VectorSample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(promql)}`);
    const body = (await res.json()) as { status: string; data?: { resultType: string; result: VectorSample[] }; error?: string };
    if (body.status !== 'success' || !body.data) throw new Error(`query failed: ${body.error ?? res.status}`);
    return body.data.result;
  }

  /** Polls until `check` returns a value (not undefined), at most `attempts` times `everyMs` apart. */
  async until<T>(what: string, check: () => Promise<T | undefined>, attempts = 60, everyMs = 500): Promise<T> {
    let last: unknown;
    for (let i = 0; i < attempts; i++) {
      try {
        const v = await check();
        if (v !== undefined) return v;
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
    throw new Error(`gave up waiting for ${what}: ${String(last ?? 'no result')}\n${this.#log}`);
  }

  async stop(): Promise<void> {
    if (this.#child.exitCode === null) {
      const exited = new Promise((resolve) => this.#child.once('exit', resolve));
      this.#child.kill('SIGTERM');
      await exited;
    }
    await rm(this.#dir, { recursive: true, force: true });
  }
}

/** Runs promtool with stdin; resolves with exit code and output. */
export function promtool(args: readonly string[], stdin?: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(PROMTOOL, args, { timeout: 30_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    if (stdin !== undefined) child.stdin?.end(stdin);
  });
}
