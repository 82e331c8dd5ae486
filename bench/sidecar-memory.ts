// Memory of the Outrigger sidecar pair through a sequence of loads: idle, after wrk -c50, after h2load
// (10 × 10 streams), after 1,000 rps open loop. Per sidecar: RSS, private memory (RSS less the shared
// pages of the node binary and libraries) and the V8 heap from the admin `/memory` endpoint.
// Run: node bench/sidecar-memory.ts [--seconds 8] [--services 100] [--no-h2] [--node-flags '--max-semi-space-size=8']
// (--node-flags go after the mesh's own Node flags, so a later V8 flag overrides an earlier one.)
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { allocatePort } from '../src/runtime/ports.ts';
import { runH2load, runWrk } from './closed-loop.ts';
import type { LoadResult } from './load-gen.ts';
import { originHost, originPorts } from './mesh-yaml.ts';
import { startNginx } from './nginx-origin.ts';
import { startOutriggerPair } from './outrigger-pair.ts';
import { privateMb, rssMb } from './proc-stat.ts';
import { core, runCommand } from './processes.ts';

const argv = process.argv;
const opt = (name: string, fallback: number) => (argv.includes(name) ? Number(argv[argv.indexOf(name) + 1]) : fallback);
const seconds = opt('--seconds', 8);
const services = opt('--services', 100);
const nodeFlags = argv.includes('--node-flags') ? (argv[argv.indexOf('--node-flags') + 1] ?? '').split(' ').filter(Boolean) : [];

/** The admin endpoint's `/memory` (Envoy's keys, read from V8). */
function memory(port: number): Promise<Record<string, string>> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/memory', agent: false }, (res) => {
        let body = '';
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve(JSON.parse(body) as Record<string, string>));
      })
      .on('error', reject);
  });
}

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-sidecar-memory-'));
const taken = new Set<number>();
const nginx = await startNginx(dir, await allocatePort(taken), await allocatePort(taken));
const pair = await startOutriggerPair({ dir, fillerServices: services, origin: { http: nginx.port, grpc: nginx.port }, taken, nodeFlags });
const mb = (bytes: string | undefined) => (Number(bytes) / 2 ** 20).toFixed(1);

async function report(stage: string): Promise<void> {
  for (const [i, name] of ['client', 'server'].entries()) {
    const pid = pair.pids[i] as number;
    const m = await memory(pair.adminPorts[i] as number);
    process.stdout.write(
      `${stage.padEnd(18)} ${name}: RSS ${rssMb(pid).toFixed(1)} MB, private ${privateMb(pid).toFixed(1)} MB, heap used ${mb(m['allocated'])} of ${mb(m['heap_size'])} MB\n`,
    );
  }
}

try {
  const host = `${originHost}:${originPorts.http}`;
  await report('idle');
  const wrk = await runWrk({ port: pair.outboundPort, host, seconds, connections: 50 });
  process.stdout.write(`wrk -c50: ${wrk.rps.toFixed(0)} rps\n`);
  await report('after wrk -c50');
  if (!argv.includes('--no-h2')) {
    const h2 = await runH2load({ port: pair.outboundPort, authority: host, path: '/', seconds, clients: 10, streams: 10 });
    process.stdout.write(`h2load 10x10: ${h2.rps.toFixed(0)} rps\n`);
    await report('after h2load');
  }
  const spec = { port: pair.outboundPort, host, path: '/', mode: 'open', rate: 1000, durationMs: seconds * 1000, connections: 4, maxConnections: 64 };
  const out = await runCommand('taskset', ['-c', core('load'), process.execPath, path.join(import.meta.dirname, 'load-gen.ts'), JSON.stringify(spec)], (seconds + 30) * 1000);
  const open = JSON.parse(out) as LoadResult;
  process.stdout.write(`1,000 rps: p50 ${open.p50Ms.toFixed(2)} p99 ${open.p99Ms.toFixed(2)} ms\n`);
  await report('after 1,000 rps');
} finally {
  await pair.stop();
  await nginx.stop();
  rmSync(dir, { recursive: true, force: true });
}
