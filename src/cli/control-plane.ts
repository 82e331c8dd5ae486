// `outrigger control-plane -f DIR`: runs the control plane — watches the YAML, serves ADS and the CSR
// service on --xds-port (plaintext, local) and --xds-tls-port (TLS, for proxies on other hosts), the
// debug API and metrics on --debug-port — until interrupted.
import path from 'node:path';
import type { Command } from 'commander';
import { EXIT_FAILURE, EXIT_USAGE } from './exit-codes.ts';
import { portArg } from './port-arg.ts';

interface Flags {
  filename: string[];
  xdsPort: string;
  xdsTlsPort?: string;
  xdsTlsAddress?: string;
  xdsTls: boolean;
  xdsTlsName?: string[];
  debugPort: string;
  host: string;
  caDir?: string;
  allowAnonymous?: boolean;
  maxRecvMsgSize?: string;
}

export class ControlPlaneArgsError extends Error {
  readonly code = 'CONTROL_PLANE_ARGS';
}

/**
 * Where the TLS xDS port binds, or undefined when it is off. On by default with a kept CA (`--ca-dir`):
 * Istio's 15012 on the plaintext port's host. An in-memory root is nowhere on disk for a proxy to
 * trust, so asking for TLS without `--ca-dir` is an error rather than a port nobody can verify.
 */
export function xdsTlsBindAddress(flags: Pick<Flags, 'xdsTlsPort' | 'xdsTlsAddress' | 'xdsTls' | 'host' | 'caDir'>): string | undefined {
  if (!flags.xdsTls) return undefined;
  const asked = flags.xdsTlsAddress ?? flags.xdsTlsPort;
  if (!flags.caDir) {
    if (asked !== undefined) throw new ControlPlaneArgsError('--xds-tls-port / --xds-tls-address need --ca-dir: proxies must have the mesh root (CA_DIR/root-cert.pem) to verify the control plane');
    return undefined;
  }
  if (flags.xdsTlsAddress !== undefined) {
    if (!/^.+:\d{1,5}$/.test(flags.xdsTlsAddress)) throw new ControlPlaneArgsError(`--xds-tls-address: "${flags.xdsTlsAddress}" is not HOST:PORT`);
    return flags.xdsTlsAddress;
  }
  const port = Number(flags.xdsTlsPort ?? '15012');
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new ControlPlaneArgsError(`--xds-tls-port: "${flags.xdsTlsPort}" is not a port`);
  return `${flags.host}:${port}`;
}

