// `outrigger token --ca-dir DIR -n NS --service-account SA --workload W`: a bootstrap token for one
// workload's proxy, made with the key the control plane keeps beside its CA. For proxies on other hosts:
// `outrigger proxy --token-file F --xds-tls --root-cert DIR/root-cert.pem ...`.
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { EXIT_USAGE } from './exit-codes.ts';

interface Flags {
  caDir: string;
  namespace: string;
  serviceAccount: string;
  workload: string;
  duration: string;
  output?: string;
}

export function define(program: Command): void {
  program
    .command('token')
    .description("issue a proxy's bootstrap token (ADS and CSR accept it for exactly this namespace, service account and workload)")
    .requiredOption('--ca-dir <dir>', "the control plane's CA directory (`outrigger up`: .outrigger/ca)")
    .requiredOption('-n, --namespace <ns>', "the workload's namespace")
    .requiredOption('--service-account <sa>', "the workload's service account (its SPIFFE identity)")
    .requiredOption('--workload <name>', 'the workload (Deployment) name')
    .option('--duration <d>', 'refuse the token after this long (24h, 90m, 720h); `never`: it holds until the token key changes', '24h')
    .option('-o, --output <file>', 'write the token here (mode 0600) instead of stdout')
    .addHelpText(
      'after',
      '\nExample, joining a proxy on another host (the token holds a day unless --duration says otherwise):\n  outrigger token --ca-dir .outrigger/ca -n shop --service-account api --workload api -o api.token\n  outrigger proxy --token-file api.token --xds-address HOST:15012 --xds-tls --root-cert .outrigger/ca/root-cert.pem ...\n\nOn the TLS port the proxy needs the token only to join: it then renews with its workload certificate.\nIt reads --token-file again at each connection and certificate request, so to keep it able to join\nagain, write a fresh token over the file before the old one expires (cron, a timer unit), as a kubelet\nrotates a pod\'s token.\n',
    )
    .action(async (flags: Flags) => {
      const { loadTokenKey, tokenKeyFile } = await import('../controlplane/token-key.ts');
      const { BootstrapTokens } = await import('../controlplane/bootstrap-tokens.ts');
      const { fsReason } = await import('./path-args.ts');
      const fail = (message: string) => {
        process.stderr.write(`outrigger token: ${message}\n`);
        process.exitCode = EXIT_USAGE;
      };
      // The namespace and service account make the workload's SPIFFE ID: DNS names only, as Kubernetes
      // has them (a '/' would make an ID that reads as another namespace's).
      const { dnsNameProblem } = await import('../config/schema/metadata.ts');
      const bad = ([['-n', flags.namespace, true], ['--service-account', flags.serviceAccount, false]] as const).map(([f, v, label]) => [f, dnsNameProblem(v, label)] as const).find(([, p]) => p !== undefined);
      if (bad) {
        fail(`${bad[0]}: ${bad[1]}`);
        return;
      }
      if (!existsSync(tokenKeyFile(flags.caDir))) {
        const what = existsSync(flags.caDir) ? 'no token key in it (token-key)' : 'no such directory';
        fail(`--ca-dir ${flags.caDir}: ${what}; start \`outrigger control-plane --ca-dir ${flags.caDir}\` once to create it (\`outrigger up\` keeps its CA in .outrigger/ca)`);
        return;
      }
      let key: Uint8Array;
      try {
        key = loadTokenKey(flags.caDir, false);
      } catch (err) {
        fail(`--ca-dir ${flags.caDir}: ${fsReason(err)}`);
        return;
      }
      // A day by default, as a joining credential should be: a proxy on the TLS port renews with its
      // certificate once it has one, and needs a token again only to join after that has expired.
      let expiresAtMs: number | undefined;
      if (flags.duration !== 'never') {
        const { parseDurationMs } = await import('../xds/duration.ts');
        const ms = parseDurationMs(flags.duration);
        if (!ms || ms < 1000) {
          fail(`--duration: "${flags.duration}" is not a duration of a second or more, like 24h or 90m, nor never`);
          return;
        }
        expiresAtMs = Date.now() + ms;
      }
      const token = new BootstrapTokens(key).issue({ namespace: flags.namespace, serviceAccount: flags.serviceAccount, workload: flags.workload }, expiresAtMs);
      if (!flags.output) {
        process.stdout.write(`${token}\n`);
        return;
      }
      // Written beside the file and renamed over it: a proxy reading the file as it is rotated sees the
      // old token or the new one, never a part. The temporary file has a random name and is created
      // afresh, 0600 (never through a symlink another user planted in a shared directory); the rename
      // replaces a symlink at the output rather than writing through it.
      const { writeFileAtomic } = await import('../runtime/write-atomic.ts');
      try {
        writeFileAtomic(flags.output, `${token}\n`, { mode: 0o600 });
      } catch (err) {
        fail(`-o ${flags.output}: cannot write the token: ${fsReason(err)}`);
      }
    });
}
