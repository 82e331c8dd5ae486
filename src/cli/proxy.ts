// `outrigger proxy`: the data plane process (sidecar or gateway). Connects to the control plane over
// ADS, gets its workload certificate from the CSR service, binds Istio's ports through --port-map,
// and drains on SIGTERM or POST /quitquitquit.
import { type Command, InvalidArgumentError } from 'commander';
import { EXIT_USAGE } from './exit-codes.ts';
import type { ProxyFlags } from '../proxy/run-proxy.ts';

/** The options of `outrigger proxy`, shared with `outrigger proxy-host` (one spec line per proxy). */
export function proxyOptions(cmd: Command): Command {
  return cmd
    .option('--role <role>', 'sidecar or router (gateway)', 'sidecar')
    .requiredOption('--xds-address <host:port>', 'control plane ADS and CSR address (15010 plaintext on this host; 15012 with --xds-tls)')
    .option('--xds-tls', "TLS to the control plane (its 15012 port, for a proxy on another host): verified against --root-cert before the token is sent")
    .option('--root-cert <file>', "mesh root to trust with --xds-tls: the control plane's CA_DIR/root-cert.pem (.outrigger/ca/root-cert.pem under `outrigger up`)")
    .option('--xds-server-name <name>', 'name the control plane certificate must carry with --xds-tls (default istiod.istio-system.svc)')
    .option('--token-file <file>', 'bearer token for ADS and CSR (read again at each ADS connection and each CSR, so it can be rotated in place)')
    .option('--node-id <id>', 'node id: sidecar~IP~POD.NS~NS.svc.cluster.local')
    .option('--port-map <map>', 'Istio port → bound port, e.g. 15001=41000,15008=41002; *=0 binds every other listener on a free port (see /listeners on the admin port)')
    .option('--metadata-json <json>', 'node metadata (NAMESPACE, LABELS, SERVICE_ACCOUNT, ...)', '{}')
    .option('--drain-seconds <n>', 'how long in-flight work may finish on shutdown', seconds, '5')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of the workload identity (meshConfig.trustDomain)', 'cluster.local')
    .option('--cert-ttl <duration>', "workload certificate lifetime to ask for (Istio's SECRET_TTL, e.g. 24h)")
    .option('--local-mode', 'running under `outrigger up`: policy denials name the deciding policy and rule')
    .option('--trace-endpoint <url>', 'send spans (OTLP/HTTP JSON) here instead of to the tracing provider address')
    .option('--grace-ratio <ratio>', "renew when this fraction of the lifetime is left before expiry (Istio's SECRET_GRACE_PERIOD_RATIO, default 0.5; 0.25 renews a 24 h certificate at 18 h)");
}

/** A number of seconds, 0 or more: refused when parsed, not taken as a NaN deadline. */
function seconds(v: string): string {
  if (!/^\d+(\.\d+)?$/.test(v)) throw new InvalidArgumentError('must be a number of seconds, 0 or more');
  return v;
}

export const log = (level: string, message: string) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);

export function define(program: Command): void {
  proxyOptions(program.command('proxy').description('run the proxy (sidecar or gateway): xDS client, listeners, mTLS tunnel, admin on 15000')).action(
    async (flags: ProxyFlags) => {
      const { runProxy } = await import('../proxy/run-proxy.ts');
      const { requireReadableFile } = await import('./path-args.ts');
      let running: Awaited<ReturnType<typeof runProxy>>;
      try {
        // Read at start and again on each CSR: a missing one is named now, with its flag.
        if (flags.tokenFile !== undefined) requireReadableFile(flags.tokenFile, '--token-file');
        running = await runProxy(flags, log, { ownsProcess: true });
      } catch (err) {
        // Bad flags or files: one line naming them, exit 64 (usage), no stack.
        const code = (err as { code?: unknown }).code;
        if (code === 'EADDRINUSE' || code === 'EACCES') {
          // An admin, health or Prometheus port another process holds: say which, and stop (the ADS
          // client may already be connecting, so end the process rather than wait on it).
          const e = err as { address?: string; port?: number };
          const what = code === 'EADDRINUSE' ? 'is already in use' : 'may not be bound by this user';
          process.stderr.write(`outrigger proxy: ${e.address ?? '127.0.0.1'}:${e.port ?? '?'} ${what}; stop what holds it or map the port elsewhere with --port-map\n`);
          process.exit(1);
        }
        if (code !== 'PROXY_ARGS' && code !== 'PROXY_XDS_TLS_ARGS' && code !== 'PATH_ARG') throw err;
        process.stderr.write(`outrigger proxy: ${(err as Error).message}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const onSignal = () => void running.drain();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      await running.stopped;
    },
  );
}
