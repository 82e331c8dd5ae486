// Closed-loop capacity runs with the Debian tools, pinned to the load core: wrk for HTTP/1.1 and h2load
// for h2c (10 streams per connection) and gRPC. Their latency columns are closed-loop and not reported.
import { writeFileSync } from 'node:fs';
import { core, runCommand } from './processes.ts';

export interface ClosedResult {
  completed: number;
  errors: number;
  rps: number;
}

export class ToolOutputError extends Error {
  readonly code = 'TOOL_OUTPUT';
}

export function parseWrk(out: string): ClosedResult {
  const req = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!req || !rps) throw new ToolOutputError(`unreadable wrk output: ${out.slice(0, 500)}`);
  const non2xx = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
  const sock = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const sockErrors = sock ? sock.slice(1).reduce((s, v) => s + Number(v), 0) : 0;
  return { completed: Number(req[1]), errors: Number(non2xx?.[1] ?? 0) + sockErrors, rps: Number(rps[1]) };
}

export function parseH2load(out: string): ClosedResult {
  const req = /requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(out);
  const fin = /finished in [\d.]+m?s, ([\d.]+) req\/s/.exec(out);
  if (!req || !fin) throw new ToolOutputError(`unreadable h2load output: ${out.slice(0, 500)}`);
  const codes = /status codes: (\d+) 2xx/.exec(out);
  const done = Number(req[3]);
  const ok = Number(codes?.[1] ?? req[4]);
  return { completed: done, errors: Math.max(0, done - ok) + Number(req[5]) + Number(req[6]), rps: Number(fin[1]) };
}

/** `close`: every request on a new connection (`Connection: close`), to measure what a connection costs. */
export async function runWrk(o: { port: number; host: string; seconds: number; connections: number; close?: boolean }): Promise<ClosedResult> {
  const args = ['-c', core('load'), 'wrk', '-t1', `-c${o.connections}`, `-d${o.seconds}s`, '-H', `Host: ${o.host}`, ...(o.close ? ['-H', 'Connection: close'] : []), `http://127.0.0.1:${o.port}/`];
  return parseWrk(await runCommand('taskset', args, (o.seconds + 30) * 1000));
}

export interface H2loadInput {
  port: number;
  authority: string;
  path: string;
  seconds: number;
  clients: number;
  streams: number;
  /** Request body file: makes it a POST (gRPC). */
  dataFile?: string;
  headers?: readonly string[];
}

export async function runH2load(o: H2loadInput): Promise<ClosedResult> {
  const args = ['-c', core('load'), 'h2load', '-t1', `-c${o.clients}`, `-m${o.streams}`, `-D${o.seconds}`, '-H', `:authority: ${o.authority}`];
  for (const h of o.headers ?? []) args.push('-H', h);
  if (o.dataFile) args.push('-d', o.dataFile);
  args.push(`http://127.0.0.1:${o.port}${o.path}`);
  return parseH2load(await runCommand('taskset', args, (o.seconds + 30) * 1000));
}

/** A gRPC request body for h2load: one uncompressed message frame holding `payload`. */
export function writeGrpcBody(file: string, payloadBytes: number): void {
  const head = Buffer.alloc(5);
  head.writeUInt32BE(payloadBytes, 1);
  writeFileSync(file, Buffer.concat([head, Buffer.alloc(payloadBytes, 0x61)]));
}
