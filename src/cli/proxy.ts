// `outrigger proxy`: the data plane process (sidecar or gateway). Connects to the control plane over
// ADS, gets its workload certificate from the CSR service, binds Istio's ports through --port-map,
// and drains on SIGTERM or POST /quitquitquit.
import type { Command } from 'commander';

interface Flags {
  role: string;
  xdsAddress: string;
  tokenFile?: string;
  nodeId?: string;
  portMap?: string;
  metadataJson: string;
  drainSeconds: string;
  trustDomain: string;
  certTtl?: string;
  graceRatio?: string;
  localMode?: boolean;
  traceEndpoint?: string;
}

export class ProxyArgsError extends Error {
  readonly code = 'PROXY_ARGS';
}

/** `15001=41000,15008=41002` → Map(15001 → 41000, ...). */
export function parsePortMap(text: string | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    const m = /^(\d{1,5})=(\d{1,5})$/.exec(part.trim());
    if (!m) throw new ProxyArgsError(`--port-map: "${part}" is not ISTIO_PORT=PORT`);
    out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

export function define(program: Command): void {
  program
    .command('proxy')
    .description('run the proxy (sidecar or gateway): xDS client, listeners, mTLS tunnel, admin on 15000')
    .option('--role <role>', 'sidecar or router (gateway)', 'sidecar')
    .requiredOption('--xds-address <host:port>', 'control plane ADS and CSR address')
    .option('--token-file <file>', 'bearer token for ADS and CSR (re-read on each CSR)')
    .option('--node-id <id>', 'node id: sidecar~IP~POD.NS~NS.svc.cluster.local')
    .option('--port-map <map>', 'Istio port → bound port, e.g. 15001=41000,15008=41002')
    .option('--metadata-json <json>', 'node metadata (NAMESPACE, LABELS, SERVICE_ACCOUNT, ...)', '{}')
    .option('--drain-seconds <n>', 'how long in-flight work may finish on shutdown', '5')
    .option('--trust-domain <domain>', 'SPIFFE trust domain of the workload identity (meshConfig.trustDomain)', 'cluster.local')
    .option('--cert-ttl <duration>', "workload certificate lifetime to ask for (Istio's SECRET_TTL, e.g. 24h)")
    .option('--local-mode', 'running under `outrigger up`: policy denials name the deciding policy and rule')
    .option('--trace-endpoint <url>', 'send spans (OTLP/HTTP JSON) here instead of to the tracing provider address')
    .option('--grace-ratio <ratio>', "renew when this fraction of the lifetime has passed (Istio's SECRET_GRACE_PERIOD_RATIO, default 0.5)")
    .action(async (flags: Flags) => {
      if (flags.role !== 'sidecar' && flags.role !== 'router') throw new ProxyArgsError(`--role must be sidecar or router, not ${flags.role}`);
      const { readFileSync } = await import('node:fs');
      const { OutriggerProxy } = await import('../proxy/proxy.ts');
      const { CertificateManager } = await import('../proxy/tls/certificate-manager.ts');
      const { createCsrClient } = await import('../proxy/tls/csr-client.ts');
      const { parseDurationMs } = await import('../xds/duration.ts');
      const metadata = JSON.parse(flags.metadataJson) as Record<string, unknown>;
      const ns = String(metadata['NAMESPACE'] ?? 'default');
      const identity = `spiffe://${flags.trustDomain}/ns/${ns}/sa/${String(metadata['SERVICE_ACCOUNT'] ?? 'default')}`;
      const ttlMs = flags.certTtl !== undefined ? parseDurationMs(flags.certTtl) : undefined;
      if (flags.certTtl !== undefined && !ttlMs) throw new ProxyArgsError(`--cert-ttl: "${flags.certTtl}" is not a duration like 24h or 90m`);
      const graceRatio = flags.graceRatio !== undefined ? Number(flags.graceRatio) : undefined;
      if (graceRatio !== undefined && !(graceRatio > 0 && graceRatio < 1)) throw new ProxyArgsError(`--grace-ratio: must be between 0 and 1, not ${flags.graceRatio}`);
      const token = () => (flags.tokenFile ? readFileSync(flags.tokenFile, 'utf8').trim() : '');
      const role = flags.role;
      const nodeId = flags.nodeId ?? `${role}~127.0.0.1~${String(metadata['WORKLOAD_NAME'] ?? 'proxy')}.${ns}~${ns}.svc.cluster.local`;
      const log = (level: string, message: string) => process.stderr.write(`${new Date().toISOString()} ${level} ${message}\n`);
      const stopped = Promise.withResolvers<void>();
      const proxy = new OutriggerProxy({
        role,
        xdsAddress: flags.xdsAddress,
        ...(flags.tokenFile ? { token: token() } : {}),
        nodeId,
        metadata,
        identity,
        ...(flags.localMode ? { localMode: true } : {}),
        ...(flags.traceEndpoint ? { traceEndpoint: flags.traceEndpoint } : {}),
        portMap: parsePortMap(flags.portMap),
        drainDeadlineMs: Number(flags.drainSeconds) * 1000,
        onLog: (level, message) => {
          if (level !== 'debug' && level !== 'trace') log(level, message);
        },
        onExit: () => stopped.resolve(),
      });
      const csr = createCsrClient({ address: flags.xdsAddress, token });
      const certs = new CertificateManager({
        spiffeId: identity,
        sign: csr.sign,
        ...(ttlMs ? { ttlSeconds: Math.round(ttlMs / 1000) } : {}),
        ...(graceRatio !== undefined ? { graceRatio } : {}),
      });
      const applyCert = () => {
        const c = certs.current;
        if (c) proxy.secrets.setLocal('default', { cert: c.certChainPem, key: c.keyPem });
      };
      certs.on('rotated', applyCert);
      certs.on('renewal-failed', (err: Error) => log('warning', `certificate renewal failed: ${err.message}`));
      const ports = await proxy.start();
      certs.start().then(applyCert, (err: Error) => log('error', `no workload certificate yet: ${err.message}`));
      log('info', `proxy ${nodeId}: admin 127.0.0.1:${ports.admin}, health ${ports.health}, prometheus ${ports.prometheus}`);
      const onSignal = () => void proxy.drain();
      process.once('SIGTERM', onSignal);
      process.once('SIGINT', onSignal);
      await stopped.promise;
      certs.stop();
      csr.close();
    });
}
