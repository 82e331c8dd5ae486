// One proxy as a unit the CLI runs: its xDS client, its workload certificate (CSR, renewal), its ports;
// started with the flags of `outrigger proxy`, drained on request. A process may run one (`outrigger
// proxy`) or several (`outrigger proxy-host`, local process mode).
import type { Writable } from 'node:stream';
import { readFileSync } from 'node:fs';
import { fsReason } from '../cli/path-args.ts';
import { splitPemCertificates } from '../ca/keys.ts';
import { BootstrapTokens } from '../controlplane/bootstrap-tokens.ts';
import { packageVersion } from '../runtime/package-version.ts';
import { parseDurationMs } from '../xds/duration.ts';
import { compileStatsMatcher, type ProxyStatsMatcher, type StatsMatcher, StatsMatcherError } from '../telemetry/metrics/stats-matcher.ts';
import { OTHER_LISTENER_PORTS } from './listener/listener-manager.ts';
import { OutriggerProxy } from './proxy.ts';
import { CertificateManager } from './tls/certificate-manager.ts';
import { createCsrClient } from './tls/csr-client.ts';
import { diagnoseXdsTls, type XdsTlsFlags, xdsClientCredentials, xdsTlsTransport } from './xds-transport.ts';

export interface ProxyFlags extends XdsTlsFlags {
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

/** `15001=41000,15008=41002` → Map(15001 → 41000, ...); `*=0`: every other listener on a free port. */
export function parsePortMap(text: string | undefined): Map<number, number> {
  const out = new Map<number, number>();
  for (const part of (text ?? '').split(',').filter(Boolean)) {
    if (part.trim() === '*=0') {
      out.set(OTHER_LISTENER_PORTS, 0);
      continue;
    }
    const m = /^(\d{1,5})=(\d{1,5})$/.exec(part.trim());
    if (!m) throw new ProxyArgsError(`--port-map: "${part}" is not ISTIO_PORT=PORT (or *=0: every other listener on a free port)`);
    out.set(Number(m[1]), Number(m[2]));
  }
  return out;
}

/**
 * The stats matcher of the node metadata's `PROXY_CONFIG.proxyStatsMatcher` (Istio's agent sends the
 * proxy's ProxyConfig as `PROXY_CONFIG`, and builds the bootstrap's stats matcher from it), compiled
 * once for the proxy's life, as Envoy reads its bootstrap once. None in the metadata: every stat.
 */
export function statsMatcherFromMetadata(metadata: Record<string, unknown>): StatsMatcher | undefined {
  const pc = metadata['PROXY_CONFIG'];
  const m = pc !== null && typeof pc === 'object' ? (pc as Record<string, unknown>)['proxyStatsMatcher'] : undefined;
  if (m === undefined) return undefined;
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new ProxyArgsError('--metadata-json: PROXY_CONFIG.proxyStatsMatcher must be an object');
  for (const field of ['inclusionPrefixes', 'inclusionSuffixes', 'inclusionRegexps'] as const) {
    const list = (m as Record<string, unknown>)[field];
    if (list !== undefined && !Array.isArray(list)) throw new ProxyArgsError(`--metadata-json: PROXY_CONFIG.proxyStatsMatcher.${field} must be a list of strings`);
  }
  // As Istio's bootstrap: `{pod_ip}` in a pattern stands for each of the proxy's INSTANCE_IPS (`http.{pod_ip}_`).
  const ips = typeof metadata['INSTANCE_IPS'] === 'string' ? metadata['INSTANCE_IPS'].split(',').filter(Boolean) : [];
  const podIp = (list: unknown) => (Array.isArray(list) ? list.flatMap((p) => (typeof p === 'string' && p.includes('{pod_ip}') ? ips.map((ip) => p.replaceAll('{pod_ip}', ip)) : [p])) : list);
  const user = m as Record<string, unknown>;
  try {
    return compileStatsMatcher({ inclusionPrefixes: podIp(user['inclusionPrefixes']), inclusionSuffixes: podIp(user['inclusionSuffixes']), inclusionRegexps: podIp(user['inclusionRegexps']) } as ProxyStatsMatcher);
  } catch (err) {
    if (err instanceof StatsMatcherError) throw new ProxyArgsError(`--metadata-json: PROXY_CONFIG.${err.message}`, { cause: err });
    throw err;
  }
}

export interface RunningProxy {
  readonly nodeId: string;
  readonly proxy: OutriggerProxy;
  /** Resolves when the proxy has drained and closed. */
  readonly stopped: Promise<void>;
  drain(): Promise<void>;
}

export type ProxyLog = (level: string, message: string) => void;

/** `output`: the proxy's own log where it shares a process (the proxy host); its `/dev/stdout` access log goes there too. */
/** `ownsProcess`: the only proxy in this process (the `outrigger proxy` command), not one of the proxy host's. */
export async function runProxy(flags: ProxyFlags, log: ProxyLog, options: { output?: Writable; ownsProcess?: boolean } = {}): Promise<RunningProxy> {
  if (flags.role !== 'sidecar' && flags.role !== 'router') throw new ProxyArgsError(`--role must be sidecar or router, not ${flags.role}`);
  let metadata: Record<string, unknown>;
  try {
    metadata = JSON.parse(flags.metadataJson) as Record<string, unknown>;
  } catch (err) {
    throw new ProxyArgsError(`--metadata-json is not JSON: ${(err as Error).message}`);
  }
  // The proxy's own version, sent as Istio's agent sends ISTIO_VERSION: `outrigger version` lists it.
  metadata = { ...metadata, ISTIO_VERSION: packageVersion() };
  const ns = String(metadata['NAMESPACE'] ?? 'default');
  const identity = `spiffe://${flags.trustDomain}/ns/${ns}/sa/${String(metadata['SERVICE_ACCOUNT'] ?? 'default')}`;
  const ttlMs = flags.certTtl !== undefined ? parseDurationMs(flags.certTtl) : undefined;
  if (flags.certTtl !== undefined && !ttlMs) throw new ProxyArgsError(`--cert-ttl: "${flags.certTtl}" is not a duration like 24h or 90m`);
  const graceRatio = flags.graceRatio !== undefined ? Number(flags.graceRatio) : undefined;
  if (graceRatio !== undefined && !(graceRatio > 0 && graceRatio < 1)) throw new ProxyArgsError(`--grace-ratio: must be between 0 and 1, not ${flags.graceRatio}`);
  const statsMatcher = statsMatcherFromMetadata(metadata);
  const tls = xdsTlsTransport(flags);
  // The token bootstraps; from the first certificate on, the TLS port also sees that certificate (as
  // istiod's ClientCertAuthenticator), so renewals and reconnects hold when the token has expired.
  // The roots the control plane pushed (ROOTCA) join --root-cert's: a root rotation re-signs its
  // certificate with a root the file may not hold. Read from the proxy once it exists.
  let pushedRoots: () => readonly string[] = () => [];
  const credentials = tls ? xdsClientCredentials(tls, () => certs.current, Date.now, () => pushedRoots()) : undefined;
  // On the TLS port the certificate it holds renews it: an expired token is then needed only to join again.
  const token = flags.tokenFile !== undefined ? tokenFileReader(flags.tokenFile, log, Date.now, tls ? () => certs.current?.notAfter : undefined) : () => '';
  const role = flags.role;
  const nodeId = flags.nodeId ?? `${role}~127.0.0.1~${String(metadata['WORKLOAD_NAME'] ?? 'proxy')}.${ns}~${ns}.svc.cluster.local`;
  const stopped = Promise.withResolvers<void>();
  const proxy = new OutriggerProxy({
    role,
    xdsAddress: flags.xdsAddress,
    ...(tls && credentials ? { xdsTls: { credentials, serverName: tls.serverName } } : {}),
    ...(flags.tokenFile ? { token } : {}),
    nodeId,
    metadata,
    identity,
    ...(flags.localMode ? { localMode: true } : {}),
    ...(flags.traceEndpoint ? { traceEndpoint: flags.traceEndpoint } : {}),
    ...(options.output ? { output: options.output } : {}),
    ...(options.ownsProcess ? { ownsProcess: true } : {}),
    ...(statsMatcher ? { statsMatcher } : {}),
    portMap: parsePortMap(flags.portMap),
    drainDeadlineMs: Number(flags.drainSeconds) * 1000,
    onLog: (level, message) => {
      if (level !== 'debug' && level !== 'trace') log(level, message);
    },
    onExit: () => stopped.resolve(),
  });
  pushedRoots = () => splitPemCertificates(proxy.secrets.get('ROOTCA')?.ca ?? '');
  // The CSR service shares the xDS port, so the certificate comes over the same verified TLS.
  const csr = createCsrClient({ address: flags.xdsAddress, token, ...(tls && credentials ? { credentials, options: tls.options } : {}) });
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
  certs.start().then(applyCert, async (err: Error) => {
    log('error', `no workload certificate yet: ${err.message}`);
    // gRPC reports a refused handshake as UNAVAILABLE; say which flag or file is wrong.
    const why = tls ? await diagnoseXdsTls(flags.xdsAddress, tls) : undefined;
    if (why) log('error', why);
  });
  if (tls) log('info', `proxy ${nodeId}: xDS over TLS to ${flags.xdsAddress}, trusting ${tls.rootCertFile} for ${tls.serverName}`);
  log('info', `proxy ${nodeId}: admin 127.0.0.1:${ports.admin}, health ${ports.health}, prometheus ${ports.prometheus}`);
  const done = stopped.promise.then(() => {
    certs.stop();
    csr.close();
  });
  return { nodeId, proxy, stopped: done, drain: () => proxy.drain() };
}

/**
 * The token file, read at each ADS connection and each CSR, so a token rotated in place (a new
 * `outrigger token -o FILE`, as a kubelet rotates a projected token) is taken without a restart. A file
 * that cannot be read keeps the last token read; an expired token is said once, with the way out.
 * `certificateExpiry` is the expiry of the workload certificate the proxy presents to the TLS port: while
 * it holds one that is valid, it renews with it, and the expired token matters only to join again.
 */
export function tokenFileReader(file: string, log: ProxyLog, now: () => number = Date.now, certificateExpiry?: () => Date | undefined): () => string {
  let last = '';
  let told: string | undefined;
  return () => {
    try {
      // An empty file is one being written by a tool that does not rename into place: keep the last.
      last = readFileSync(file, 'utf8').trim() || last;
    } catch (err) {
      if (told !== `read:${last}`) log('warning', `--token-file ${file}: ${fsReason(err)}; the token read before is used`);
      told = `read:${last}`;
      return last;
    }
    const expiry = BootstrapTokens.expiresAt(last);
    if (expiry === undefined || now() < expiry) return last;
    const certificate = certificateExpiry?.();
    const expired = `--token-file ${file}: the token expired at ${new Date(expiry).toISOString()}`;
    if (certificate && now() < certificate.getTime()) {
      // Said once per token; again as the error below if the certificate expires with no new token.
      if (told !== `cert:${last}`) log('info', `${expired}; the proxy renews with its workload certificate (valid until ${certificate.toISOString()}), and needs a new token (outrigger token ... -o ${file}) only to join again after its certificate expires`);
      told = `cert:${last}`;
    } else if (told !== last) {
      told = last;
      log('error', `${expired}; write a new one there (outrigger token ... -o ${file}): the proxy reads it at its next connection`);
    }
    return last;
  };
}
