// Runs an external client (openssl, curl, sslscan) asynchronously, so the in-process server keeps
// serving; bounded by a timeout that kills it.
import { spawn } from 'node:child_process';

export interface ToolResult {
  out: string;
  status: number | null;
  missing: boolean;
}

export function runTool(cmd: string, args: readonly string[], o: { input?: string; timeoutMs?: number } = {}): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      out += d.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 15_000);
    child.on('error', () => {
      clearTimeout(timer);
      resolve({ out, status: null, missing: true });
    });
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ out, status, missing: false });
    });
    child.stdin.on('error', () => {});
    child.stdin.end(o.input ?? '');
  });
}
