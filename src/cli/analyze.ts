// `outrigger analyze -f PATH...`: validates Istio and Kubernetes YAML offline, then runs the
// cross-resource analyzers; exit 1 on errors (or warnings with --fail-on warning). Without -f, the
// configuration of the running mesh (its directories); -n narrows to one namespace, as istioctl's.
import type { Command } from 'commander';
import { EXIT_USAGE } from './exit-codes.ts';

interface AnalyzeFlags {
  filename?: string[];
  output: string;
  failOn: string;
  list?: boolean;
  namespace?: string;
  allNamespaces?: boolean;
  dir?: string;
}

export function define(program: Command): void {
  program
    .command('analyze')
    .description('validate and analyse Istio and Kubernetes YAML files offline (files, directories, - for stdin)')
    .option('-f, --filename <path...>', 'files or directories to read (recursively: *.yaml, *.yml); - reads stdin')
    .option('-o, --output <format>', 'text or json', 'text')
    .option('--fail-on <severity>', 'lowest severity that fails the run: error or warning', 'error')
    .option('--list', 'print the catalogue of diagnostic codes and exit')
    .option('-n, --namespace <ns>', 'only what concerns this namespace (the whole configuration is still read)')
    .option('-A, --all-namespaces', 'every namespace (the default)')
    .option('--dir <dir>', 'without -f: the state directory of the running mesh whose configuration to analyse')
    .action(async (flags: AnalyzeFlags) => {
      process.exitCode = await analyzeCommand(flags, (s) => process.stdout.write(s), (s) => process.stderr.write(s));
    });
}

/** Runs the command; returns the exit code. `out`/`err` receive whole chunks of text. */
export async function analyzeCommand(flags: AnalyzeFlags, out: (s: string) => void, err: (s: string) => void, readStdin?: () => Buffer): Promise<number> {
  const { renderJson, renderText, summary } = await import('./diagnostic-format.ts');
  if (flags.output !== 'text' && flags.output !== 'json') {
    err(`error: --output must be text or json, not "${flags.output}"\n`);
    return EXIT_USAGE;
  }
  if (flags.failOn !== 'error' && flags.failOn !== 'warning') {
    err(`error: --fail-on must be error or warning, not "${flags.failOn}"\n`);
    return EXIT_USAGE;
  }
  if (flags.list) {
    out(await listing(flags.output));
    return 0;
  }
  let paths = flags.filename ?? [];
  if (paths.length === 0) {
    // No files: the running mesh's configuration, as istioctl analyzes the live cluster.
    const { readState, stateDir } = await import('../runtime/state.ts');
    paths = [...(readState(flags.dir ?? stateDir(process.cwd()))?.configDirs ?? [])];
    if (paths.length === 0) {
      err('error: give at least one -f PATH (a file, a directory, or - for stdin), or run it beside a running mesh (--dir)\n');
      return EXIT_USAGE;
    }
  }
  const { loadPaths } = await import('../config/load.ts');
  const { runAnalyzers } = await import('../analysis/run.ts');
  const texts = new Map<string, string>();
  const loaded = loadPaths(paths, { onText: (file, text) => texts.set(file, text), ...(readStdin ? { readStdin } : {}) });
  const { caSettingsFrom } = await import('../ca/ca-settings.ts');
  // The CA's lifetimes (istiod's env in the IstioOperator): what the control plane refuses to start with.
  const all = [...loaded.diagnostics, ...caSettingsFrom(loaded.resources).diagnostics, ...runAnalyzers(loaded.resources)];
  // -n: the diagnostics of that namespace's resources. Those of no resource (a file's) or of a
  // cluster-scoped one (`Kind name`) concern every namespace: kept.
  const ns = flags.allNamespaces ? undefined : flags.namespace;
  const inNamespace = (resource: string | undefined): boolean => {
    const id = resource?.split(' ').at(-1) ?? '';
    return !id.includes('/') || id.startsWith(`${ns}/`);
  };
  const diagnostics = ns === undefined ? all : all.filter((d) => inNamespace(d.resource));
  if (flags.output === 'json') out(`${renderJson(diagnostics)}\n`);
  else {
    const text = renderText(diagnostics, (file) => texts.get(file));
    out(`${text ? `${text}\n` : ''}${summary(diagnostics, loaded.resources.length)}\n`);
  }
  const failing = flags.failOn === 'warning' ? ['error', 'warning'] : ['error'];
  return diagnostics.some((d) => failing.includes(d.severity)) ? 1 : 0;
}

async function listing(output: string): Promise<string> {
  const { configCatalogue } = await import('../config/codes.ts');
  const { analyzerCatalogue } = await import('../analysis/catalogue.ts');
  const rows = [
    ...configCatalogue.map((c) => ({ code: c.code, severity: c.severity, name: c.name, description: c.description })),
    ...analyzerCatalogue.map((c) => ({ code: c.code, severity: c.severity, name: c.name, description: c.description })),
  ];
  if (output === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  const { formatTable } = await import('./table.ts');
  return `${formatTable(['CODE', 'SEVERITY', 'NAME', 'DESCRIPTION'], rows.map((r) => [r.code, r.severity, r.name, r.description]))}\n`;
}
