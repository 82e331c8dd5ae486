// `npm run bench`: direct, the HAProxy mTLS pair and the Outrigger sidecar pair, side by side with
// interleaved repetitions, then the control-plane bench; prints one table (or --json). See bench/README.md.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { allocatePort } from '../src/runtime/ports.ts';
import { makePairCerts } from './certs.ts';
import { runWrk, writeGrpcBody } from './closed-loop.ts';
import { runControlPlaneBench } from './control-plane.ts';
import { startHaproxyPair } from './haproxy-pair.ts';
import { originHost, originPorts } from './mesh-yaml.ts';
import { startNginx } from './nginx-origin.ts';
import { type OutriggerPair, startOutriggerPair } from './outrigger-pair.ts';
import { core, type Started, startPinned, waitForPort } from './processes.ts';
import { type Durations, type Measurement, measure, type ScenarioName, scenarioTargets, type Target } from './scenarios.ts';
import { type ControlPlaneSummary, summarise } from './summary.ts';
import { formatTable } from './table.ts';

const { values: flags } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    reps: { type: 'string' },
    services: { type: 'string', default: '100' },
    'no-control-plane': { type: 'boolean', default: false },
    'keep-dir': { type: 'boolean', default: false },
    scenarios: { type: 'string' },
  },
});
const quick = flags.quick ?? false;
const reps = Number(flags.reps ?? (quick ? 2 : 3));
const durations: Durations = quick ? { rateSeconds: 5, maxSeconds: 3 } : { rateSeconds: 15, maxSeconds: 8 };
const allScenarios = Object.keys(scenarioTargets) as ScenarioName[];
const scenarios: ScenarioName[] = flags.scenarios
  ? flags.scenarios.split(',').map((s) => {
      if (!allScenarios.includes(s as ScenarioName)) throw new Error(`--scenarios: unknown scenario '${s}' (known: ${allScenarios.join(', ')})`);
      return s as ScenarioName;
    })
  : quick
    ? ['http1-1000rps', 'http1-max', 'tcp-max', 'h2-max', 'grpc-max']
    : ['http1-1000rps', 'http1-max', 'tcp-1000rps', 'tcp-max', 'h2-max', 'grpc-max'];
