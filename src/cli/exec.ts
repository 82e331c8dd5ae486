// `outrigger exec WORKLOAD -- CMD...`: run a command as if inside the workload's pod: its environment,
// its sidecar as the way out (the seed's `kubectl exec deploy/podinfo -c podinfo -- curl ...`).
import { spawn } from 'node:child_process';
import type { Command } from 'commander';
import { findComponent } from '../runtime/find-component.ts';
import { runningMesh } from './mesh-state.ts';

export class ExecArgsError extends Error {
  readonly code = 'EXEC_ARGS';
}

/** exec's own options, and whether each takes a value: what may stand before `--`. */
const ownOptions = new Map([
  ['-n', true],
  ['--namespace', true],
  ['-c', true],
  ['--container', true],
  ['--dir', true],
]);

/** An own option as one token (`--dir=X`, `-nX`, `-n`): its name, and whether its value is attached. */
function ownOption(token: string): { attached: boolean } | undefined {
  const eq = token.indexOf('=');
  if (token.startsWith('--')) return ownOptions.has(eq > 0 ? token.slice(0, eq) : token) ? { attached: eq > 0 } : undefined;
  if (/^-[nc]/.test(token)) return { attached: token.length > 2 };
  return undefined;
}

const quote = (t: string) => (/^[\w@%+=:,./-]+$/.test(t) ? t : `'${t.replaceAll("'", `'\\''`)}'`);

/**
 * The tokens after `exec`, checked before they are parsed. Without `--`, exec parses the command's options
 * as its own: `curl -s` ends in "unknown option '-s'", and `curl -c jar` silently hands -c to exec
 * (--container) and runs curl without it. So a command with options needs `--`, and the refusal
 * prints the line that works; a command without options (`env`, `curl URL`) runs as written.
 */
export function checkExecArgs(tokens: readonly string[]): void {
  if (tokens.includes('-h') || tokens.includes('--help')) return;
  const dash = tokens.indexOf('--');
  const before = dash >= 0 ? tokens.slice(0, dash) : tokens;
  const own: string[] = [];
  let workload: string | undefined;
  let i = 0;
  while (i < before.length) {
    const t = before[i] as string;
    const o = ownOption(t);
    if (o) {
      own.push(...before.slice(i, o.attached ? i + 1 : i + 2));
      i += o.attached ? 1 : 2;
    } else if (workload === undefined && !t.startsWith('-')) {
      workload = t;
      i++;
    } else {
      break;
    }
  }
  // An unknown option before the workload, or no workload: commander's own message says it.
  if (workload === undefined) return;
  const command = dash >= 0 ? tokens.slice(dash + 1) : before.slice(i);
  const line = (cmd: readonly string[]) => `outrigger exec ${[...own, workload, '--', ...cmd].map(quote).join(' ')}`;
  if (command.length === 0) throw new ExecArgsError(`no command given; put it after --: ${line(['CMD'])} [ARGS...]`);
  if (dash >= 0) return;
  // exec's own long options after the command (`curl URL --dir X`) are meant for exec, not the command:
  // the suggested line puts them with exec's. Short ones stay the command's (`echo -n`, `curl -c jar`).
  const rest: string[] = [];
  const moved: string[] = [];
  for (let j = 0; j < command.length; j++) {
    const t = command[j] as string;
    const o = t.startsWith('--') ? ownOption(t) : undefined;
    if (!o) rest.push(t);
    else if (o.attached) moved.push(t);
    else {
      moved.push(t, ...command.slice(j + 1, j + 2));
      j++;
    }
  }
  own.push(...moved);
  const options = rest.filter((t) => t.startsWith('-'));
  if (options.length) throw new ExecArgsError(`put -- before the command, or its options (${options.join(' ')}) are read as exec's own: ${line(rest)}`);
  if (moved.length) throw new ExecArgsError(`put exec's own options (${moved.join(' ')}) before the workload, and the command after --: ${line(rest)}`);
}

export function define(program: Command): void {
  const exec = program
    .command('exec')
    .description("run a command with a workload's environment, its calls going through its sidecar")
    .argument('<workload>', 'podinfo-stable-0, podinfo/podinfo-stable-0 or deploy/podinfo-stable')
    .argument('<command...>', 'the command and its arguments, after -- (required when the command has options)')
    .option('-n, --namespace <ns>', 'namespace of the workload')
    .option('-c, --container <name>', 'accepted for kubectl compatibility; each pod runs one app process')
    .option('--dir <dir>', 'the state directory of the mesh')
    .addHelpText(
      'after',
      `
Put exec's own options before --, and the command after it, as with kubectl exec. Without --, the
command's options would be read as exec's (curl's -c as --container), so a command with options and no
-- is refused with the line to run instead.

Example:
  outrigger exec -n podinfo deploy/podinfo-stable -- curl -s http://podinfo-canary:9898/`,
    )
    .action(async (ref: string, command: string[], opts: { namespace?: string; dir?: string }) => {
      const { state } = runningMesh(opts.dir);
      const c = findComponent(state, ref, opts.namespace);
      const [file, ...args] = command;
      if (!file) throw new ExecArgsError('no command given: outrigger exec WORKLOAD -- CMD ...');
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
  // Before exec parses its arguments: once parsed, `--` and which option came from where are gone.
  program.hook('preSubcommand', (root, sub) => {
    if (sub !== exec) return;
    const raw = (root as Command & { rawArgs: string[] }).rawArgs;
    checkExecArgs(raw.slice(raw.indexOf('exec') + 1));
  });
}
