// Test helpers: node scripts run inside a pod's network namespace, as servers (waited for until they
// print "ready") or as one-shot clients (their JSON output returned).
import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';

/** Whether this machine can run netns tests: root and a working `ip netns`. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return 'netns tests need root';
  try {
    execFileSync('ip', ['netns', 'list'], { stdio: 'ignore' });
    execFileSync('iptables', ['-w', '-S', 'INPUT'], { stdio: 'ignore' });
  } catch {
    return 'netns tests need `ip netns` and iptables';
  }
  return undefined;
}

export async function startInPod(netns: string, script: string, env: Record<string, string> = {}): Promise<ChildProcess> {
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env['PATH'] ?? '', ...env } });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`server in ${netns} not ready within 10s: ${err}`)), 10_000);
    child.stderr?.on('data', (c: Buffer) => {
      err += c.toString();
    });
    child.stdout?.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server in ${netns} exited with ${code}: ${err}`));
    });
  });
  return child;
}

export function runInPod<T>(netns: string, script: string, env: Record<string, string> = {}): Promise<T> {
  return new Promise((resolve, reject) => {
    execFile('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { timeout: 10_000, env: { PATH: process.env['PATH'] ?? '', ...env } }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`client in ${netns} failed: ${stderr || err.message}`));
      try {
        resolve(JSON.parse(stdout) as T);
      } catch {
        reject(new Error(`client in ${netns} printed no JSON: ${stdout} ${stderr}`));
      }
    });
  });
}

/** A client script: one HTTP GET, printing `{ status, body }` or `{ error: code }`. */
export function httpGetScript(url: string): string {
  return `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(5000) }).then(async (r) => console.log(JSON.stringify({ status: r.status, body: await r.text() })), (e) => console.log(JSON.stringify({ error: e.cause?.code ?? e.code ?? e.message })))`;
}

/** A client script: connect, send `payload`, print `{ data }` once what was sent comes back, or how it ended. */
export function tcpEchoScript(host: string, port: number, payload: string): string {
  return `const s = require('node:net').connect(${port}, ${JSON.stringify(host)}); let data = '';
const done = (r) => { console.log(JSON.stringify(r)); process.exit(0); };
s.on('connect', () => s.write(${JSON.stringify(payload)}));
s.on('data', (c) => { data += c; if (data.endsWith(${JSON.stringify(payload)})) done({ data }); });
s.on('error', (e) => done({ error: e.code }));
s.on('close', () => done({ data, closed: true }));
setTimeout(() => done({ data, timeout: true }), 2000);`;
}

/** What a host-wide listing holds of one mesh id: for the teardown assertions. */
export function leftovers(id: string): string[] {
  const text = [
    execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }),
    execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' }),
    execFileSync('iptables-save', [], { encoding: 'utf8' }),
  ].join('\n');
  return text.split('\n').filter((l) => l.includes(`or-${id}-`) || l.includes(`or-br-${id}`) || l.includes(`OUTRIGGER-${id}`));
}
