// Builds the CLI from one file per command. Each command module exports `define(program)`, which adds
// its subcommand, options and help; heavy imports happen inside the action, so `--help` stays fast.
import { Command, CommanderError } from 'commander';
import { packageVersion } from '../runtime/package-version.ts';
import { EXIT_USAGE, exitCodeOf } from './exit-codes.ts';

type Define = (program: Command) => void;

/** Command modules by command name, in the order `outrigger --help` lists them. */
const commands: Record<string, () => Promise<{ define: Define }>> = {
  up: () => import('./up.ts'),
  status: () => import('./status.ts'),
  down: () => import('./down.ts'),
  logs: () => import('./logs.ts'),
  exec: () => import('./exec.ts'),
  analyze: () => import('./analyze.ts'),
  'control-plane': () => import('./control-plane.ts'),
  proxy: () => import('./proxy.ts'),
  'proxy-host': () => import('./proxy-host.ts'),
  'proxy-status': () => import('./proxy-status.ts'),
  'proxy-config': () => import('./proxy-config.ts'),
  'tls-check': () => import('./tls-check.ts'),
  explain: () => import('./explain.ts'),
  verify: () => import('./verify.ts'),
  token: () => import('./token.ts'),
  version: () => import('./version.ts'),
};

/**
 * The command modules to define for `argv`: only the named command's when the first argument names one,
 * so a long-running proxy or control plane does not keep every other command's code and dependencies
 * in memory; all of them for `--help`, `help` or anything unknown, so help and suggestions see every
 * command.
 */
export function commandsFor(argv: readonly string[]): (() => Promise<{ define: Define }>)[] {
  const name = argv[2];
  const one = name === undefined ? undefined : Object.hasOwn(commands, name) ? commands[name] : undefined;
  return one ? [one] : Object.values(commands);
}

export async function main(argv: readonly string[]): Promise<number> {
  const program = new Command('outrigger')
    .description("A service mesh that runs Istio's YAML: control plane, proxy, CA, telemetry and CLI.")
    .version(packageVersion())
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', '\nExit codes (as istioctl): 0 done; 1 the command failed or found problems; 64 the command line is wrong.');
  for (const load of commandsFor(argv)) (await load()).define(program);
  try {
    await program.parseAsync([...argv]);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    // The argument parser's errors are usage errors (istioctl's 64); --help and --version exit 0, and so
    // does `outrigger` alone, which prints the help, as istioctl alone does.
    if (err instanceof CommanderError) return err.exitCode === 0 || err.code === 'commander.help' ? 0 : EXIT_USAGE;
    // An error that names its kind (NO_MESH, COMPONENT_NOT_FOUND, ENOENT ...) is the person's to fix:
    // its message says how. Anything else is a bug, and its stack is what a report needs.
    const code = (err as { code?: unknown }).code;
    if (err instanceof Error && typeof code === 'string' && !process.env['OUTRIGGER_DEBUG']) {
      process.stderr.write(`outrigger ${argv[2] ?? ''}: ${err.message}\n`);
      return exitCodeOf(code);
    }
    throw err;
  }
}
