// Port allocation for process mode, and naming the process that holds a port when one is taken.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { MESH_DIR_ENV } from './state.ts';

export class PortInUseError extends Error {
  readonly code = 'PORT_IN_USE';
}

/** Asks the kernel for a free loopback port; the set keeps one `up` from handing out a port twice. */
export async function allocatePort(taken: Set<number>, host = '127.0.0.1'): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = await new Promise<number>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, host, () => {
        const address = server.address();
        server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
  throw new PortInUseError('could not find a free port after 50 tries');
}

/** Resolves when `port` can be bound on `host`; rejects with the holder's name when it cannot. */
export async function ensurePortFree(port: number, host = '127.0.0.1'): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== 'EADDRINUSE') return reject(err);
      const holder = portHolder(port);
      reject(new PortInUseError(`port ${port} is already in use${holder ? ` by ${holder}` : ''}`));
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
}

/**
 * Each fixed port (0 is skipped: any free one) must be free on `host`; the first taken one is refused
 * naming its holder and the flag that chose it, before anything binds.
 */
export async function ensureFlaggedPortsFree(ports: readonly (readonly [port: number, flag: string])[], host = '127.0.0.1'): Promise<void> {
  for (const [port, flag] of ports) {
    if (port === 0) continue;
    try {
      await ensurePortFree(port, host);
    } catch (err) {
      if (err instanceof PortInUseError) throw new PortInUseError(`${err.message} (${flag}); free it or choose another port with ${flag}`);
      throw err;
    }
  }
}

/**
 * `pid 1234 (nginx -c /etc/nginx.conf)` for the process listening on a TCP port, from /proc; for a
 * process of an Outrigger mesh (its environment carries the mesh's directory), which mesh, and how to
 * stop it. Undefined where unknown.
 */
export function portHolder(port: number): string | undefined {
  try {
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        const local = cols[1];
        if (!local || cols[3] !== '0A') continue; // 0A = LISTEN
        if (Number.parseInt(local.split(':')[1] ?? '', 16) === port && cols[9]) inodes.add(cols[9]);
      }
    }
    if (inodes.size === 0) return undefined;
    for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        let target: string;
        try {
          target = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const m = /^socket:\[(\d+)\]$/.exec(target);
        if (m && inodes.has(m[1] as string)) {
          return describeProcess(pid);
        }
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** C0 and C1 control characters: an escape sequence in another process's command line stays out of our output. */
const CONTROL = /[\x00-\x1f\x7f-\x9f]/g;

/** A process as a person tells it apart: its command line (shortened), and the mesh it belongs to. */
function describeProcess(pid: string | number): string {
  let what: string;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    // A program's path says little that its name does not: `node`, not `/usr/local/bin/node`.
    const words = argv.map((a, i) => (i === 0 ? path.basename(a) : a));
    // Another user's process writes its own command line: no control character reaches the terminal.
    const line = words.join(' ').replace(CONTROL, ' ').replace(/\s+/g, ' ');
    what = line.length > 200 ? `${line.slice(0, 197)}...` : line;
  } catch {
    what = '';
  }
  // A kernel thread, or a process that hid its command line: its name is all there is.
  if (what === '') what = (readProc(`/proc/${pid}/comm`)?.trim() ?? '?').replace(CONTROL, '?');
  const environ = readProc(`/proc/${pid}/environ`, 'latin1');
  const mesh = environ
    ?.split('\0')
    .find((e) => e.startsWith(`${MESH_DIR_ENV}=`))
    ?.slice(MESH_DIR_ENV.length + 1)
    .replace(CONTROL, '?');
  return mesh ? `pid ${pid} (${what}) of the Outrigger mesh in ${mesh} (outrigger down --dir ${mesh} stops it)` : `pid ${pid} (${what})`;
}

function readProc(file: string, encoding: BufferEncoding = 'utf8'): string | undefined {
  try {
    return readFileSync(file, encoding);
  } catch {
    return undefined;
  }
}
