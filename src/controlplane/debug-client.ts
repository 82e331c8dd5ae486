// How CLI commands reach a running control plane's debug API: the --control-plane flag, else the
// local state file's `controlPlane.debugAddress`, else Istio's default 127.0.0.1:15014.
import { readFileSync } from 'node:fs';
import path from 'node:path';

export class DebugClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

export function resolveDebugAddress(flag: string | undefined, cwd = process.cwd(), stateDir?: string): string {
  if (flag) return flag.replace(/^https?:\/\//, '');
  const dir = stateDir ?? path.join(cwd, '.outrigger');
  try {
    const state = JSON.parse(readFileSync(path.join(dir, 'state.json'), 'utf8')) as { controlPlane?: { debugAddress?: unknown } };
    const a = state.controlPlane?.debugAddress;
    if (typeof a === 'string' && a) return a.replace(/^https?:\/\//, '');
  } catch {
    // An explicit --dir names one mesh: without its state, asking the default port could answer for another.
    if (stateDir !== undefined) throw Object.assign(new Error(`no mesh is running in ${dir} (no state.json there); give the --dir of a running mesh, or --control-plane ADDRESS`), { code: 'NO_MESH' });
    // no local mesh state: fall back to the default port
  }
  return '127.0.0.1:15014';
}

export async function fetchDebug<T>(address: string, pathAndQuery: string): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`http://${address}${pathAndQuery}`, { signal: AbortSignal.timeout(10_000) });
  } catch (err) {
    throw new DebugClientError('CP_UNREACHABLE', `cannot reach the control plane debug API at ${address} (is it running? use --control-plane HOST:PORT)`, { cause: err });
  }
  const body = (await res.json()) as T & { error?: string };
  if (!res.ok) throw new DebugClientError('CP_DEBUG_ERROR', body.error ?? `HTTP ${res.status}`);
  return body;
}
