// Paired A/B of the sidecar pair: two pairs from two source revisions, measured in alternating rounds,
// CPU per request and V8 bytes allocated per request (from --trace-gc-nvp, immune to CPU contention).
// On a shared machine single runs swing by ±30 %; the median of per-round ratios does not.
// --tcp measures the L4 path instead: CONNECT through the outbound port to the origin's TCP service,
// then HTTP/1.1 requests inside, 50 connections closed loop (the bench's tcp-max).
// --h2 measures HTTP/2 instead: h2load, 10 clients of 10 streams, h2c to the outbound port.
// --grpc measures unary gRPC the same way, against the bench's gRPC echo origin (the bench's grpc-max).
// --close sends every wrk request on a new connection (`Connection: close`): what a connection costs.
// --flags-a / --flags-b add Node flags to one pair's sidecars (after the mesh's own), to pair a flag
// against its absence on one revision: --a HEAD --b HEAD --flags-b '--heap-growing-percent=50'.
// --env-a / --env-b do the same with environment variables (NAME=VALUE ...), such as libuv's
// UV_USE_IO_URING=0, which a process reads only when it starts.
// Run: node bench/pair-ab.ts --a <rev> [--b <rev>] [--rounds 20] [--seconds 3] [--rate 0|rps] [--connections 10] [--close] [--tcp | --h2 | --grpc]
//        [--flags-a '...'] [--flags-b '...'] [--env-a 'NAME=VALUE ...'] [--env-b 'NAME=VALUE ...']
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { packageRoot } from '../src/runtime/js-build.ts';
import { allocatePort } from '../src/runtime/ports.ts';
import { runH2load, runWrk, writeGrpcBody } from './closed-loop.ts';
import { echoPath } from './grpc-origin.ts';
import type { LoadResult } from './load-gen.ts';
import { originHost, originPorts } from './mesh-yaml.ts';
import { startNginx } from './nginx-origin.ts';
import type { OutriggerPair, OutriggerPairInput } from './outrigger-pair.ts';
import { cpuWindow } from './proc-stat.ts';
import { core, runCommand, startPinned, waitForPort } from './processes.ts';
import { revisionTree } from './revision-tree.ts';

const argv = process.argv;
const opt = (name: string): string | undefined => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const revA = opt('--a');
const revB = opt('--b');
const rounds = Number(opt('--rounds') ?? 20);
const seconds = Number(opt('--seconds') ?? 3);
const rate = Number(opt('--rate') ?? 0);
const tcp = argv.includes('--tcp');
const h2 = argv.includes('--h2');
const grpc = argv.includes('--grpc');
const close = argv.includes('--close');
const connections = Number(opt('--connections') ?? 10);
const extraFlags = [opt('--flags-a'), opt('--flags-b')].map((f) => (f ?? '').split(' ').filter(Boolean));
const extraEnv = [opt('--env-a'), opt('--env-b')].map((e) =>
  (e ?? '')
    .split(' ')
    .filter(Boolean)
    .map((kv) => {
      const eq = kv.indexOf('=');
      if (eq <= 0) throw new Error(`--env-a/--env-b take NAME=VALUE, not ${kv}`);
      return [kv.slice(0, eq), kv.slice(eq + 1)] as const;
    }),
);
if (!revA) throw new Error('usage: node bench/pair-ab.ts --a <rev> [--b <rev>] [--rounds N] [--seconds S] [--rate RPS] [--connections N] [--tcp | --h2 | --grpc]');

const repo = packageRoot();
const work = mkdtempSync(path.join(os.tmpdir(), 'outrigger-pair-ab-'));

/** A source tree of one revision beside the repository's own node_modules (its stripped copy stays inside it). */
function treeOf(rev: string, name: string): string {
  return revisionTree(repo, rev, path.join(work, name));
}

type Start = (i: OutriggerPairInput) => Promise<OutriggerPair>;
const roots = [treeOf(revA, 'a'), revB ? treeOf(revB, 'b') : repo];
const taken = new Set<number>();
const nginx = await startNginx(work, await allocatePort(taken), await allocatePort(taken));
const grpcPort = await allocatePort(taken);
const grpcOrigin = grpc ? startPinned(core('server'), process.execPath, [path.join(import.meta.dirname, 'grpc-origin.ts'), String(grpcPort)], path.join(work, 'grpc-origin.log')) : undefined;
if (grpcOrigin) await waitForPort(grpcPort, 15_000, grpcOrigin);
const grpcBody = path.join(work, 'grpc-body.bin');
writeGrpcBody(grpcBody, 64);
const pairs: { pair: OutriggerPair; logs: string[] }[] = [];
const host = `${originHost}:${originPorts.http}`;

/** Requests completed, and with --rate the latency percentiles from the intended send times. */
async function load(port: number): Promise<{ completed: number; p50Ms?: number; p99Ms?: number }> {
  if (grpc) return runH2load({ port, authority: `${originHost}:${originPorts.grpc}`, path: echoPath, seconds, clients: 10, streams: 10, dataFile: grpcBody, headers: ['content-type: application/grpc', 'te: trailers'] });
  if (h2) return runH2load({ port, authority: host, path: '/', seconds, clients: 10, streams: 10 });
  if (rate <= 0 && !tcp) return runWrk({ port, host, seconds, connections, close });
  const spec = tcp
    ? { port, host, path: '/', connect: `${originHost}:${originPorts.tcp}`, ...(rate > 0 ? { mode: 'open', rate, connections: 4, maxConnections: 64 } : { mode: 'closed', rate: 0, connections: 50, maxConnections: 50 }), durationMs: seconds * 1000 }
    : { port, host, path: '/', mode: 'open', rate, durationMs: seconds * 1000, connections: 4, maxConnections: 64 };
  const out = await runCommand('taskset', ['-c', core('load'), process.execPath, path.join(import.meta.dirname, 'load-gen.ts'), JSON.stringify(spec)], (seconds + 30) * 1000);
  return JSON.parse(out) as LoadResult;
}

