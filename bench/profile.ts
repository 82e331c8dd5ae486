// CPU profile of the sidecar hot path: the Outrigger pair under closed-loop HTTP/1.1 load with
// `node --cpu-prof` on both sidecars, then the top self-time functions of each profile.
// Run: node bench/profile.ts [--seconds N] [--connections N] [--rate RPS (open loop; default closed loop)]
//      node bench/profile.ts --h2 [--seconds N] [--connections N]   (h2load, h2c in front, 10 streams per connection)
//      node bench/profile.ts --grpc [--seconds N] [--connections N] (h2load unary gRPC echo, 10 streams per connection)
//      node bench/profile.ts --close [--seconds N] [--connections N]  (wrk, `Connection: close`: a new connection per request)
// --alloc profiles allocation instead of CPU: V8's sampling heap profiler over the middle of the load
// (bench/alloc-sampler.ts), counting collected objects too, then the top allocating functions.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocatePort } from '../src/runtime/ports.ts';
import { runH2load, runWrk, writeGrpcBody } from './closed-loop.ts';
import { echoPath } from './grpc-origin.ts';
import type { LoadResult } from './load-gen.ts';
import { originHost, originPorts } from './mesh-yaml.ts';
import { startNginx } from './nginx-origin.ts';
import { startOutriggerPair } from './outrigger-pair.ts';
import { cpuWindow } from './proc-stat.ts';
import { core, runCommand, startPinned, waitForPort } from './processes.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface HeapNode {
  callFrame: ProfileNode['callFrame'];
  selfSize: number;
  children: HeapNode[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** A profile node's function and where it is, with the type-stripped tree's path cut to `src/...`. */
function frameName(f: ProfileNode['callFrame']): string {
  const where = f.url ? `${f.url.replace(/^.*\/outrigger-js\//, '').replace(/^file:\/\/.*?\/(src|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : '';
  return `${f.functionName || '(anonymous)'} ${where}`.trim();
}

function largest(self: Map<string, number>, total: number, top: number): { fn: string; amount: number; pct: number }[] {
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, amount]) => ({ fn, amount, pct: (amount / total) * 100 }));
}

/** Self time per function (ms), largest first, with the share of all samples. */
export function topSelfTime(profile: CpuProfile, top: number): { fn: string; ms: number; pct: number }[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const n = byId.get(id);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    if (!n) return;
    const key = frameName(n.callFrame);
    self.set(key, (self.get(key) ?? 0) + dt);
  });
  return largest(self, total, top).map(({ fn, amount, pct }) => ({ fn, ms: amount, pct }));
}

/** Sampled bytes allocated per function, largest first, with the share of all sampled bytes. */
export function topAllocation(head: HeapNode, top: number): { fn: string; bytes: number; pct: number; total: number } [] {
  const self = new Map<string, number>();
  let total = 0;
  const walk = (n: HeapNode) => {
    total += n.selfSize;
    if (n.selfSize > 0) self.set(frameName(n.callFrame), (self.get(frameName(n.callFrame)) ?? 0) + n.selfSize);
    for (const c of n.children) walk(c);
  };
  walk(head);
  return largest(self, total, top).map(({ fn, amount, pct }) => ({ fn, bytes: amount, pct, total }));
}

if (import.meta.main) {
  const arg = (name: string, fallback: number) => (process.argv.includes(name) ? Number(process.argv[process.argv.indexOf(name) + 1]) : fallback);
  const seconds = arg('--seconds', 8);
  const connections = arg('--connections', 4);
  const rate = arg('--rate', 0);
  const h2 = process.argv.includes('--h2');
  const grpc = process.argv.includes('--grpc');
  const alloc = process.argv.includes('--alloc');
  const close = process.argv.includes('--close');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-profile-'));
  const taken = new Set<number>();
  const nginx = await startNginx(dir, await allocatePort(taken), await allocatePort(taken));
  const profDir = path.join(dir, 'profiles');
  const grpcPort = await allocatePort(taken);
  const grpcOrigin = grpc ? startPinned(core('server'), process.execPath, [path.join(import.meta.dirname, 'grpc-origin.ts'), String(grpcPort)], path.join(dir, 'grpc-origin.log')) : undefined;
  if (grpcOrigin) await waitForPort(grpcPort, 15_000, grpcOrigin);
  mkdirSync(profDir, { recursive: true });
  if (alloc) process.env['OUTRIGGER_ALLOC_PROFILE_DIR'] = profDir;
  const nodeFlags = alloc ? [`--import=${path.join(import.meta.dirname, 'alloc-sampler.ts')}`] : ['--cpu-prof', `--cpu-prof-dir=${profDir}`];
  const pair = await startOutriggerPair({ dir, fillerServices: 100, origin: { http: nginx.port, grpc: grpcPort }, taken, nodeFlags });
  // The allocation sampler runs over the middle of the load: from a fifth of it to four fifths.
  const signal = () => {
    for (const pid of pair.pids) process.kill(pid, 'SIGUSR2');
  };
  const window = alloc ? [setTimeout(signal, seconds * 200), setTimeout(signal, seconds * 800)] : [];
  try {
    if (grpc) {
      const body = path.join(dir, 'grpc-body.bin');
      writeGrpcBody(body, 64);
      const cpu = cpuWindow(pair.pids);
      const r = await runH2load({ port: pair.outboundPort, authority: `${originHost}:${originPorts.grpc}`, path: echoPath, seconds, clients: connections, streams: 10, dataFile: body, headers: ['content-type: application/grpc', 'te: trailers'] });
      process.stdout.write(`h2load gRPC: ${r.completed} requests (${r.errors} errors), ${connections} clients × 10 streams in ${seconds} s, pair CPU ${(cpu() / Math.max(1, r.completed)).toFixed(1)} µs/req\n`);
    } else if (h2) {
      const cpu = cpuWindow(pair.pids);
      const r = await runH2load({ port: pair.outboundPort, authority: `${originHost}:${originPorts.http}`, path: '/', seconds, clients: connections, streams: 10 });
      process.stdout.write(`h2load: ${r.completed} requests, ${connections} clients × 10 streams in ${seconds} s, pair CPU ${(cpu() / Math.max(1, r.completed)).toFixed(1)} µs/req\n`);
    } else if (close) {
      const cpu = cpuWindow(pair.pids);
      const r = await runWrk({ port: pair.outboundPort, host: `${originHost}:${originPorts.http}`, seconds, connections, close: true });
      process.stdout.write(`wrk, Connection: close: ${r.completed} requests, ${connections} connections in ${seconds} s, pair CPU ${(cpu() / Math.max(1, r.completed)).toFixed(1)} µs/req\n`);
    } else {
      const spec = { port: pair.outboundPort, host: `${originHost}:${originPorts.http}`, path: '/', mode: rate > 0 ? 'open' : 'closed', rate, durationMs: seconds * 1000, connections, maxConnections: rate > 0 ? connections * 16 : connections };
      const cpu = cpuWindow(pair.pids);
      const r = JSON.parse(await runCommand('taskset', ['-c', core('load'), process.execPath, path.join(import.meta.dirname, 'load-gen.ts'), JSON.stringify(spec)], (seconds + 30) * 1000)) as LoadResult;
      let perRequest = 'unknown (a sidecar exited)';
      try {
        perRequest = `${(cpu() / Math.max(1, r.completed)).toFixed(1)} µs/req`;
      } catch {}
      process.stdout.write(`${r.completed} requests over ${connections} connections in ${(r.elapsedMs / 1000).toFixed(1)} s, ${r.errors} errors, pair CPU ${perRequest}\n`);
    }
  } finally {
    for (const t of window) clearTimeout(t);
    await pair.stop();
    await grpcOrigin?.stop();
    await nginx.stop();
  }
  for (const file of readdirSync(profDir)) {
    process.stdout.write(`\n${file}\n`);
    if (file.endsWith('.heapprofile')) {
      const top = topAllocation((JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as { head: HeapNode }).head, 25);
      process.stdout.write(`sampled ${((top[0]?.total ?? 0) / 1e6).toFixed(1)} MB allocated in the middle three fifths of the load\n`);
      for (const t of top) process.stdout.write(`${t.pct.toFixed(1).padStart(5)}%  ${(t.bytes / 1e6).toFixed(1).padStart(6)} MB  ${t.fn}\n`);
      continue;
    }
    const profile = JSON.parse(readFileSync(path.join(profDir, file), 'utf8')) as CpuProfile;
    for (const t of topSelfTime(profile, 15)) process.stdout.write(`${t.pct.toFixed(1).padStart(5)}%  ${t.ms.toFixed(0).padStart(6)} ms  ${t.fn}\n`);
  }
  process.stdout.write(`\nprofiles kept in ${profDir}\n`);
}
