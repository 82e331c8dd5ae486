// Starts the control plane in-process for `outrigger up`: its CA kept in the state directory, ADS and
// the CSR service on the xDS port (plaintext, loopback) and on the TLS xDS port (all interfaces, so a
// proxy on another host can join), the debug API and metrics on the debug port.
import path from 'node:path';
import { caSettingsFrom } from '../ca/ca-settings.ts';
import { openKeptCa } from '../ca/local-ca.ts';
import { loadTokenKey } from '../controlplane/token-key.ts';
import { ensureFlaggedPortsFree, ensurePortFree, PortInUseError } from './ports.ts';
import type { AnyResource } from '../config/resource.ts';
import { meshSettingsFrom } from '../model/mesh-config.ts';
import { ControlPlane } from '../controlplane/control-plane.ts';
import { startDebugApi } from '../controlplane/debug-api.ts';
import { scrapeTargetsFromState } from '../dashboard/scrape-targets.ts';
import { startDashboard } from '../dashboard/server.ts';
import { TraceCollector } from '../telemetry/tracing/collector.ts';
import { readState } from './state.ts';
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import type { ServiceProxy } from './service-proxy/service-proxy.ts';
import { startServiceProxy } from './service-proxy/start-service-proxy.ts';

export interface LocalControlPlaneOptions {
  configDirs: string[];
  resources: readonly AnyResource[];
  stateDir: string;
  xdsPort: number;
  /** The TLS xDS port on all interfaces; default Istio's 15012, or a free one when `xdsPort` is 0 (ephemeral ports). */
  xdsTlsPort?: number;
  debugPort: number;
  /** Kiali's port, 20001, for the dashboard; 0 picks a free one. */
  dashboardPort: number;
  /** Where a note goes (the TLS port left off because its port is taken). */
  progress?: (line: string) => void;
}

/**
 * Certificate settings from the IstioOperator, Istio's names: the trust domain, the TTL every proxy asks
 * for (SECRET_TTL) and its grace ratio. The CA's own lifetimes (istiod's environment) are read where the
 * CA is opened, openKeptCa.
 */
export function certificateSettings(resources: readonly AnyResource[]): { trustDomain: string; ttlSeconds?: number; graceRatio?: number } {
  // Translation's mesh settings: the CA's trust domain is the one the clusters' secure-naming SANs and
  // the policies' principals are written in.
  const mesh = meshSettingsFrom(resources);
  const meta = mesh.raw.defaultConfig?.proxyMetadata ?? {};
  const requested = caSettingsFrom(resources).requestedTtlSeconds;
  const ratio = meta['SECRET_GRACE_PERIOD_RATIO'] ? Number(meta['SECRET_GRACE_PERIOD_RATIO']) : undefined;
  return {
    trustDomain: mesh.trustDomain,
    ...(requested ? { ttlSeconds: requested } : {}),
    ...(ratio && ratio > 0 && ratio < 1 ? { graceRatio: ratio } : {}),
  };
}

/** The certificate settings as proxy flags, so every workload asks for the TTL and renews at the ratio the mesh says. */
export function certificateProxyArgs(resources: readonly AnyResource[]): string[] {
  const c = certificateSettings(resources);
  return [
    '--trust-domain',
    c.trustDomain,
    ...(c.ttlSeconds ? ['--cert-ttl', `${c.ttlSeconds}s`] : []),
    ...(c.graceRatio ? ['--grace-ratio', String(c.graceRatio)] : []),
  ];
}