const log = (m: string) => process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${m}\n`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-bench-'));
const stops: (() => Promise<void>)[] = [];
const errors: string[] = [];
let stopping = false;
const teardown = async () => {
  if (stopping) return;
  stopping = true;
  for (const stop of stops.reverse()) await stop().catch(() => {});
  if (!flags['keep-dir']) rmSync(dir, { recursive: true, force: true });
};
process.once('SIGINT', () => void teardown().then(() => process.exit(130)));
process.once('SIGTERM', () => void teardown().then(() => process.exit(143)));

async function main(): Promise<void> {
  const taken = new Set<number>();
  const port = () => allocatePort(taken);
  log(`work directory ${dir}`);
  const nginx = await startNginx(dir, await port(), await port());
  stops.push(() => nginx.stop());
  const grpcPort = await port();
  const grpcOrigin: Started = startPinned(core('server'), process.execPath, [path.join(import.meta.dirname, 'grpc-origin.ts'), String(grpcPort)], path.join(dir, 'grpc-origin.log'));
  stops.push(() => grpcOrigin.stop());
  await waitForPort(grpcPort, 15_000, grpcOrigin);
  const grpcBody = path.join(dir, 'grpc-body.bin');
  writeGrpcBody(grpcBody, 64);

  const certs = await makePairCerts(dir);
  const ports4 = async () => ({ http: await port(), tcp: await port(), h2: await port(), grpc: await port() });
  const haproxy = await startHaproxyPair({ dir, certs, front: await ports4(), back: await ports4(), origin: { http: nginx.port, grpc: grpcPort } });
  stops.push(() => haproxy.stop());
  log('origin and HAProxy pair up');

  let outrigger: OutriggerPair | undefined;
  try {
    outrigger = await startOutriggerPair({ dir, fillerServices: Number(flags.services), origin: { http: nginx.port, grpc: grpcPort }, taken });
    const o = outrigger;
    stops.push(() => o.stop());
    log('Outrigger pair up');
  } catch (err) {
    const tail = (f: string) => {
      try {
        return readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-4).join('\n');
      } catch {
        return '';
      }
    };
    errors.push(`Outrigger pair did not start: ${(err as Error).message}\n${tail('server-0.proxy.log')}\n${tail('client-0.proxy.log')}`);
    log(errors[errors.length - 1] as string);
  }

  const targets: Target[] = [
    { name: 'direct', http: nginx.port, tcp: nginx.port, h2: nginx.h2cPort, grpc: grpcPort, pids: [] },
    { name: 'haproxy', ...haproxy.front, pids: haproxy.pids },
  ];
  if (outrigger) targets.push({ name: 'outrigger', http: outrigger.outboundPort, tcp: outrigger.outboundPort, h2: outrigger.outboundPort, grpc: outrigger.outboundPort, pids: outrigger.pids });

  // V8 needs about 12 s of saturating HTTP/1.1 (some 40,000 requests) before it has optimized a fresh
  // sidecar's hot path, and CPU per request falls by half meanwhile (bench/RESULTS.md, "Compiler
  // threads and the 1,000 rps tail"). The table is of steady state, so the Outrigger pair runs that
  // first; HAProxy has no JIT to warm. Logged, not in the table.
  if (outrigger) {
    const seconds = quick ? 12 : 20;
    await runWrk({ port: outrigger.outboundPort, host: `${originHost}:${originPorts.http}`, seconds, connections: 50 }).then(
      (w) => log(`JIT warm-up of the Outrigger pair: wrk -c50 for ${seconds} s, ${w.rps.toFixed(0)} rps, ${w.errors} errors`),
      (err: Error) => errors.push(`JIT warm-up: ${err.message}`),
    );
  }
  // Then every scenario on every pair (pools, tunnel connections, the type feedback of each path):
  // not in the table, but logged.
  const warm: Durations = quick ? { rateSeconds: 1, maxSeconds: 1 } : { rateSeconds: 5, maxSeconds: 3 };
  for (const s of scenarios) {
    for (const t of targets) {
      if (!scenarioTargets[s].includes(t.name) || t.name === 'direct') continue;
      const originPid = s === 'grpc-max' ? grpcOrigin.pid : nginx.pid;
      await measure(s, t, originPid, warm, -1, grpcBody).then(
        (m) => log(`warm-up ${s} ${t.name}: ${m.rps.toFixed(0)} rps, pair ${m.pairCpuUs.toFixed(1)} µs/req${m.latency ? `, p50 ${m.latency.p50.toFixed(3)} p99 ${m.latency.p99.toFixed(3)} ms` : ''}, errors ${m.errors}`),
        (err: Error) => errors.push(`warm-up ${s} ${t.name}: ${err.message}`),
      );
    }
  }
  log(`warm-up done; ${reps} repetitions of ${scenarios.length} scenarios`);

  const measurements: Measurement[] = [];
  for (let rep = 0; rep < reps; rep++) {
    for (const s of scenarios) {
      const order = targets.filter((t) => scenarioTargets[s].includes(t.name));
      // Rotate the order each repetition, so no target always runs first (A B C, B C A, ...).
      const rotated = order.map((_, i) => order[(i + rep) % order.length] as Target);
      for (const t of rotated) {
        const originPid = s === 'grpc-max' ? grpcOrigin.pid : nginx.pid;
        try {
          const m = await measure(s, t, originPid, durations, rep, grpcBody);
          measurements.push(m);
          log(`rep ${rep + 1} ${s} ${t.name}: ${m.rps.toFixed(0)} rps, pair ${m.pairCpuUs.toFixed(1)} µs/req${m.latency ? `, p50 ${m.latency.p50.toFixed(3)} p99 ${m.latency.p99.toFixed(3)} ms` : ''}, errors ${m.errors}`);
        } catch (err) {
          errors.push(`rep ${rep + 1} ${s} ${t.name}: ${(err as Error).message.slice(0, 300)}`);
          log(errors[errors.length - 1] as string);
        }
      }
    }
  }
  for (const stop of stops.splice(0).reverse()) await stop().catch(() => {});

  let cp: ControlPlaneSummary | undefined;
  if (!flags['no-control-plane']) {
    log('control-plane bench');
    try {
      cp = await runControlPlaneBench({ quick, log });
    } catch (err) {
      errors.push(`control-plane bench: ${(err as Error).message}`);
    }
  }
  const cpu = os.cpus();
  const machine = `${cpu.length} × ${cpu[0]?.model ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.type()} ${os.release()}, Node ${process.version}, load avg at end ${os.loadavg()[0]?.toFixed(2)}`;
  const summary = summarise(measurements, cp, { machine, command: `node bench/run.ts ${process.argv.slice(2).join(' ')}`.trim(), repetitions: reps, errors });
  process.stdout.write(flags.json ? `${JSON.stringify(summary)}\n` : `${formatTable(summary)}\n`);
}

try {
  await main();
} finally {
  await teardown();
}