export function define(program: Command): void {
  program
    .command('control-plane')
    .description('run the control plane: config watch, xDS (ADS) and CSR on --xds-port (plaintext, local) and --xds-tls-port (TLS, for proxies on other hosts), debug API and metrics on --debug-port')
    .requiredOption('-f, --filename <path...>', 'directories or files of YAML to watch')
    .option('--xds-port <port>', 'ADS + CSR port, plaintext: for proxies on this host (local mode)', portArg, '15010')
    .option('--xds-tls-port <port>', 'ADS + CSR + CSDS over TLS on --host, for proxies on other hosts (default 15012 when --ca-dir is given)')
    .option('--xds-tls-address <host:port>', 'bind the TLS port here instead (e.g. 0.0.0.0:15012 while plaintext stays on loopback)')
    .option('--xds-tls-name <name...>', 'DNS names of the TLS port certificate (default istiod.istio-system.svc)')
    .option('--no-xds-tls', 'serve no TLS port')
    .option('--debug-port <port>', 'debug API and /metrics port', portArg, '15014')
    .option('--host <address>', 'address to bind: an address of this machine (0.0.0.0 for all); checked before anything starts', '127.0.0.1')
    .option('--ca-dir <dir>', 'keep the CA root here (created on first run; proxies trust DIR/root-cert.pem); default: a fresh in-memory root')
    .option('--allow-anonymous', 'accept xDS clients without a bearer token (they never receive secrets)')
    .option('--max-recv-msg-size <bytes>', 'largest gRPC message a caller may send, in bytes (default: ISTIO_GPRC_MAXRECVMSGSIZE, else 4194304 as istiod)')
    .action(async (flags: Flags) => {
      let tlsAddress: string | undefined;
      let maxReceiveMessageBytes: number | undefined;
      try {
        tlsAddress = xdsTlsBindAddress(flags);
        // The flag wrong is refused here, naming it. Without it, the control plane reads Istio's
        // environment variable, and of a value that is not a limit says so and keeps 4 MiB, as istiod does.
        const { parseMaxReceiveMessageBytes } = await import('../controlplane/call-limits.ts');
        if (flags.maxRecvMsgSize !== undefined) maxReceiveMessageBytes = parseMaxReceiveMessageBytes(flags.maxRecvMsgSize, '--max-recv-msg-size');
        // Before anything is made (a CA included): a path or address the flags got wrong, named with its flag.
        const { requireDirectoryIfPresent, requireExistingPaths } = await import('./path-args.ts');
        requireExistingPaths(flags.filename, '-f');
        if (flags.caDir !== undefined) requireDirectoryIfPresent(flags.caDir, '--ca-dir');
        await ensureBindable(flags.host, '--host');
        if (flags.xdsTlsAddress !== undefined && tlsAddress !== undefined) await ensureBindable(hostOf(tlsAddress), '--xds-tls-address');
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (!(err instanceof ControlPlaneArgsError) && code !== 'PATH_ARG' && code !== 'MESSAGE_LIMIT') throw err;
        process.stderr.write(`outrigger control-plane: ${(err as Error).message}\n`);
        process.exitCode = EXIT_USAGE;
        return;
      }
      const { ControlPlane } = await import('../controlplane/control-plane.ts');
      const { startDebugApi } = await import('../controlplane/debug-api.ts');
      const { CertificateAuthority } = await import('../ca/certificate-authority.ts');
      const { defaultXdsTlsName } = await import('../controlplane/xds-tls.ts');
      // The CA issues identities in the config's trust domain, as the translator names them, with the
      // lifetimes istiod's environment in the IstioOperator sets (as `outrigger up` does).
      const { loadPaths } = await import('../config/load-paths.ts');
      const { caOptionsFrom, openKeptCa } = await import('../ca/local-ca.ts');
      const { CaConfigError } = await import('../ca/ca-error.ts');
      const resources = loadPaths(flags.filename).resources;
      let ca: Awaited<ReturnType<typeof openKeptCa>>;
      try {
        const progress = (line: string) => process.stdout.write(`control plane: ${line}\n`);
        ca = flags.caDir ? await openKeptCa(flags.caDir, resources, { progress }) : await CertificateAuthority.ephemeral(caOptionsFrom(resources));
      } catch (err) {
        const code = (err as { code?: unknown }).code;
        if (flags.caDir !== undefined && (code === 'CA_LOAD_FAILED' || code === 'ENOTDIR' || code === 'EACCES' || code === 'EEXIST')) {
          // A CA directory that cannot be read or made: one line naming the flag.
          const { fsReason } = await import('./path-args.ts');
          process.stderr.write(`outrigger control-plane: --ca-dir ${flags.caDir}: ${code === 'CA_LOAD_FAILED' ? (err as Error).message : fsReason(err)}; nothing was started\n`);
          // A path the flag cannot use is the command line's fault (64); a CA found there that does not
          // load (a damaged key, a certificate that does not match it) is a failure (1).
          process.exitCode = code === 'CA_LOAD_FAILED' ? EXIT_FAILURE : EXIT_USAGE;
          return;
        }
        if (!(err instanceof CaConfigError)) throw err;
        const { formatDiagnostics } = await import('./diagnostic-format.ts');
        process.stderr.write(`${formatDiagnostics(err.diagnostics)}\noutrigger control-plane: the certificate authority's settings are invalid; nothing was started\n`);
        // Settings in the mesh's config, found wrong as analyze finds errors: a failure (1), not usage.
        process.exitCode = EXIT_FAILURE;
        return;
      }
      // A port someone else holds: named with its holder and flag, before anything binds.
      const { ensureFlaggedPortsFree, PortInUseError } = await import('../runtime/ports.ts');
      try {
        await ensureFlaggedPortsFree(
          [
            [Number(flags.xdsPort), '--xds-port'],
            [Number(flags.debugPort), '--debug-port'],
          ],
          flags.host,
        );
        if (tlsAddress !== undefined) await ensureFlaggedPortsFree([[portOf(tlsAddress), flags.xdsTlsAddress !== undefined ? '--xds-tls-address' : '--xds-tls-port']], hostOf(tlsAddress));
      } catch (err) {
        if (!(err instanceof PortInUseError)) throw err;
        process.stderr.write(`outrigger control-plane: ${err.message}\n`);
        process.exitCode = 1;
        return;
      }
      const names = flags.xdsTlsName ?? [defaultXdsTlsName];
      const { loadTokenKey } = await import('../controlplane/token-key.ts');
      const cp = await ControlPlane.start({
        configPaths: flags.filename,
        xdsAddress: `${flags.host}:${Number(flags.xdsPort)}`,
        ...(tlsAddress ? { xdsTlsAddress: tlsAddress, xdsTlsNames: names } : {}),
        allowAnonymous: flags.allowAnonymous ?? false,
        ...(maxReceiveMessageBytes !== undefined ? { maxReceiveMessageBytes } : {}),
        ca,
        // A kept CA keeps its token key too: tokens survive a restart and `outrigger token` can issue them.
        ...(flags.caDir ? { tokenKey: loadTokenKey(flags.caDir, true) } : {}),
      });
      let debug: Awaited<ReturnType<typeof startDebugApi>>;
      try {
        debug = await startDebugApi(cp, `${flags.host}:${Number(flags.debugPort)}`);
      } catch (err) {
        // Taken in between: nothing may keep the process alive, or a port held, after the error.
        await cp.close();
        throw err;
      }
      // The stop signals are caught before the lines that say the control plane is up: a supervisor (or
      // a test) that stops it on reading them must find it shutting down, not killed by the default action.
      const stopped = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      process.stdout.write(`control plane: xDS ${cp.xdsAddress}, debug http://${debug.address}\n`);
      if (cp.xdsTlsAddress && flags.caDir) {
        const root = path.join(flags.caDir, 'root-cert.pem');
        process.stdout.write(`control plane: xDS over TLS ${cp.xdsTlsAddress} (certificate for ${names.join(', ')}; proxies trust ${root})\n`);
      }
      await stopped;
      await debug.close();
      await cp.close();
    });
}

/** `HOST` of `HOST:PORT` (`::` of `[::]:15012`). */
const hostOf = (address: string) => address.slice(0, address.lastIndexOf(':')).replace(/^\[(.*)\]$/, '$1');
const portOf = (address: string) => Number(address.slice(address.lastIndexOf(':') + 1));

/**
 * Refuses an address this machine cannot listen on, naming its flag: otherwise gRPC fails deep in its
 * bind and the process ends in a stack ("No address added out of total 1 resolved ... EADDRNOTAVAIL").
 */
export async function ensureBindable(host: string, flag: string): Promise<void> {
  const net = await import('node:net');
  const err = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    const server = net.createServer();
    server.once('error', resolve);
    server.listen(0, host, () => server.close(() => resolve(undefined)));
  });
  if (!err) return;
  const why =
    err.code === 'EADDRNOTAVAIL'
      ? 'not an address of this machine (EADDRNOTAVAIL); use 127.0.0.1, 0.0.0.0 or one of its own addresses'
      : err.code === 'ENOTFOUND' || err.code === 'EAI_AGAIN'
        ? `cannot resolve that name (${err.code})`
        : `cannot listen there: ${err.message}`;
  throw new ControlPlaneArgsError(`${flag} ${host}: ${why}`);
}
