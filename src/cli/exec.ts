// `outrigger exec WORKLOAD -- CMD...`: run a command as if inside the workload's pod: its environment,
// its sidecar as the way out (the seed's `kubectl exec deploy/podinfo -c podinfo -- curl ...`).
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { findComponent } from '../runtime/find-component.ts';
import { runningMesh } from './mesh-state.ts';

export function define(program: Command): void {
  program
    .command('exec')
    .description("run a command with a workload's environment, its calls going through its sidecar")
    .argument('<workload>', 'podinfo-stable-0, podinfo/podinfo-stable-0 or deploy/podinfo-stable')
    .argument('<command...>', 'the command and its arguments (after --)')
    .option('-n, --namespace <ns>', 'namespace of the workload')
    .option('-c, --container <name>', 'accepted for kubectl compatibility; each pod runs one app process')
    .option('--dir <dir>', 'the state directory of the mesh')
    .addHelpText('after', '\nExample:\n  outrigger exec -n podinfo deploy/podinfo-stable -- curl -s http://podinfo-canary:9898/')
    .action(async (ref: string, command: string[], opts: { namespace?: string; dir?: string }) => {
      const { state } = runningMesh(opts.dir);
      const c = findComponent(state, ref, opts.namespace);
      const [file, ...args] = command;
      if (!file) throw new Error('no command given: outrigger exec WORKLOAD -- CMD ...');
      // Netns mode: inside the pod's network namespace, with its resolv.conf.
      const [cmd, argv] = c.netns ? ['ip', ['netns', 'exec', c.netns, file, ...args]] : [file, args];
      const child = spawn(cmd, argv, { env: { ...process.env, ...(c.env ?? {}) }, stdio: 'inherit' });
      const code = await new Promise<number>((resolve) => {
        child.once('error', (err) => {
          console.error(`outrigger exec: cannot run ${file}: ${err.message}`);
          resolve(127);
        });
        child.once('exit', (status, signal) => resolve(status ?? (signal ? 128 : 1)));
      });
      process.exitCode = code;
    });
}
