// `outrigger verify`: the seed's verification suite against the running local mesh; exit 1 on any FAIL.
import { type Command, InvalidArgumentError, Option } from 'commander';

interface Flags {
  dir?: string;
  output: string;
  requests: string;
  ingressHost?: string;
  canaryPercent?: string;
}

export function define(program: Command): void {
  program
    .command('verify')
    .description("run the seed's verification suite against the running mesh: sync, mTLS, split, canary, authorization, metrics, certificates")
    .option('--dir <dir>', 'the state directory of the running mesh (default: .outrigger here)')
    .option('--requests <n>', 'requests for the traffic split check', (v: string) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('must be a whole number of requests, at least 1');
      return v;
    }, '100')
    .option('--ingress-host <host>', "the Host the ingress is addressed with (default: the Gateway's host)")
    .option('--canary-percent <n>', "the canary's expected share of the split (default: its weight in the host's VirtualService, else 10)", (v: string) => {
      const n = Number(v);
      if (!Number.isFinite(n) || n < 0 || n > 100) throw new InvalidArgumentError('must be a percentage between 0 and 100');
      return v;
    })
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (flags: Flags) => {
      const { runningMesh } = await import('./mesh-state.ts');
      const { runVerify, formatVerifyText } = await import('../verify/run-verify.ts');
      const { canaryPercent, gatewayHost, meshResources } = await import('../verify/gateway-host.ts');
      // No mesh here exits 1, a --dir that is a file 64 (main prints either as one line).
      const { state } = runningMesh(flags.dir);
      // Read only when a flag leaves something to find in it.
      const resources = flags.ingressHost === undefined || flags.canaryPercent === undefined ? meshResources(state.configDirs) : [];
      const ingressHost = flags.ingressHost ?? gatewayHost(resources);
      // The split in force: a promotion (90/10 -> 75/25) changes what the check expects.
      const percent = flags.canaryPercent !== undefined ? Number(flags.canaryPercent) : ingressHost ? canaryPercent(resources, ingressHost) : undefined;
      const settings = { splitRequests: Number(flags.requests), ...(ingressHost ? { ingressHost } : {}), ...(percent !== undefined ? { canaryPercent: percent } : {}) };
      const report = await runVerify(state, { settings });
      process.stdout.write(flags.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : formatVerifyText(report));
      if (!report.passed) process.exitCode = 1;
    });
}
