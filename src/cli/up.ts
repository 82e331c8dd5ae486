// `outrigger up -f DIR`: the seed mesh (or any Istio + Kubernetes manifests) running locally in seconds.
import { spawn } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { type Command, Option } from 'commander';
import { leftoverProcesses, meshOwnerAlive, readState, stateDir as defaultStateDir } from '../runtime/state.ts';
import { gatewayApiLines } from '../runtime/gateway-api-urls.ts';
import { dirFlag } from './mesh-state.ts';
import { portNumber } from './port-arg.ts';

export interface UpOptions {
  file: string[];
  detach?: boolean;
  /** Set on the background `up` that `up -d` starts: its output is up.log, where no Ctrl-C reaches it. */
  detached?: boolean;
  ingressPort: number;
  httpsPort: number;
  ephemeralPorts?: boolean;
  dir?: string;
  xdsPort: number;
  debugPort: number;
  dashboardPort: number;
  mode: string;
  proxyProcesses: string;
}

const portFlags = ['ingressPort', 'httpsPort', 'xdsPort', 'debugPort', 'dashboardPort'] as const;

/**
 * Under --ephemeral-ports every port is picked free (0) except those given on the command line: asking
 * for both says "this port, the rest anywhere", and a silently ignored --ingress-port would leave the
 * person curling a port nothing listens on.
 */
export function effectivePorts(opts: UpOptions, given: (flag: (typeof portFlags)[number]) => boolean): UpOptions {
  if (!opts.ephemeralPorts) return opts;
  const out = { ...opts };
  for (const flag of portFlags) if (!given(flag)) out[flag] = 0;
  return out;
}

export function define(program: Command): void {
  program
    .command('up')
    .description('run a mesh locally from Istio and Kubernetes manifests: control plane, gateways, workloads and sidecars')
    .requiredOption('-f, --file <dir...>', 'directories or files of YAML (Istio and Kubernetes kinds)')
    .option('-d, --detach', 'start in the background; stop with `outrigger down`')
    .option('--ingress-port <port>', "the ingress gateway's HTTP port on this host", portNumber, 8080)
    .option('--https-port <port>', "the ingress gateway's HTTPS port on this host", portNumber, 8443)
    .option('--xds-port <port>', 'control-plane xDS port on loopback', portNumber, 15010)
    .option('--debug-port <port>', 'control-plane debug and metrics port on loopback', portNumber, 15014)
    .option('--dashboard-port <port>', 'dashboard port on loopback (Kiali\'s)', portNumber, 20001)
    .option('--ephemeral-ports', 'pick a free port for everything, the ingress and control plane too (for tests and side-by-side meshes); a port flag given beside it keeps its port: a port you named, silently moved, is one nothing answers on')
    .option('--dir <dir>', 'state directory', undefined)
    // Internal: the background `up` that `up -d` starts, whose output is up.log.
    .addOption(new Option('--detached').hideHelp())
    .addOption(new Option('--mode <mode>', 'process (any OS) or netns (Linux, root: each pod in its own network namespace)').choices(['process', 'netns']).default('process'))
    .addOption(
      new Option(
        '--proxy-processes <how>',
        "process mode: shared (every gateway and sidecar in one proxy host process) or per-proxy (each in its own, as netns mode runs them: each then reports its CPU and memory as the istio-proxy container's, which IstioProxyHighResourceUsage reads; about 100 MB more per proxy)",
      )
        .choices(['shared', 'per-proxy'])
        .default('shared'),
    )
    .addHelpText(
      'after',
      `
Examples:
  outrigger up -f examples/seed          run the seed mesh in the foreground (Ctrl-C stops it)
  outrigger up -f examples/seed -d       run it in the background; then: outrigger status, outrigger down
  curl -s http://127.0.0.1:8080/ -H 'Host: podinfo.example.com'
  curl -s http://127.0.0.1:8080/ -H 'Host: podinfo.example.com' -H 'X-Canary: true'
  outrigger up -f examples/seed --ephemeral-ports --ingress-port 9080
                                         the ingress on 9080, every other port free (an explicit port wins)`,
    )
    .action(async (opts: UpOptions, cmd: Command) => {
      process.exitCode = await up(effectivePorts(opts, (flag) => cmd.getOptionValueSource(flag) === 'cli'));
    });
}

