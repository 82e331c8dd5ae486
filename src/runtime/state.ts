// The local state directory `.outrigger/` of a running mesh: what `status`, `down`, `logs`, `exec` and the
// CLI's debug commands read. One JSON file, written atomically; secrets and tokens live beside it, 0600.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { makePrivateDir, writeFileAtomic } from './write-atomic.ts';

export interface ComponentState {
  /** `podinfo/podinfo-stable-0`, `istio-system/istio-ingressgateway-0`, `control-plane`. */
  name: string;
  kind: 'control-plane' | 'gateway' | 'workload';
  namespace?: string;
  pid?: number;
  proxyPid?: number;
  /** Named ports: `app:9898` → 41234, `proxy:15000` → 41240, ... */
  ports: Record<string, number>;
  sidecar: boolean;
  status: 'starting' | 'running' | 'restarting' | 'failed' | 'completed' | 'stopped';
  restarts: number;
  detail?: string;
  logFile?: string;
  proxyLogFile?: string;
  env?: Record<string, string>;
  /** A gateway deployed for a Gateway API Gateway: which (`shop/web`), and its listener ports (host ports in `proxy:PORT`). */
  gatewayApi?: { gateway: string; listeners: { port: number; protocol: string }[] };
  /** Netns mode: the pod's network namespace and address. */
  netns?: string;
  address?: string;
}

export interface MeshState {
  version: 1;
  /** The `up` process that owns the mesh. */
  pid: number;
  startedAt: string;
  mode: 'process' | 'netns';
  configDirs: string[];
  controlPlane: { xdsAddress: string; xdsTlsAddress?: string; rootCertFile?: string; debugAddress: string; dashboardUrl?: string };
  ingressUrl?: string;
  components: ComponentState[];
  /** Every process this mesh started carries MESH_DIR_ENV (absent in states written before it did). */
  marked?: boolean;
}

export function stateDir(cwd: string): string {
  return path.join(cwd, '.outrigger');
}

export function readState(dir: string): MeshState | undefined {
  const file = path.join(dir, 'state.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as MeshState;
  } catch {
    return undefined;
  }
}

export function writeState(dir: string, state: MeshState): void {
  makePrivateDir(dir);
  const file = path.join(dir, 'state.json');
  writeFileAtomic(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
}

/**
 * The private folders beside state.json: one for every process's log, one for proxy tokens. Each (and
 * the state directory) is made 0700, or refused if one already there is a symlink, another user's, or
 * writable by group or others (makePrivateDir): tokens are written in it, by root in netns mode.
 */
export function makeStateDirs(dir: string): void {
  makePrivateDir(dir);
  makePrivateDir(path.join(dir, 'logs'));
  makePrivateDir(path.join(dir, 'tokens'));
}

/**
 * Whether the process that owns a state file is still alive. A zombie is not: killed, it waits only for
 * its parent to reap it (a SIGKILLed `up` whose parent is gone, under an init that reaps late).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return !zombie(pid);
}

function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false; // no /proc (or gone since): kill(0) has said
  }
}

/**
 * In the environment of every process a mesh starts (proxies, proxy host, apps): which mesh it belongs
 * to, so `outrigger down` can find them after the `up` that started them died without stopping them
 * (SIGKILL), and never mistakes a process that reused a recorded pid for one of them.
 */
export const MESH_DIR_ENV = 'OUTRIGGER_MESH_DIR';

export function meshMarker(stateDir: string): Record<string, string> {
  return { [MESH_DIR_ENV]: path.resolve(stateDir) };
}

/** When a process started, in ms since the epoch (Linux /proc); undefined where that cannot be read. */
export function processStartMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // Fields after the command name, which may hold spaces and parentheses: starttime is field 22.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    const btime = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'latin1'))?.[1]);
    // The kernel's USER_HZ is 100 on every Linux Node supports.
    return Number.isFinite(ticks) && Number.isFinite(btime) ? btime * 1000 + (ticks * 1000) / 100 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the `up` that owns `state` still runs: its pid is alive and that process started before the
 * state says the mesh did (a pid reused after the `up` died, or after a reboot, started later).
 */
export function meshOwnerAlive(state: MeshState): boolean {
  if (!isAlive(state.pid)) return false;
  const started = processStartMs(state.pid);
  const recorded = Date.parse(state.startedAt);
  if (started === undefined || !Number.isFinite(recorded)) return true;
  return started <= recorded + 2_000;
}

/** The pids the state records for apps and proxies (not the `up` itself) that are still alive. */
export function recordedPids(state: MeshState): number[] {
  const pids = new Set(state.components.flatMap((c) => [c.pid, c.proxyPid]).filter((p): p is number => typeof p === 'number' && p > 0));
  return [...pids].filter(isAlive);
}

/**
 * Recorded processes of the mesh in `stateDir` still running, known by the marker in their environment
 * (Linux: /proc/PID/environ); undefined when that cannot be told (no /proc, or a state written before
 * the marker existed).
 */
export function leftoverProcesses(stateDir: string, state: MeshState): number[] | undefined {
  if (!state.marked || !existsSync('/proc/self/environ')) return undefined;
  const marker = markerOf(stateDir);
  return recordedPids(state).filter((pid) => carries(pid, marker));
}

/** The marker as /proc/PID/environ holds it, NUL-delimited. */
function markerOf(stateDir: string): string {
  return `\0${MESH_DIR_ENV}=${path.resolve(stateDir)}\0`;
}

/** Whether process `pid` carries `marker` in its environment (false when it is gone or not ours to read). */
function carries(pid: number, marker: string): boolean {
  try {
    return `\0${readFileSync(`/proc/${pid}/environ`, 'latin1')}`.includes(marker);
  } catch {
    return false;
  }
}

/**
 * Every live process that carries this mesh's marker, found by reading each process's environment
 * (Linux): what an `up` killed before it wrote its state had started. Undefined where `/proc` cannot tell.
 */
export function markedProcesses(stateDir: string): number[] | undefined {
  if (!existsSync('/proc/self/environ')) return undefined;
  const marker = markerOf(stateDir);
  // Never this process nor what it runs under: a shell opened in one of the mesh's processes inherits
  // the marker, and `down` typed there must not end that shell.
  const ancestors = ancestorsOf(process.pid);
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (Number.isInteger(pid) && pid > 0 && !ancestors.has(pid) && carries(pid, marker)) out.push(pid);
  }
  return out;
}

/** `pid` and every process above it (its parent's parent, ... up to init), from /proc. */
function ancestorsOf(pid: number): Set<number> {
  const out = new Set<number>();
  for (let p = pid; p > 0 && !out.has(p); ) {
    out.add(p);
    try {
      // `pid (comm) state ppid ...`: the command may hold spaces and parentheses, so read after the last ')'.
      const stat = readFileSync(`/proc/${p}/stat`, 'latin1');
      p = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    } catch {
      break;
    }
  }
  return out;
}
