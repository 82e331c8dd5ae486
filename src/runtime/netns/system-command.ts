// Runs the system tools netns mode is built on (ip, iptables-restore, sysctl) and turns their failures
// into errors that name the command and carry its stderr.
import { execFile } from 'node:child_process';

export class NetnsCommandError extends Error {
  readonly code = 'NETNS_COMMAND';
  readonly stderr: string;
  constructor(message: string, stderr: string, options?: ErrorOptions) {
    super(message, options);
    this.stderr = stderr;
  }
}

export interface RunOptions {
  /** Written to the command's stdin (iptables-restore input). */
  input?: string;
  timeoutMs?: number;
}

/** Runs `file args...`; resolves with stdout, rejects with a NetnsCommandError. */
export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(file, [...args], { timeout: opts.timeoutMs ?? 10_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) {
        const line = [file, ...args].join(' ');
        reject(new NetnsCommandError(`\`${line}\` failed: ${stderr.trim() || err.message}`, stderr, { cause: err }));
        return;
      }
      resolve(stdout);
    });
    if (opts.input !== undefined) {
      // A command that exits without reading all its input (refusing it, or not needing it) closes the
      // pipe: EPIPE here is no error of its own, and unhandled it would end the process. Its exit status
      // comes to the callback above.
      child.stdin?.on('error', () => {});
      child.stdin?.end(opts.input);
    }
  });
}

/** Runs a command inside a network namespace (`ip netns exec NAME ...`). */
export function runIn(netns: string, file: string, args: readonly string[], opts: RunOptions = {}): Promise<string> {
  return run('ip', ['netns', 'exec', netns, file, ...args], opts);
}

/** Like `run`, but a failure is ignored (teardown of something that may already be gone). */
export async function runQuietly(file: string, args: readonly string[]): Promise<boolean> {
  try {
    await run(file, args);
    return true;
  } catch {
    return false;
  }
}
