// What one measurement is: a scenario (protocol and load shape) against one target (direct, the
// HAProxy pair, the Outrigger pair), with the CPU of the processes under test read before and after.
import { runH2load, runWrk } from './closed-loop.ts';
import type { LoadResult, LoadSpec } from './load-gen.ts';
import { originHost, originPorts } from './mesh-yaml.ts';
import { cpuWindow, privateMb, rssMb } from './proc-stat.ts';
import { core, runCommand } from './processes.ts';

export type TargetName = 'direct' | 'haproxy' | 'outrigger';
export type ScenarioName = 'http1-1000rps' | 'http1-max' | 'tcp-1000rps' | 'tcp-max' | 'h2-max' | 'grpc-max';

/** Where each target listens and which processes make it up. */
export interface Target {
  name: TargetName;
  http: number;
  tcp: number;
  h2: number;
  grpc: number;
  /** Processes of the pair (empty for direct). */
  pids: number[];
}

export interface Durations {
  rateSeconds: number;
  maxSeconds: number;
}

export interface Measurement {
  scenario: ScenarioName;
  target: TargetName;
  rep: number;
  completed: number;
  errors: number;
  rps: number;
  /** CPU of the pair's processes per request, µs (0 for direct). */
  pairCpuUs: number;
  /** CPU of the origin per request, µs. */
  originCpuUs: number;
  latency?: { p50: number; p90: number; p99: number; p999: number; max: number; steadyP50: number; steadyP99: number };
  /** RSS of each pair process after the run, MB. */
  rssMb: number[];
  /** Private (unshared) memory of each proxy process, MB. */
  privateMb?: number[];
}

export const scenarioTargets: Record<ScenarioName, TargetName[]> = {
  'http1-1000rps': ['direct', 'haproxy', 'outrigger'],
  'http1-max': ['direct', 'haproxy', 'outrigger'],
  'tcp-1000rps': ['direct', 'haproxy', 'outrigger'],
  'tcp-max': ['haproxy', 'outrigger'],
  'h2-max': ['direct', 'haproxy', 'outrigger'],
  'grpc-max': ['direct', 'haproxy', 'outrigger'],
};

const loadGen = new URL('./load-gen.ts', import.meta.url).pathname;
const httpAuthority = `${originHost}:${originPorts.http}`;

async function nodeLoad(spec: LoadSpec, seconds: number): Promise<LoadResult> {
  const out = await runCommand('taskset', ['-c', core('load'), process.execPath, loadGen, JSON.stringify(spec)], (seconds + 30) * 1000);
  return JSON.parse(out) as LoadResult;
}

function tcpSpec(t: Target): Pick<LoadSpec, 'port' | 'connect'> {
  return t.name === 'outrigger' ? { port: t.tcp, connect: `${originHost}:${originPorts.tcp}` } : { port: t.tcp };
}

export async function measure(scenario: ScenarioName, t: Target, originPid: number, d: Durations, rep: number, grpcBody: string): Promise<Measurement> {
  const pairCpu = cpuWindow(t.pids);
  const originCpu = cpuWindow([originPid]);
  let completed: number;
  let errors: number;
  let rps: number;
  let latency: Measurement['latency'];
  if (scenario === 'http1-1000rps' || scenario === 'tcp-1000rps') {
    const where = scenario === 'http1-1000rps' ? { port: t.http } : tcpSpec(t);
    const r = await nodeLoad({ ...where, host: httpAuthority, path: '/', mode: 'open', rate: 1000, durationMs: d.rateSeconds * 1000, connections: 4, maxConnections: 64 }, d.rateSeconds);
    ({ completed, errors } = r);
    rps = (r.completed / r.elapsedMs) * 1000;
    latency = { p50: r.p50Ms, p90: r.p90Ms, p99: r.p99Ms, p999: r.p999Ms, max: r.maxMs, steadyP50: r.steadyP50Ms, steadyP99: r.steadyP99Ms };
  } else if (scenario === 'tcp-max') {
    const r = await nodeLoad({ ...tcpSpec(t), host: httpAuthority, path: '/', mode: 'closed', rate: 0, durationMs: d.maxSeconds * 1000, connections: 50, maxConnections: 50 }, d.maxSeconds);
    ({ completed, errors } = r);
    rps = (r.completed / r.elapsedMs) * 1000;
  } else if (scenario === 'http1-max') {
    ({ completed, errors, rps } = await runWrk({ port: t.http, host: httpAuthority, seconds: d.maxSeconds, connections: 50 }));
  } else if (scenario === 'h2-max') {
    ({ completed, errors, rps } = await runH2load({ port: t.h2, authority: httpAuthority, path: '/', seconds: d.maxSeconds, clients: 10, streams: 10 }));
  } else {
    ({ completed, errors, rps } = await runH2load({
      port: t.grpc,
      authority: `${originHost}:${originPorts.grpc}`,
      path: '/bench.Echo/Echo',
      seconds: d.maxSeconds,
      clients: 10,
      streams: 10,
      dataFile: grpcBody,
      headers: ['content-type: application/grpc', 'te: trailers'],
    }));
  }
  const per = (us: number) => (completed > 0 ? us / completed : Number.NaN);
  return {
    scenario,
    target: t.name,
    rep,
    completed,
    errors,
    rps,
    pairCpuUs: per(pairCpu()),
    originCpuUs: per(originCpu()),
    ...(latency ? { latency } : {}),
    rssMb: t.pids.map(rssMb),
    privateMb: t.pids.map(privateMb),
  };
}
