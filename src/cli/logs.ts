// `outrigger logs WORKLOAD [--proxy] [-f]`: the app's (or its sidecar's) log, like `kubectl logs [-c istio-proxy] [-f]`.
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { type Command, InvalidArgumentError } from 'commander';
import { ComponentNotFoundError, findComponent, parseComponentRef } from '../runtime/find-component.ts';
import { type ComponentState, type MeshState, meshOwnerAlive } from '../runtime/state.ts';
import { fileIdentity, followLog } from './log-follow.ts';
import { runningMesh } from './mesh-state.ts';

export function define(program: Command): void {
  program
    .command('logs')
    .description("print a workload's log; --proxy for its sidecar's (the seed's `kubectl logs ... -c istio-proxy`)")
    .argument('<workload>', 'podinfo-stable-0, podinfo/podinfo-stable-0, deploy/podinfo-stable, or control-plane (also istiod)')
    .option('-n, --namespace <ns>', 'namespace of the workload')
    .option('--proxy', "the sidecar's log instead of the app's")
    .option('-c, --container <name>', "kubectl's container: istio-proxy is the sidecar (as --proxy), any other name the app (each pod runs one app process)")
    .option('--tail <lines>', 'only the last N lines', positiveLines)
    .option('-f, --follow', 'keep printing lines as they are written, until Ctrl-C or the mesh stops (kubectl logs -f)')
    .option('--dir <dir>', 'the state directory of the mesh')
    .action(async (ref: string, opts: { namespace?: string; proxy?: boolean; container?: string; tail?: number; follow?: boolean; dir?: string }) => {
      if (opts.container === 'istio-proxy') opts.proxy = true;
      const { dir, state } = runningMesh(opts.dir);
      const c = findLogged(state, ref, opts.namespace);
      // The control plane runs in the `up` process, whose log is up.log; a gateway is its proxy.
      const file = c.kind === 'control-plane' ? controlPlaneLog(dir, state.startedAt) : opts.proxy || c.kind === 'gateway' ? c.proxyLogFile : c.logFile;
      if (!file) throw new NoLogError(`${c.name} has no ${opts.proxy ? 'sidecar' : 'app'} log${!opts.proxy && c.proxyLogFile ? "; for its sidecar's, add --proxy" : ''}`);
      // Read once: the follow starts at the byte after what was printed, in that same file.
      const fd = openSync(file, 'r');
      let bytes: Buffer;
      let identity: string;
      try {
        identity = fileIdentity(fstatSync(fd));
        bytes = readFileSync(fd);
      } finally {
        closeSync(fd);
      }
      const lines = bytes.toString('utf8').trimEnd().split('\n');
      process.stdout.write(`${(opts.tail ? lines.slice(-opts.tail) : lines).join('\n')}\n`);
      if (opts.follow) await follow(file, bytes.length, identity, state);
    });
}

/** Prints what `file` gains from `from` on until Ctrl-C (or a SIGTERM), or until the mesh stops. */
async function follow(file: string, from: number, identity: string, state: MeshState): Promise<void> {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    await followLog(file, from, (text) => process.stdout.write(text), { signal: stop.signal, identity, running: () => meshOwnerAlive(state) });
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/**
 * The component whose log `ref` names: istiod (`istiod`, `deploy/istiod`, `istio-system/istiod`, with or
 * without `-n istio-system`, as the seed's `kubectl logs -n istio-system deployment/istiod`) is the
 * control plane; anything else as exec names it. A name nobody has lists control-plane beside the known.
 */
function findLogged(state: MeshState, ref: string, namespace: string | undefined): ComponentState {
  const { ns, name } = parseComponentRef(ref, namespace);
  const controlPlane = state.components.find((c) => c.kind === 'control-plane');
  if (name === 'istiod' && controlPlane && (ns === undefined || ns === 'istio-system')) return controlPlane;
  try {
    return findComponent(state, ref, namespace);
  } catch (err) {
    if (err instanceof ComponentNotFoundError && controlPlane) throw new ComponentNotFoundError(`${err.message}, and control-plane (istiod)`);
    throw err;
  }
}

class NoLogError extends Error {
  readonly code = 'NO_LOG';
}

function positiveLines(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of lines, at least 1');
  return n;
}

/**
 * up.log, which `up -d` writes; not one left by an earlier `up -d` (older than this mesh). A foreground
 * `up` logs to its terminal.
 */
function controlPlaneLog(dir: string, startedAt: string): string {
  const file = path.join(dir, 'logs', 'up.log');
  let written: number;
  try {
    written = statSync(file).mtimeMs;
  } catch {
    written = Number.NaN;
  }
  if (!(written >= Date.parse(startedAt) - 60_000)) throw new NoLogError("the control plane logs to the terminal where this mesh's `up` runs (started without -d)");
  return file;
}