async function up(opts: UpOptions): Promise<number> {
  const dir = path.resolve(opts.dir ?? defaultStateDir(process.cwd()));
  // A wrong command line is a usage error (exit 64, one line from main), found before anything else.
  const { requireDirectoryIfPresent, requireExistingPaths } = await import('./path-args.ts');
  requireDirectoryIfPresent(dir, '--dir');
  requireExistingPaths(opts.file, '-f');
  const existing = readState(dir);
  const owned = existing !== undefined && meshOwnerAlive(existing);
  const left = existing && !owned ? (leftoverProcesses(dir, existing) ?? []) : [];
  if (left.length) {
    console.error(`outrigger up: the last mesh here (state in ${dir}) died and left ${left.length} process(es) running (${left.join(', ')}); stop them with \`outrigger down${dirFlag(opts.dir)}\``);
    return 1;
  }
  if (existing && owned) {
    console.error(`outrigger up: a mesh is already running here (pid ${existing.pid}, state in ${dir}); see \`outrigger status${dirFlag(opts.dir)}\` or stop it with \`outrigger down${dirFlag(opts.dir)}\``);
    return 1;
  }
  const { claimMeshDir, meshDirHolder, releaseMeshDir } = await import('../runtime/up-lock.ts');
  const alreadyStarting = (pid: number) => {
    console.error(`outrigger up: a mesh is already starting here (pid ${pid}, state in ${dir}); see \`outrigger status${dirFlag(opts.dir)}\` once it is up, or stop it with \`outrigger down${dirFlag(opts.dir)}\``);
    return 1;
  };
  const starting = meshDirHolder(dir);
  if (starting !== undefined) return alreadyStarting(starting);
  if (opts.detach) return detach(dir, opts.dir);

  const { loadPaths } = await import('../config/load.ts');
  const { formatDiagnostics } = await import('./diagnostic-format.ts');
  const loaded = await loadPaths(opts.file);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  const shown = loaded.diagnostics.filter((d) => d.severity !== 'info');
  if (shown.length) console.error(formatDiagnostics(shown));
  const notRun = loaded.diagnostics.filter((d) => d.code === 'OR1041').map((d) => d.resource ?? '');
  if (notRun.length) console.log(`not run locally (Outrigger provides the equivalent): ${notRun.join(', ')}`);
  const noMeaning = loaded.diagnostics.filter((d) => d.code === 'OR1044').map((d) => d.resource ?? '');
  if (noMeaning.length) console.log(`not run (they act on a cluster, and there is none here; outrigger analyze says why): ${noMeaning.join(', ')}`);
  if (errors.length) {
    console.error(`outrigger up: ${errors.length} error(s) in the manifests; nothing was started`);
    return 1;
  }
  // What `istioctl analyze` would say (a route to a host nothing defines, a conflict): shown, but the mesh
  // starts anyway, as Kubernetes accepts such resources and Istio serves them.
  const { runAnalyzers } = await import('../analysis/run.ts');
  const findings = runAnalyzers(loaded.resources).filter((d) => d.severity !== 'info');
  if (findings.length) {
    console.error(formatDiagnostics(findings));
    console.error(`outrigger up: ${findings.length} analyzer finding(s), as \`outrigger analyze\` reports them; starting anyway`);
  }
  const unrunnable = await unrunnableWorkloads(loaded.resources);
  if (unrunnable.length) {
    for (const line of unrunnable) console.error(line);
    console.error(`outrigger up: ${unrunnable.length} workload(s) cannot run locally; nothing was started`);
    return 1;
  }

  const { MeshRuntime } = opts.mode === 'netns' ? await import('../runtime/netns/netns-runtime.ts').then((m) => ({ MeshRuntime: m.NetnsMeshRuntime })) : await import('../runtime/mesh-runtime.ts');
  const { certificateProxyArgs, startLocalControlPlane } = await import('../runtime/start-control-plane.ts');
  const { writePrometheusFiles } = await import('../runtime/prometheus-config.ts');
  const started = Date.now();
  const progress = (line: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}`);
  // The processes the mesh starts run a type-stripped copy of Outrigger (less memory, faster start).
  const { buildJsTree, jsTreeDir, packageRoot } = await import('../runtime/js-build.ts');
  // Claimed before anything starts: a second `up` here, started at the same moment, is refused, not run beside this one.
  const claim = claimMeshDir(dir);
  if (!claim.claimed) return alreadyStarting(claim.pid);
  const jsDir = jsTreeDir();
  const js = buildJsTree(packageRoot(), jsDir);
  if (js.written > 0) progress(preparedLine(js.written, jsDir));
  const runtime = new MeshRuntime({
    configDirs: opts.file.map((f) => path.resolve(f)),
    stateDir: dir,
    outriggerBin: js.bin,
    demoPrograms: { dir: path.join(jsDir, 'src', 'runtime', 'demo'), ext: '.js' },
    nodeBinary: process.execPath,
    ingressHttpPort: opts.ingressPort,
    ingressHttpsPort: opts.httpsPort,
    ...(opts.ephemeralPorts ? { ephemeralGatewayPorts: true } : {}),
    ...(opts.proxyProcesses === 'per-proxy' ? { proxyPerProcess: true } : {}),
    progress,
    proxyFlags: certificateProxyArgs(loaded.resources),
    startControlPlane: (resources) =>
      startLocalControlPlane({
        configDirs: opts.file.map((f) => path.resolve(f)),
        resources,
        stateDir: dir,
        xdsPort: opts.xdsPort,
        // Under --ephemeral-ports the TLS port is free too, even beside an explicit --xds-port.
        ...(opts.ephemeralPorts ? { xdsTlsPort: 0 } : {}),
        debugPort: opts.debugPort,
        dashboardPort: opts.dashboardPort,
        progress,
      }),
  });
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      progress('stopping: the apps, then draining the sidecars and gateways, then the control plane');
      await runtime.stop();
      // Only this mesh's state: never another's that took the directory over.
      if (readState(dir)?.pid === process.pid) rmSync(path.join(dir, 'state.json'), { force: true });
      releaseMeshDir(dir);
      progress('stopped');
    })();
    return stopping;
  };
  process.once('SIGINT', () => void stop());
  process.once('SIGTERM', () => void stop());
  try {
    const state = await runtime.start(loaded.resources);
    const prometheus = writePrometheusFiles(dir, state, loaded.resources);
    if (prometheus.warning) progress(`warning: ${prometheus.warning}`);
    if (opts.mode === 'process' && opts.proxyProcesses === 'shared') {
      const { proxyContainerAlerts } = await import('../telemetry/prometheus-rules.ts');
      const unfired = proxyResourceAlertsThatCannotFire(state, proxyContainerAlerts(loaded.resources.filter((r) => r.kind === 'PrometheusRule')));
      if (unfired) progress(`note: ${unfired}`);
    }
    const secs = ((Date.now() - started) / 1000).toFixed(1);
    console.log(`\nmesh ready in ${secs}s: ${state.components.length} components`);
    if (state.ingressUrl) console.log(`  ingress:   ${state.ingressUrl}`);
    for (const line of gatewayApiLines(state)) console.log(`  ${line}`);
    if (state.controlPlane.dashboardUrl) console.log(`  dashboard: ${state.controlPlane.dashboardUrl}`);
    if (state.controlPlane.xdsTlsAddress) console.log(`  xDS (TLS): ${state.controlPlane.xdsTlsAddress}, for proxies on other hosts (docs/control-plane.md)`);
    console.log(`  alerts:    prometheus --config.file=${prometheus.config} (the mesh's PrometheusRule alerts and scrape targets)`);
    console.log(`  status:    outrigger status${dirFlag(opts.dir)}`);
    // A detached mesh's summary goes to up.log, read where no Ctrl-C reaches it.
    console.log(`  stop:      ${opts.detached ? '' : 'Ctrl-C here, or '}outrigger down${dirFlag(opts.dir)}`);
  } catch (err) {
    // Asked to stop while starting (Ctrl-C, SIGTERM, the output pipe closed): the start's failure is that stop.
    const asked = stopping !== undefined;
    if (!asked) console.error(`outrigger up: ${(err as Error).message}${ingressPortFlag(err, opts)}`);
    await stop();
    return asked ? 0 : 1;
  }
  await new Promise<void>((resolve) => {
    const wait = () => (stopping ? stopping.then(resolve) : setTimeout(wait, 200));
    wait();
  });
  return 0;
}

