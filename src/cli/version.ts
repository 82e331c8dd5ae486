// `outrigger version`: this client's version and, when a mesh is running here (or --control-plane names
// one), its control plane's and its proxies', as `istioctl version` prints them; --remote=false: the client alone.
import { type Command, InvalidArgumentError, Option } from 'commander';
import type { ProxySync } from '../controlplane/sync-report.ts';

interface Flags {
  output: string;
  remote: boolean;
  controlPlane?: string;
  dir?: string;
}

/** istioctl's three parts, in its JSON shape: the mesh parts are absent when only the client is known. */
export interface VersionReport {
  clientVersion: { version: string; nodeVersion: string };
  meshVersion?: { component: 'control-plane'; address: string; info: { version: string; nodeVersion?: string } }[];
  dataPlaneVersion?: { id: string; name: string; version: string }[];
}

/** The control plane's own version (`unknown` from one too old to answer /version) and each proxy's. */
export interface MeshVersions {
  address: string;
  controlPlane: { version: string; nodeVersion?: string };
  proxies: readonly Pick<ProxySync, 'proxy' | 'name' | 'proxyVersion'>[];
}

export function define(program: Command): void {
  program
    .command('version')
    .description("print the client's version and, for a running mesh, the control plane's and the proxies' (istioctl version)")
    .addOption(new Option('--remote [bool]', 'ask the running mesh for its control plane and proxy versions; --remote=false prints only the client version').default(true).argParser(bool))
    .addOption(new Option('-o, --output <format>', 'text, json or yaml').choices(['text', 'json', 'yaml']).default('text'))
    .option('--control-plane <address>', "debug API address of the control plane to ask (default: the mesh state's)")
    .option('--dir <dir>', 'the state directory of the mesh (default .outrigger)')
    .addHelpText(
      'after',
      `
Without a running mesh (and no --control-plane) only the client version is printed, with a note on
stderr; exit 1 only when --dir or --control-plane names a mesh that does not answer.

Examples:
  outrigger version                   client version: 0.1.0 / control plane version: 0.1.0 / data plane version: 0.1.0 (5 proxies)
  outrigger version --remote=false    0.1.0
  outrigger version -o json`,
    )
    .action(async (flags: Flags) => {
      const { packageVersion } = await import('../runtime/package-version.ts');
      const client = { version: packageVersion(), nodeVersion: process.version };
      let mesh: MeshVersions | undefined;
      if (flags.remote) {
        try {
          mesh = await fetchMeshVersions(flags);
        } catch (err) {
          const named = flags.controlPlane !== undefined || flags.dir !== undefined;
          process.stderr.write(`${named ? 'outrigger version' : 'note'}: ${(err as Error).message}\n`);
          if (named) process.exitCode = 1;
        }
      }
      const report = versionReport(client, mesh);
      // The YAML library only for -o yaml: --help loads every command module, and this one stays light.
      process.stdout.write(flags.output === 'yaml' ? (await import('yaml')).stringify(report) : renderVersion(report, flags.output, flags.remote));
    });
}

function bool(v: string): boolean {
  if (v === 'true') return true;
  if (v === 'false') return false;
  throw new InvalidArgumentError('must be true or false');
}

async function fetchMeshVersions(flags: Flags): Promise<MeshVersions> {
  const { fetchDebug } = await import('../controlplane/debug-client.ts');
  const { controlPlaneOf } = await import('./mesh-state.ts');
  const { address } = controlPlaneOf(flags.controlPlane, flags.dir);
  const [controlPlane, proxies] = await Promise.all([
    fetchDebug<{ version: string; nodeVersion?: string }>(address, '/version').catch((err: { code?: unknown }) => {
      // A control plane from before /version: it answers, but cannot say which it is.
      if (err.code === 'CP_DEBUG_ERROR') return { version: 'unknown' };
      throw err;
    }),
    fetchDebug<ProxySync[]>(address, '/debug/syncz'),
  ]);
  return { address, controlPlane, proxies };
}

export function versionReport(client: VersionReport['clientVersion'], mesh: MeshVersions | undefined): VersionReport {
  if (!mesh) return { clientVersion: client };
  return {
    clientVersion: client,
    meshVersion: [{ component: 'control-plane', address: mesh.address, info: mesh.controlPlane }],
    dataPlaneVersion: [...mesh.proxies].sort((a, b) => a.name.localeCompare(b.name)).map((p) => ({ id: p.proxy, name: p.name, version: p.proxyVersion ?? 'unknown' })),
  };
}

/** `0.1.0 (4 proxies), unknown (1 proxy)`: each version the data plane runs, the most common first. */
function dataPlaneSummary(proxies: NonNullable<VersionReport['dataPlaneVersion']>): string {
  if (proxies.length === 0) return 'none';
  const counts = new Map<string, number>();
  for (const p of proxies) counts.set(p.version, (counts.get(p.version) ?? 0) + 1);
  return [...counts]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .map(([v, n]) => `${v} (${n} ${n === 1 ? 'proxy' : 'proxies'})`)
    .join(', ');
}

/** istioctl's forms: the bare client version for --remote=false, else one line per part; or JSON. */
export function renderVersion(report: VersionReport, output: string, remote = true): string {
  if (output === 'json') return `${JSON.stringify(report, null, 2)}\n`;
  if (!remote) return `${report.clientVersion.version}\n`;
  const lines = [`client version: ${report.clientVersion.version}`];
  for (const m of report.meshVersion ?? []) lines.push(`control plane version: ${m.info.version}`);
  if (report.dataPlaneVersion) lines.push(`data plane version: ${dataPlaneSummary(report.dataPlaneVersion)}`);
  return `${lines.join('\n')}\n`;
}