/** V8 bytes allocated since `from` in a --trace-gc-nvp log (each GC line says what was allocated since the last). */
function allocated(file: string, from: number): number {
  const text = readFileSync(file).subarray(from).toString();
  let sum = 0;
  for (const m of text.matchAll(/ allocated=(\d+)/g)) sum += Number(m[1]);
  return sum;
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const cpu: number[][] = [[], []];
const bytes: number[][] = [[], []];
const p50: number[][] = [[], []];
const p99: number[][] = [[], []];
try {
  for (const [i, root] of roots.entries()) {
    const { startOutriggerPair } = (await import(path.join(root, 'bench', 'outrigger-pair.ts'))) as { startOutriggerPair: Start };
    const dir = path.join(work, `pair-${i}`);
    mkdirSync(dir);
    // The sidecars inherit this process's environment when they start: set one pair's variables just for its start.
    const env = extraEnv[i] ?? [];
    for (const [k, v] of env) process.env[k] = v;
    const pair = await startOutriggerPair({ dir, fillerServices: 100, origin: { http: nginx.port, grpc: grpc ? grpcPort : nginx.port }, taken, nodeFlags: ['--trace-gc-nvp', ...(extraFlags[i] ?? [])] }).finally(() => {
      for (const [k] of env) delete process.env[k];
    });
    pairs.push({ pair, logs: ['client-0', 'server-0'].map((n) => path.join(dir, `${n}.proxy.log`)) });
  }
  for (const { pair } of pairs) await load(pair.outboundPort);
  for (let r = 0; r < rounds; r++) {
    // A B, then B A: whichever runs first in a round has no advantage over the series.
    for (const k of r % 2 === 0 ? [0, 1] : [1, 0]) {
      const { pair, logs } = pairs[k] as (typeof pairs)[number];
      const sizes = logs.map((f) => statSync(f).size);
      const window = cpuWindow(pair.pids);
      const result = await load(pair.outboundPort);
      const n = Math.max(1, result.completed);
      const us = window() / n;
      const kb = logs.reduce((s, f, j) => s + allocated(f, sizes[j] ?? 0), 0) / n / 1024;
      cpu[k]?.push(us);
      bytes[k]?.push(kb);
      const latency = result.p50Ms !== undefined && result.p99Ms !== undefined ? `, p50 ${result.p50Ms.toFixed(3)} p99 ${result.p99Ms.toFixed(2)} ms` : '';
      if (latency) {
        p50[k]?.push(result.p50Ms as number);
        p99[k]?.push(result.p99Ms as number);
      }
      process.stdout.write(`round ${r + 1} ${k ? 'B' : 'A'}: ${n} req, pair ${us.toFixed(1)} µs/req, ${kb.toFixed(1)} KB/req allocated (both sidecars)${latency}\n`);
    }
  }
} finally {
  for (const { pair } of pairs) await pair.stop();
  await grpcOrigin?.stop();
  await nginx.stop();
  rmSync(work, { recursive: true, force: true });
}
const ratios = (m: number[][]) => (m[0] ?? []).map((a, i) => (m[1]?.[i] ?? Number.NaN) / a);
const flagsNote = (k: number) => ((extraFlags[k] ?? []).length ? ` (${(extraFlags[k] ?? []).join(' ')})` : '');
process.stdout.write(`\nA ${revA}${flagsNote(0)}, B ${revB ?? 'working tree'}${flagsNote(1)}; ${rounds} rounds of ${seconds} s, ${grpc ? 'h2load gRPC 10×10 streams' : h2 ? 'h2load 10×10 streams' : `${tcp ? 'TCP through CONNECT, ' : ''}${rate > 0 ? `open loop ${rate} rps` : tcp ? '50 connections closed loop' : `wrk -c${connections}${close ? ', Connection: close' : ''}`}`}\n`);
process.stdout.write(`pair CPU µs/req: A ${median(cpu[0] ?? []).toFixed(1)}, B ${median(cpu[1] ?? []).toFixed(1)}, B/A median ${median(ratios(cpu)).toFixed(3)}\n`);
process.stdout.write(`allocated KB/req: A ${median(bytes[0] ?? []).toFixed(1)}, B ${median(bytes[1] ?? []).toFixed(1)}, B/A median ${median(ratios(bytes)).toFixed(3)}\n`);
if (p50[0]?.length) {
  const diff = (m: number[][]) => median((m[0] ?? []).map((a, i) => (m[1]?.[i] ?? Number.NaN) - a));
  process.stdout.write(`latency p50 ms: A ${median(p50[0]).toFixed(3)}, B ${median(p50[1] ?? []).toFixed(3)}, B−A median ${diff(p50).toFixed(3)}; p99 ms: A ${median(p99[0] ?? []).toFixed(2)}, B ${median(p99[1] ?? []).toFixed(2)}, B−A median ${diff(p99).toFixed(2)}\n`);
}
