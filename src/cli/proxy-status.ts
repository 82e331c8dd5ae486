// `outrigger proxy-status`: per proxy and xDS type, whether it has what the control plane last sent
// (SYNCED), has not acknowledged it (STALE, with any NACK reason) or was never sent it (NOT SENT).
import { type Command, Option } from 'commander';
import type { ProxySync, TypeSync } from '../controlplane/sync-report.ts';
import { formatTable } from './table.ts';

interface Flags {
  output: string;
  controlPlane?: string;
  dir?: string;
}

export function define(program: Command): void {
  program
    .command('proxy-status')
    .description('xDS sync state of every connected proxy (SYNCED, STALE, NOT SENT) with NACK reasons')
    .addOption(new Option('-o, --output <format>', 'table, json or yaml (the same data as json)').choices(['table', 'json', 'yaml']).default('table'))
    .option('--control-plane <address>', 'debug API address (default: from the mesh state, else 127.0.0.1:15014)')
    .option('--dir <dir>', 'the state directory of the mesh (default .outrigger)')
    .action(async (flags: Flags) => {
      const { fetchDebug, resolveDebugAddress } = await import('../controlplane/debug-client.ts');
      try {
        const proxies = await fetchDebug<ProxySync[]>(resolveDebugAddress(flags.controlPlane, process.cwd(), flags.dir), '/debug/syncz');
        if (flags.output === 'yaml') {
          // Loaded only here: --help loads every command module.
          const { stringify } = await import('yaml');
          process.stdout.write(stringify(proxies));
        } else process.stdout.write(flags.output === 'json' ? `${JSON.stringify(proxies, null, 2)}\n` : renderProxyStatus(proxies));
      } catch (err) {
        process.stderr.write(`error: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}

function age(ms: number | undefined): string {
  if (ms === undefined) return '';
  if (ms < 60_000) return `${Math.floor(ms / 1000)}s`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)}m`;
  return `${Math.floor(ms / 3_600_000)}h`;
}

function cell(t: TypeSync | undefined): string {
  if (!t) return 'NOT SENT';
  const status = t.status === 'STALE' && t.lastNack && t.lastNack.version === t.sentVersion ? 'STALE (NACK)' : t.status;
  return t.status === 'NOT SENT' ? status : `${status} (${age(t.sinceChangeMs)})`;
}

/** The version of the type that changed last: what the proxy was last sent, whichever type it was. */
function latestVersion(p: ProxySync): string {
  const sent = Object.values(p.types).filter((t): t is TypeSync => t !== undefined && t.sentVersion !== undefined && t.sinceChangeMs !== undefined);
  sent.sort((a, b) => (a.sinceChangeMs ?? 0) - (b.sinceChangeMs ?? 0));
  return sent[0]?.sentVersion ?? '';
}

export function renderProxyStatus(proxies: readonly ProxySync[]): string {
  const types = ['CDS', 'LDS', 'EDS', 'RDS', 'SDS'];
  const rows = [...proxies]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((p) => [p.name, ...types.map((t) => cell(p.types[t])), latestVersion(p)]);
  let out = `${formatTable(['NAME', ...types, 'VERSION'], rows)}\n`;
  const nacks = proxies.flatMap((p) => types.flatMap((t) => (p.types[t]?.lastNack ? [`${p.name} ${t} ${p.types[t]?.lastNack?.version}: ${p.types[t]?.lastNack?.message}`] : [])));
  if (nacks.length) out += `\nNACKs:\n${nacks.map((n) => `  ${n}`).join('\n')}\n`;
  return out;
}
