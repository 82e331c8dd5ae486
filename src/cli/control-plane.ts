// `outrigger control-plane -f DIR`: runs the control plane — watches the YAML, serves ADS and the CSR
// service on --xds-port, the debug API and metrics on --debug-port — until interrupted.
import type { Command } from 'commander';

interface Flags {
  filename: string[];
  xdsPort: string;
  debugPort: string;
  host: string;
  caDir?: string;
  allowAnonymous?: boolean;
}

export function define(program: Command): void {
  program
    .command('control-plane')
    .description('run the control plane: config watch, xDS (ADS) and CSR on --xds-port, debug API and metrics on --debug-port')
    .requiredOption('-f, --filename <path...>', 'directories or files of YAML to watch')
    .option('--xds-port <port>', 'ADS + CSR port (plaintext)', '15010')
    .option('--debug-port <port>', 'debug API and /metrics port', '15014')
    .option('--host <address>', 'address to bind', '127.0.0.1')
    .option('--ca-dir <dir>', 'keep the CA root here (created on first run); default: a fresh in-memory root')
    .option('--allow-anonymous', 'accept xDS clients without a bearer token (they never receive secrets)')
    .action(async (flags: Flags) => {
      const { ControlPlane } = await import('../controlplane/control-plane.ts');
      const { startDebugApi } = await import('../controlplane/debug-api.ts');
      const { CertificateAuthority } = await import('../ca/certificate-authority.ts');
      const ca = flags.caDir ? await CertificateAuthority.fromStateDir(flags.caDir) : await CertificateAuthority.ephemeral();
      const cp = await ControlPlane.start({
        configPaths: flags.filename,
        xdsAddress: `${flags.host}:${Number(flags.xdsPort)}`,
        allowAnonymous: flags.allowAnonymous ?? false,
        ca,
      });
      const debug = await startDebugApi(cp, `${flags.host}:${Number(flags.debugPort)}`);
      process.stdout.write(`control plane: xDS ${cp.xdsAddress}, debug http://${debug.address}\n`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await debug.close();
      await cp.close();
    });
}
