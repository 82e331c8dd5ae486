// Builds the CLI from one file per command. Each command module exports `define(program)`, which adds
// its subcommand, options and help; heavy imports happen inside the action, so `--help` stays fast.
import { Command, CommanderError } from 'commander';

type Define = (program: Command) => void;

/** Command modules, in the order `outrigger --help` lists them. */
const commands: (() => Promise<{ define: Define }>)[] = [
  () => import('./up.ts'),
  () => import('./status.ts'),
  () => import('./down.ts'),
  () => import('./logs.ts'),
  () => import('./exec.ts'),
  () => import('./analyze.ts'),
  () => import('./control-plane.ts'),
  () => import('./proxy.ts'),
  () => import('./proxy-host.ts'),
  () => import('./proxy-status.ts'),
  () => import('./proxy-config.ts'),
  () => import('./tls-check.ts'),
  () => import('./explain.ts'),
  () => import('./verify.ts'),
  () => import('./token.ts'),
];

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('outrigger')
    .description("A service mesh that runs Istio's YAML: control plane, proxy, CA, telemetry and CLI.")
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');
  for (const load of commands) (await load()).define(program);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    throw err;
  }
}
