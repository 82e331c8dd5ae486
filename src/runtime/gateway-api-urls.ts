// The Gateway API gateways of a running mesh as `up`'s summary and `status` list them: each Gateway's
// listener ports, where they answer on this host (`gateway shop/web: http://127.0.0.1:N (80), ...`).
import type { PlannedGateway } from './plan.ts';
import type { ComponentState, MeshState } from './state.ts';

const schemes: Readonly<Record<string, string>> = { HTTP: 'http', HTTPS: 'https', TLS: 'tls', TCP: 'tcp' };

/** What the state records of a gateway deployed for a Gateway API Gateway (nothing for other gateways). */
export function gatewayApiState(g: PlannedGateway): Pick<ComponentState, 'gatewayApi'> {
  return g.gatewayApi ? { gatewayApi: { gateway: `${g.gatewayApi.namespace}/${g.gatewayApi.name}`, listeners: g.gatewayApi.listeners } } : {};
}

/** One line per Gateway API gateway; a listener port not bound (yet) on the host is said so. */
export function gatewayApiLines(state: Pick<MeshState, 'components'>): string[] {
  const out: string[] = [];
  for (const c of state.components) {
    if (!c.gatewayApi) continue;
    const ports = c.gatewayApi.listeners.map(({ port, protocol }) => {
      // Netns mode forwards a host port to the pod's (`host:PORT`); process mode binds it (`proxy:PORT`).
      const host = c.ports[`host:${port}`] ?? (c.netns ? undefined : c.ports[`proxy:${port}`]);
      const scheme = schemes[protocol] ?? protocol.toLowerCase();
      return host === undefined ? `${scheme} not bound (${port})` : `${scheme}://127.0.0.1:${host} (${port})`;
    });
    out.push(`gateway ${c.gatewayApi.gateway}: ${ports.join(', ')}`);
  }
  return out;
}