/**
 * Alerts on the istio-proxy container's CPU or memory (the seed's IstioProxyHighResourceUsage) read
 * series a proxy reports only when it has its process to itself: said once when the proxies of a
 * process-mode mesh share the proxy host (a lone proxy has it to itself).
 */
function proxyResourceAlertsThatCannotFire(state: import('../runtime/state.ts').MeshState, alerts: readonly string[]): string | undefined {
  const proxies = state.components.filter((c) => c.kind === 'gateway' || (c.kind === 'workload' && c.sidecar)).length;
  if (proxies < 2 || alerts.length === 0) return undefined;
  return `${alerts.join(', ')} cannot fire in this mode: the proxies share one process (the proxy host), so none reports the istio-proxy container's CPU or memory; --proxy-processes per-proxy (or --mode netns) gives each proxy its own (docs/local-mode.md)`;
}

/** The ingress port flag a port-in-use error is about (the runtime names only the port). */
function ingressPortFlag(err: unknown, opts: UpOptions): string {
  if ((err as { code?: unknown }).code !== 'PORT_IN_USE') return '';
  const message = (err as Error).message;
  const flag = ([
    [opts.ingressPort, '--ingress-port'],
    [opts.httpsPort, '--https-port'],
  ] as const).find(([port]) => port !== 0 && message.startsWith(`port ${port} `))?.[1];
  return flag ? ` (${flag}); free it or choose another port with ${flag}` : '';
}

