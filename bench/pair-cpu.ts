// Pair CPU per request of the Outrigger sidecars alone (no HAProxy, no control-plane bench): the quick
// before/after check for hot-path changes. wrk closed loop, several runs on one pair, µs/req per run.
// Run: node bench/pair-cpu.ts [--runs 4] [--seconds 6] [--connections 10]
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocatePort } from '../src/runtime/ports.ts';
import { runWrk } from './closed-loop.ts';
import { originHost, originPorts } from './mesh-yaml.ts';
import { startNginx } from './nginx-origin.ts';
import { startOutriggerPair } from './outrigger-pair.ts';
import { readFileSync } from 'node:fs';
import { cpuWindow } from './proc-stat.ts';

/** User and system CPU of one process in µs (utime, stime at 100 ticks per second). */
function userSys(pid: number): [number, number] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return [Number(f[11]) * 10_000, Number(f[12]) * 10_000];
}

const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
const runs = arg('--runs', 4);
const seconds = arg('--seconds', 6);
const connections = arg('--connections', 10);
const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-pair-cpu-'));
const taken = new Set<number>();
const nginx = await startNginx(dir, await allocatePort(taken), await allocatePort(taken));
const pair = await startOutriggerPair({ dir, fillerServices: 100, origin: { http: nginx.port, grpc: nginx.port }, taken });
const perReq: number[] = [];
try {
  const host = `${originHost}:${originPorts.http}`;
  // Warm-up: JIT and connection pools.
  await runWrk({ port: pair.outboundPort, host, seconds: 2, connections });
  for (let i = 0; i < runs; i++) {
    const client = cpuWindow([pair.clientPid]);
    const server = cpuWindow([pair.serverPid]);
    const [cu0, cs0] = userSys(pair.clientPid);
    const [su0, ss0] = userSys(pair.serverPid);
    const r = await runWrk({ port: pair.outboundPort, host, seconds, connections });
    const [cu1, cs1] = userSys(pair.clientPid);
    const [su1, ss1] = userSys(pair.serverPid);
    const n = Math.max(1, r.completed);
    const c = client() / Math.max(1, r.completed);
    const s = server() / Math.max(1, r.completed);
    perReq.push(c + s);
    process.stdout.write(`run ${i + 1}: ${r.completed} req, ${r.rps.toFixed(0)} rps, ${r.errors} errors, pair ${(c + s).toFixed(1)} µs/req (client ${c.toFixed(1)} = user ${((cu1 - cu0) / n).toFixed(0)} + sys ${((cs1 - cs0) / n).toFixed(0)}, server ${s.toFixed(1)} = user ${((su1 - su0) / n).toFixed(0)} + sys ${((ss1 - ss0) / n).toFixed(0)})\n`);
  }
} finally {
  await pair.stop();
  await nginx.stop();
}
const sorted = [...perReq].sort((a, b) => a - b);
process.stdout.write(`median pair ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)} µs/req, min ${(sorted[0] ?? 0).toFixed(1)}\n`);
