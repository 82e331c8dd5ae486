// `outrigger proxy-host --spec FILE`: several proxies in one process, each exactly what `outrigger proxy`
// would run (its own node id, identity, certificate, xDS stream, ports and log), sharing one Node runtime.
// Local process mode uses it so a mesh of N sidecars costs one runtime, not N (memory and start time).
import { createWriteStream, readFileSync, type WriteStream } from 'node:fs';
import { Command } from 'commander';
import type { ProxyFlags } from '../proxy/run-proxy.ts';
import type { HostRequest } from '../runtime/hosted-proxies.ts';
import { fsReason } from './path-args.ts';
import { log, proxyOptions } from './proxy.ts';

export interface ProxyHostSpec {
  proxies: { name: string; args: string[]; logFile?: string }[];
}

export class ProxyHostSpecError extends Error {
  readonly code = 'PROXY_HOST_SPEC';
}

/** Parses one proxy's argument list with the same options, defaults and checks as `outrigger proxy`. */
export function parseProxyArgs(name: string, args: readonly string[]) {
  const cmd = proxyOptions(new Command(name)).exitOverride().configureOutput({ writeErr: () => {} });
  try {
    cmd.parse([...args], { from: 'user' });
  } catch (err) {
    throw new ProxyHostSpecError(`${name}: ${(err as Error).message}`);
  }
  return cmd.opts<ProxyFlags>();
}

export function readSpec(file: string): ProxyHostSpec {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ProxyHostSpecError(`--spec ${file}: ${fsReason(err)}`);
  }
  let spec: ProxyHostSpec;
  try {
    spec = JSON.parse(text) as ProxyHostSpec;
  } catch (err) {
    throw new ProxyHostSpecError(`--spec ${file}: not JSON: ${(err as Error).message}`);
  }
  if (!Array.isArray(spec?.proxies) || spec.proxies.length === 0) throw new ProxyHostSpecError(`--spec ${file}: "proxies" must list at least one proxy`);
  return spec;
}

export function define(program: Command): void {
  program
    .command('proxy-host')
    .description('run several proxies (sidecars, gateways) in one process; `outrigger up` uses it in process mode')
    .requiredOption('--spec <file>', 'JSON: { "proxies": [{ "name", "args": [outrigger proxy flags], "logFile"? }] }')
    .action(async (opts: { spec: string }) => {
      const spec = readSpec(opts.spec);
      const { runProxy } = await import('../proxy/run-proxy.ts');
      const { HostedProxies } = await import('../runtime/hosted-proxies.ts');
      const streams: WriteStream[] = [];
      const hosted = spec.proxies.map((p) => {
        const flags = parseProxyArgs(p.name, p.args);
        const out = p.logFile ? createWriteStream(p.logFile, { flags: 'a', mode: 0o600 }) : undefined;
        if (out) streams.push(out);
        const write = out
          ? (level: string, message: string) => out.write(`${new Date().toISOString()} ${level} ${message}\n`)
          : (level: string, message: string) => log(level, `[${p.name}] ${message}`);
        // Its own log also takes its `/dev/stdout` access log, as a sidecar's container log does.
        // A host of one proxy is that proxy's own process: it reports the process's CPU and memory as the
        // istio-proxy container's, as `outrigger proxy` does (up --proxy-processes per-proxy).
        const options = { ...(out ? { output: out } : {}), ...(spec.proxies.length === 1 ? { ownsProcess: true } : {}) };
        return { name: p.name, start: () => runProxy(flags, write, options) };
      });
      // Each exit and restart goes to `up` (the parent, over IPC) for `status`; and to the host's log.
      const proxies = new HostedProxies(hosted, {
        report: (event) => {
          if (event.type === 'proxy-exit') log('warning', `proxy host: ${event.name} exited${event.reason ? ` (${event.reason})` : ''}; restarting in ${event.restartInMs}ms`);
          else log('info', `proxy host: ${event.name} ${event.type === 'proxy-started' ? 'restarted' : 'stopped for good'}`);
          process.send?.(event, undefined, {}, () => {});
        },
      });
      process.on('message', (m: HostRequest) => {
        if (m?.type === 'retire') proxies.retire(m.name);
      });
      // The channel to `up` must not keep a drained host alive.
      process.channel?.unref();
      await proxies.start();
      log('info', `proxy host: ${hosted.length} proxies running`);
      const drainAll = () => void proxies.drainAll();
      process.once('SIGTERM', drainAll);
      process.once('SIGINT', drainAll);
      // A proxy that drains on its own (POST /quitquitquit) is restarted; the host ends when all are
      // drained (SIGTERM) or retired (their Jobs finished).
      await proxies.done;
      for (const s of streams) s.end();
      process.disconnect?.();
    });
}
