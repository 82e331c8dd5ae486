// `outrigger status`: what the local mesh runs, where, and how it is doing.
import { type Command, Option } from 'commander';
import { runningMesh } from './mesh-state.ts';
import { formatTable } from './table.ts';

export function define(program: Command): void {
  program
    .command('status')
    .description('show the running local mesh: control plane, gateways, workloads, their proxies, ports and health')
    .option('--dir <dir>', 'the state directory of the mesh', undefined)
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action((opts: { dir?: string; output: string }) => {
      const { state } = runningMesh(opts.dir);
      if (opts.output === 'json') {
        console.log(JSON.stringify(state, (k, v) => (k === 'env' ? undefined : v), 2));
        return;
      }
      console.log(`mesh: running since ${state.startedAt} (pid ${state.pid}, ${state.mode} mode)`);
      console.log(`control plane: xDS ${state.controlPlane.xdsAddress}, debug http://${state.controlPlane.debugAddress}`);
      const cp = state.controlPlane;
      if (cp.xdsTlsAddress) console.log(`xDS over TLS: ${cp.xdsTlsAddress} for proxies on other hosts (--xds-tls --root-cert ${cp.rootCertFile ?? '.outrigger/ca/root-cert.pem'})`);
      if (state.ingressUrl) console.log(`ingress: ${state.ingressUrl}`);
      if (state.controlPlane.dashboardUrl) console.log(`dashboard: ${state.controlPlane.dashboardUrl}`);
      console.log('');
      const rows = state.components.map((c) => [
        c.name,
        c.kind,
        c.sidecar ? 'yes' : 'no',
        c.status + (c.detail ? ` (${c.detail})` : ''),
        String(c.pid ?? '-'),
        String(c.restarts),
        Object.entries(c.ports)
          .map(([k, v]) => `${k}=${v}`)
          .join(' '),
      ]);
      console.log(formatTable(['NAME', 'KIND', 'SIDECAR', 'STATUS', 'PID', 'RESTARTS', 'PORTS'], rows));
    });
}