export async function startLocalControlPlane(o: LocalControlPlaneOptions): Promise<ControlPlaneHandle> {
  const caDir = path.join(o.stateDir, 'ca');
  // SECRET_TTL is only what proxies ask for (certificateProxyArgs); the CA grants it up to MAX_WORKLOAD_CERT_TTL.
  const ca = await openKeptCa(caDir, o.resources, o.progress ? { progress: o.progress } : {});
  // Local proxies stay on plaintext loopback (fast); the TLS port is for proxies on other hosts.
  const tlsPort = o.xdsTlsPort ?? (o.xdsPort === 0 ? 0 : 15012);
  // The TLS port serves only proxies on other hosts: a fixed port someone else holds turns it off, with a
  // note, instead of stopping the local mesh.
  let xdsTlsAddress: string | undefined = `0.0.0.0:${tlsPort}`;
  if (tlsPort !== 0) {
    try {
      await ensurePortFree(tlsPort, '0.0.0.0');
    } catch (err) {
      if (!(err instanceof PortInUseError)) throw err;
      o.progress?.(`note: xDS over TLS not served: ${err.message}; proxies on this host are not affected`);
      xdsTlsAddress = undefined;
    }
  }
  // A fixed port someone else holds stops `up` before anything binds, naming the port and its holder.
  await ensureFlaggedPortsFree([
    [o.xdsPort, '--xds-port'],
    [o.debugPort, '--debug-port'],
    [o.dashboardPort, '--dashboard-port'],
  ]);
  // The token key beside the CA: `outrigger token --ca-dir .outrigger/ca` issues tokens this mesh accepts.
  const cp = await ControlPlane.start({ configPaths: o.configDirs, xdsAddress: `127.0.0.1:${o.xdsPort}`, ...(xdsTlsAddress ? { xdsTlsAddress } : {}), ca, tokenKey: loadTokenKey(caDir, true) });
  // What started is closed again if a later part fails (a port taken in between): nothing keeps the
  // process alive, or a port held, after the error.
  const opened: { close(): Promise<void> }[] = [cp];
  let debug: Awaited<ReturnType<typeof startDebugApi>>;
  let collector: TraceCollector;
  let collectorPort: number;
  let dashboard: Awaited<ReturnType<typeof startDashboard>>;
  try {
    debug = await startDebugApi(cp, `127.0.0.1:${o.debugPort}`);
    opened.push(debug);
    collector = new TraceCollector();
    collectorPort = await collector.listen(0);
    opened.push(collector);
    dashboard = await startDashboard({
      controlPlane: cp,
      collector,
      ca,
      scrapeTargets: () => scrapeTargetsFromState(readState(o.stateDir)),
      address: `127.0.0.1:${o.dashboardPort}`,
    });
  } catch (err) {
    for (const part of opened.reverse()) await part.close().catch(() => {});
    throw err;
  }
  const port = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));
  // Started for the first workload without a sidecar, if there is one.
  let serviceProxy: Promise<ServiceProxy> | undefined;
  return {
    xdsAddress: cp.xdsAddress,
    ...(cp.xdsTlsAddress ? { xdsTlsAddress: cp.xdsTlsAddress } : {}),
    rootCertFile: path.join(caDir, 'root-cert.pem'),
    debugAddress: debug.address,
    dashboardUrl: dashboard.url,
    traceEndpoint: `http://127.0.0.1:${collectorPort}/v1/traces`,
    ports: { xds: port(cp.xdsAddress), ...(cp.xdsTlsAddress ? { xdsTls: port(cp.xdsTlsAddress) } : {}), debug: port(debug.address), dashboard: port(dashboard.address), traces: collectorPort },
    registerWorkload: (i) => cp.registerWorkload(i),
    unregisterWorkload: (ns, name) => cp.unregisterWorkload(ns, name),
    issueBootstrapToken: (id) => cp.issueBootstrapToken(id),
    configVersion: () => cp.snapshot.version,
    whenSynced: (ms) => cp.whenSynced(ms),
    serviceProxyUrl: async (namespace) => {
      serviceProxy ??= startServiceProxy({ snapshot: () => cp.snapshot, ca });
      return (await serviceProxy).urlFor(namespace);
    },
    close: async () => {
      await serviceProxy?.then((p) => p.close(), () => {});
      await dashboard.close();
      await collector.close();
      await debug.close();
      await cp.close();
    },
  };
}
