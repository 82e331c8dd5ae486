// `outrigger logs WORKLOAD [--proxy]`: the app's (or its sidecar's) log, like `kubectl logs [-c istio-proxy]`.
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { findComponent } from '../runtime/find-component.ts';
import { runningMesh } from './mesh-state.ts';

export function define(program: Command): void {
  program
    .command('logs')
    .description("print a workload's log; --proxy for its sidecar's (the seed's `kubectl logs ... -c istio-proxy`)")
    .argument('<workload>', 'podinfo-stable-0, podinfo/podinfo-stable-0, deploy/podinfo-stable or control-plane')
    .option('-n, --namespace <ns>', 'namespace of the workload')
    .option('--proxy', "the sidecar's log instead of the app's")
    .option('--tail <lines>', 'only the last N lines', (v) => Number.parseInt(v, 10))
    .option('--dir <dir>', 'the state directory of the mesh')
    .action((ref: string, opts: { namespace?: string; proxy?: boolean; tail?: number; dir?: string }) => {
      const { state } = runningMesh(opts.dir);
      const c = findComponent(state, ref, opts.namespace);
      const file = opts.proxy ? c.proxyLogFile : c.logFile;
      if (!file) throw new Error(`${c.name} has no ${opts.proxy ? 'sidecar' : 'app'} log`);
      const text = readFileSync(file, 'utf8');
      const lines = text.trimEnd().split('\n');
      process.stdout.write(`${(opts.tail ? lines.slice(-opts.tail) : lines).join('\n')}\n`);
    });
}
