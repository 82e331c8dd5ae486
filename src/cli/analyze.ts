// `outrigger analyze -f PATH...`: validates Istio and Kubernetes YAML offline, then runs the
// cross-resource analyzers; exit 1 on errors (or warnings with --fail-on warning). Without -f, the
// configuration of the running mesh (its directories); -n narrows to one namespace, as istioctl's.
// istioctl's --suppress, --failure-threshold and --output-threshold work as there.
import type { Command } from 'commander';
import type { Diagnostic, Severity } from '../config/diagnostic.ts';
import { EXIT_USAGE } from './exit-codes.ts';

interface AnalyzeFlags {
  filename?: string[];
  output: string;
  failOn: string;
  failureThreshold?: string;
  outputThreshold?: string;
  suppress?: string[];
  list?: boolean;
  namespace?: string;
  allNamespaces?: boolean;
  dir?: string;
}

/** istioctl's levels (diag.GetAllLevelStrings), any case, as Outrigger's severities, lowest first. */
const levels: Record<string, Severity> = { INFO: 'info', WARNING: 'warning', ERROR: 'error' };
const rank: Record<Severity, number> = { info: 0, warning: 1, error: 2 };

/** A `--suppress CODE=RESOURCE` entry: istioctl names a resource `Kind name.namespace`, `*` globs. */
interface Suppression {
  code: string;
  resource: RegExp;
}

function parseSuppression(value: string): Suppression | undefined {
  const parts = value.split('=');
  if (parts.length !== 2) return undefined;
  const [code = '', glob = ''] = parts;
  const pattern = glob.split('*').map((s) => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*');
  return { code, resource: new RegExp(`^${pattern}$`, 's') };
}

/** `Kind ns/name` → istioctl's `Kind name.ns` (resource.Origin.FriendlyName); `Kind name` stays. */
function friendlyName(resource: string): string {
  const space = resource.indexOf(' ');
  const id = resource.slice(space + 1);
  const slash = id.indexOf('/');
  return slash < 0 ? resource : `${resource.slice(0, space)} ${id.slice(slash + 1)}.${id.slice(0, slash)}`;
}

const suppressed = (d: Diagnostic, suppressions: readonly Suppression[]): boolean =>
  d.resource !== undefined && suppressions.some((s) => s.code === d.code && s.resource.test(friendlyName(d.resource ?? '')));

export function define(program: Command): void {
  program
    .command('analyze')
    .description('validate and analyse Istio and Kubernetes YAML files offline (files, directories, - for stdin)')
    .option('-f, --filename <path...>', 'files or directories to read (recursively: *.yaml, *.yml); - reads stdin')
    .option('-o, --output <format>', 'text, json or yaml', 'text')
    .option('--fail-on <severity>', 'lowest severity that fails the run: error or warning', 'error')
    .option('--failure-threshold <level>', "istioctl's name for --fail-on, which it overrides: Info, Warning or Error")
    .option('--output-threshold <level>', 'lowest severity printed: Info (the default), Warning or Error; the exit code still counts all')
    .option(
      '-S, --suppress <CODE=RESOURCE>',
      "leave out CODE on a resource named as istioctl names it, 'Kind name.namespace' ('Kind name' when cluster-scoped); * matches anything; repeatable",
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
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
  const { renderJson, renderText, summary, toRecord, sortDiagnostics } = await import('./diagnostic-format.ts');
  // istioctl lower-cases the format before checking it (`-o JSON` is json).
  const output = flags.output.toLowerCase();
  if (output !== 'text' && output !== 'json' && output !== 'yaml') {
    err(`error: --output must be text, json or yaml, not "${flags.output}"\n`);
    return EXIT_USAGE;
  }
  if (flags.failOn !== 'error' && flags.failOn !== 'warning') {
    err(`error: --fail-on must be error or warning, not "${flags.failOn}"\n`);
    return EXIT_USAGE;
  }
  const thresholds: Record<'failure-threshold' | 'output-threshold', string | undefined> = {
    'failure-threshold': flags.failureThreshold,
    'output-threshold': flags.outputThreshold,
  };
  for (const [flag, value] of Object.entries(thresholds)) {
    if (value !== undefined && !levels[value.toUpperCase()]) {
      err(`error: --${flag} must be Info, Warning or Error, not "${value}"\n`);
      return EXIT_USAGE;
    }
  }
  const failAt = levels[flags.failureThreshold?.toUpperCase() ?? ''] ?? (flags.failOn === 'warning' ? 'warning' : 'error');
  const showAt = levels[flags.outputThreshold?.toUpperCase() ?? ''] ?? 'info';
  const suppressions: Suppression[] = [];
  for (const value of flags.suppress ?? []) {
    const s = parseSuppression(value);
    if (!s) {
      err(`error: --suppress takes CODE=RESOURCE (e.g. "IST0102=Namespace shop"), not "${value}"\n`);
      return EXIT_USAGE;
    }
    if (!(await knownCodes()).has(s.code)) err(`Warning: Supplied message code '${s.code}' is an unknown message code and will not have any effect.\n`);
    suppressions.push(s);
  }
  if (flags.list) {
    out(await listing(output));
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
  const diagnostics = (ns === undefined ? all : all.filter((d) => inNamespace(d.resource))).filter((d) => !suppressed(d, suppressions));
  // As istioctl: the output threshold filters what is printed, the exit code counts every finding.
  const shown = diagnostics.filter((d) => rank[d.severity] >= rank[showAt]);
  if (output === 'json') out(`${renderJson(shown)}\n`);
  else if (output === 'yaml') {
    const { stringify } = await import('yaml');
    out(shown.length ? stringify(sortDiagnostics(shown).map(toRecord), { lineWidth: 0 }) : '[]\n');
  } else {
    const text = renderText(shown, (file) => texts.get(file));
    out(`${text ? `${text}\n` : ''}${summary(shown, loaded.resources.length)}\n`);
  }
  return diagnostics.some((d) => rank[d.severity] >= rank[failAt]) ? 1 : 0;
}

async function knownCodes(): Promise<Set<string>> {
  const { configCatalogue } = await import('../config/codes.ts');
  const { analyzerCatalogue } = await import('../analysis/catalogue.ts');
  return new Set([...configCatalogue, ...analyzerCatalogue].map((c) => c.code));
}

async function listing(output: string): Promise<string> {
  const { configCatalogue } = await import('../config/codes.ts');
  const { analyzerCatalogue } = await import('../analysis/catalogue.ts');
  const rows = [
    ...configCatalogue.map((c) => ({ code: c.code, severity: c.severity, name: c.name, description: c.description })),
    ...analyzerCatalogue.map((c) => ({ code: c.code, severity: c.severity, name: c.name, description: c.description })),
  ];
  if (output === 'json') return `${JSON.stringify(rows, null, 2)}\n`;
  if (output === 'yaml') return (await import('yaml')).stringify(rows, { lineWidth: 0 });
  const { formatTable } = await import('./table.ts');
  return `${formatTable(['CODE', 'SEVERITY', 'NAME', 'DESCRIPTION'], rows.map((r) => [r.code, r.severity, r.name, r.description]))}\n`;
}
