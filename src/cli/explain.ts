// `outrigger explain --from WORKLOAD|ingress --to URL`: the decision trace of one request, computed by
// the proxy's own matchers over the control plane's own output, offline from files or live.
import { type Command, Option } from 'commander';

interface Flags {
  filename?: string[];
  live?: boolean;
  dir?: string;
  from: string;
  to: string;
  header: string[];
  request: string;
  output: string;
}

export function define(program: Command): void {
  program
    .command('explain')
    .description('the decision trace of one request: listener, route, cluster, endpoints, mTLS, authorization, outcome')
    .requiredOption('--from <workload>', 'the client: a workload (NAME, POD.NAMESPACE, NAMESPACE/NAME) or "ingress"')
    .requiredOption('--to <url>', 'the request URL, e.g. http://podinfo.podinfo:9898/')
    .option('-H, --header <header>', "a request header 'Name: value' (repeatable)", (v: string, prev: string[]) => [...prev, v], [] as string[])
    .option('-X, --request <method>', 'the request method', 'GET')
    .option('-f, --filename <paths...>', 'explain offline from these YAML files or directories')
    .option('--live', 'explain from the config the running control plane pushed')
    .option('--dir <dir>', 'the state directory of the running mesh (with --live)')
    .addOption(new Option('-o, --output <format>', 'text or json').choices(['text', 'json']).default('text'))
    .action(async (flags: Flags) => {
      const { explain } = await import('../explain/explain.ts');
      const { parseExplainRequest } = await import('../explain/parse-request.ts');
      const { formatExplainText } = await import('../explain/format-text.ts');
      const request = parseExplainRequest(flags.to, flags.header, flags.request);
      let source: import('../explain/config-source.ts').ConfigSource;
      if (flags.live || !flags.filename) {
        const { runningMesh } = await import('./mesh-state.ts');
        const { LiveSource, debugFetcher } = await import('../explain/live-source.ts');
        const { state } = runningMesh(flags.dir);
        source = new LiveSource(debugFetcher(state.controlPlane.debugAddress));
      } else {
        const { loadPaths } = await import('../config/load.ts');
        const { OfflineSource } = await import('../explain/offline-source.ts');
        const { requireExistingPaths } = await import('./path-args.ts');
        // A path that is not there would otherwise explain against a mesh without it.
        requireExistingPaths(flags.filename, '-f');
        const { resources, diagnostics } = loadPaths(flags.filename);
        for (const d of diagnostics) if (d.severity === 'error') console.error(`${d.span?.file ?? ''}: ${d.code} ${d.message} (resource left out)`);
        source = new OfflineSource(resources);
      }
      try {
        const trace = await explain(source, { from: flags.from, request });
        process.stdout.write(flags.output === 'json' ? `${JSON.stringify(trace, null, 2)}\n` : formatExplainText(trace));
      } catch (err) {
        if (!(err instanceof Error && 'code' in err)) throw err;
        console.error(`outrigger explain: ${err.message}`);
        process.exitCode = 1;
      }
    });
}