/**
 * Workloads whose container has neither a command nor a built-in program, each as `file:line:col:` and
 * the fix, found before anything starts (the runtime would otherwise stop at the first, mid-start).
 */
async function unrunnableWorkloads(resources: readonly import('../config/resource.ts').AnyResource[]): Promise<string[]> {
  const { planMesh } = await import('../runtime/plan.ts');
  const { resolveCommand, UnrunnableContainerError } = await import('../runtime/container-command.ts');
  const out: string[] = [];
  const seen = new Set<string>();
  for (const w of planMesh(resources).workloads) {
    const key = `${w.owner.kind}/${w.namespace}/${w.owner.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const container = w.containers[0];
    if (!container) continue;
    try {
      resolveCommand(container, w.annotations, process.execPath);
    } catch (err) {
      if (!(err instanceof UnrunnableContainerError)) throw err;
      const owner = resources.find((r) => r.kind === w.owner.kind && r.metadata.name === w.owner.name && r.metadata.namespace === w.namespace);
      const span = owner?.origin?.lookup(['spec', 'template', 'spec', 'containers', 0]) ?? owner?.origin?.span;
      const at = span ? `${span.file}:${span.start.line}:${span.start.col}: ` : '';
      out.push(`${at}error ${w.owner.kind} ${w.namespace}/${w.owner.name}: ${err.message}`);
    }
  }
  return out;
}


/** The progress line for the JavaScript copy the mesh processes run. */
export function preparedLine(written: number, dir: string): string {
  return `prepared ${written} JavaScript file${written === 1 ? '' : 's'} for the mesh processes in ${dir}`;
}

/** Starts `up` again in the background and returns once it has written a state file (or died). */
async function detach(dir: string, givenDir: string | undefined): Promise<number> {
  // The same checks as the foreground's: the directory and its logs private, the log never a planted symlink.
  const { makeStateDirs } = await import('../runtime/state.ts');
  makeStateDirs(dir);
  const logFile = path.join(dir, 'logs', 'up.log');
  const fd = openSync(logFile, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  const args = [...process.argv.slice(1).filter((a) => a !== '-d' && a !== '--detach'), '--detached'];
  const { meshNodeFlags } = await import('../runtime/node-flags.ts');
  const flags = [...process.execArgv, ...meshNodeFlags.filter((f) => !process.execArgv.includes(f))];
  const child = spawn(process.execPath, [...flags, ...args], { detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  child.unref();
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const until = Date.now() + 120_000;
  while (Date.now() < until && !exited) {
    const s = readState(dir);
    if (s && s.pid === child.pid && s.components.every((c) => c.status !== 'starting')) {
      // What the foreground prints before its progress lines (warnings, what is not run locally) is in
      // the log: shown here too, so a detached start says no less.
      const head: string[] = [];
      const log = readFileSync(logFile, 'utf8').split('\n');
      for (const line of log) {
        if (line.startsWith('[')) break;
        if (line.trim()) head.push(line);
      }
      // The notes among the progress lines (what this mode cannot do, said once) too.
      for (const line of log) if (/^\[[ \d.]+s\] note: /.test(line)) head.push(line.slice(line.indexOf('note: ')));
      if (head.length) console.log(head.join('\n'));
      console.log(`mesh running in the background (pid ${child.pid}); log: ${logFile}`);
      if (s.ingressUrl) console.log(`  ingress:   ${s.ingressUrl}`);
      for (const line of gatewayApiLines(s)) console.log(`  ${line}`);
      if (s.controlPlane.dashboardUrl) console.log(`  dashboard: ${s.controlPlane.dashboardUrl}`);
      console.log(`  alerts:    prometheus --config.file=${path.join(dir, 'prometheus', 'prometheus.yml')} (the mesh's PrometheusRule alerts and scrape targets)`);
      console.log(`  status:    outrigger status${dirFlag(givenDir)}\n  stop:      outrigger down${dirFlag(givenDir)}`);
      return 0;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const { tailFile } = await import('../runtime/supervisor.ts');
  console.error(`outrigger up: the mesh did not start; last lines of ${logFile}:\n${tailFile(logFile, 30)}`);
  return 1;
}
