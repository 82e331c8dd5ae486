// The control plane's HTTP debug API and metrics (port 15014): /debug/syncz, /debug/config_dump,
// /debug/authenticationz, /debug/registryz, /debug/configz, /version and /metrics. Read-only; bound to loopback by default.
// Everything but /metrics and /version answers this machine only: a loopback peer that addressed it
// as loopback (src/controlplane/loopback-request.ts), so a DNS-rebound page cannot read it either.
// /metrics and /version answer a remote peer (a Prometheus on another host) as they are, but a loopback
// peer only as the rest: a rebound page would read pod names (the config-size gauge's labels) there.
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { PeerAuthentication } from '../config/resource.ts';
import { packageVersion } from '../runtime/package-version.ts';
import { effectiveMtls } from '../translate/peer-authentication.ts';
import type { ControlPlane } from './control-plane.ts';
import { loopbackRequestRefusal } from './loopback-request.ts';
import { configDumpOf, findConnection, proxyMatchError, syncOf } from './sync-report.ts';

export interface DebugApi {
  address: string;
  close(): Promise<void>;
}

function isLoopback(address: string | undefined): boolean {
  return address !== undefined && (address.startsWith('127.') || address === '::1' || address.startsWith('::ffff:127.'));
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`${JSON.stringify(body, null, 2)}\n`);
}

export async function startDebugApi(cp: ControlPlane, address = '127.0.0.1:15014', now: () => number = Date.now): Promise<DebugApi> {
  const server: Server = createServer((req, res) => {
    // A target WHATWG's parser refuses (`GET http://a:99999/`, which Node's HTTP parser lets through)
    // is the client's error: thrown here, it would be uncaught and end the control plane.
    const url = URL.parse(req.url ?? '/', 'http://debug');
    if (url === null) return json(res, 400, { error: 'bad request target' });
    if (req.method !== 'GET') return json(res, 405, { error: 'GET only' });
    // As istiod's allowAuthenticatedOrLocalhost, without its authentication: /debug/* (every proxy's
    // config, header values a VirtualService sets included; the registry; the config in force) answers
    // callers on this machine only, whatever --host binds. /metrics and /version stay open to remote
    // peers, for a Prometheus on another host.
    const open = url.pathname === '/metrics' || url.pathname === '/version';
    if (isLoopback(req.socket.remoteAddress)) {
      // A loopback peer may still be a browser on this machine sent by a page of another site (a DNS
      // rebinding of its own name to 127.0.0.1): refused by its Host, Origin or Sec-Fetch-Site, on every
      // endpoint (/metrics names every connected proxy).
      const refused = loopbackRequestRefusal(req.headers, 'the debug API');
      if (refused) return json(res, refused.status, { error: refused.error });
    } else if (!open) {
      return json(res, 403, { error: 'debug endpoints answer callers on this machine only' });
    }
    switch (url.pathname) {
      case '/debug/syncz':
        return json(res, 200, cp.connections.map((c) => syncOf(c, now())));
      case '/debug/config_dump': {
        const id = url.searchParams.get('proxyID') ?? '';
        const conn = findConnection(cp.connections, id);
        if (!conn) return json(res, 404, { error: proxyMatchError(cp.connections, id) });
        return json(res, 200, configDumpOf(conn));
      }
      case '/debug/authenticationz': {
        // Istio's name: the PeerAuthentication in force for one proxy's workload, or for one of its ports.
        const id = url.searchParams.get('proxyID') ?? '';
        const conn = findConnection(cp.connections, id);
        if (!conn) return json(res, 404, { error: proxyMatchError(cp.connections, id) });
        const portText = url.searchParams.get('port');
        const port = portText === null ? undefined : Number(portText);
        if (port !== undefined && !(Number.isInteger(port) && port > 0 && port < 65536)) return json(res, 400, { error: `port must be a port number, not "${portText}"` });
        const policies = cp.snapshot.resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
        const v = conn.node.view;
        return json(res, 200, effectiveMtls(policies, { namespace: v.namespace, labels: v.labels, ...(port !== undefined ? { port } : {}) }, cp.snapshot.mesh.rootNamespace));
      }
      case '/debug/registryz':
        return json(res, 200, cp.snapshot.workloads);
      case '/debug/memz': {
        // Process memory in MB, and per connected proxy the config it holds: where a local mesh's RAM goes.
        const mb = (n: number) => Math.round(n / 1e5) / 10;
        const u = process.memoryUsage();
        return json(res, 200, {
          rssMb: mb(u.rss),
          heapUsedMb: mb(u.heapUsed),
          heapTotalMb: mb(u.heapTotal),
          externalMb: mb(u.external),
          proxies: cp.connections.map((c) => ({ proxy: c.node.view.id, configBytes: c.configBytes })),
        });
      }
      case '/debug/configz': {
        const s = cp.configState;
        return json(res, 200, {
          version: cp.snapshot.version,
          // The domain identities are issued and translated in (the CA's), for tools naming workloads.
          trustDomain: cp.snapshot.mesh.trustDomain,
          resources: s.resources.map((r) => ({ kind: r.kind, namespace: r.metadata.namespace, name: r.metadata.name, file: r.origin?.span.file })),
          held: s.held,
          diagnostics: s.diagnostics,
        });
      }
      case '/version':
        // istiod answers `/version` on this port too; `outrigger version` asks it for the control plane's.
        return json(res, 200, { version: packageVersion(), nodeVersion: process.version });
      case '/metrics': {
        const bytes = cp.metrics.configBytes;
        bytes.reset();
        for (const c of cp.connections) bytes.set(c.configBytes, { proxy: c.node.view.id });
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4' });
        return res.end(cp.metrics.registry.render());
      }
      default:
        return json(res, 404, { error: 'not found', endpoints: ['/debug/syncz', '/debug/config_dump?proxyID=', '/debug/authenticationz?proxyID=&port=', '/debug/registryz', '/debug/configz', '/debug/memz', '/version', '/metrics'] });
    }
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(Number(address.slice(i + 1)), host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: `${host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
