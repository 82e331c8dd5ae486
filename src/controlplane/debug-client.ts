// How CLI commands reach a control plane's debug API: the address a --control-plane flag gives
// (src/cli/mesh-state.ts picks it, else the running mesh's), and the typed fetch of one of its pages.

export class DebugClientError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}

/**
 * `HOST:PORT` of a `--control-plane` value, with or without its `http://`. The unspecified address a
 * control plane started with `--host 0.0.0.0` prints (`debug http://0.0.0.0:15014`) is asked at
 * loopback, as connecting to it reaches anyway: the debug API answers a request addressed to
 * 127.0.0.1, localhost or [::1] only (src/controlplane/loopback-request.ts).
 */
export function resolveDebugAddress(flag: string): string {
  const address = flag.replace(/^https?:\/\//, '');
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i);
  if (host === '0.0.0.0') return `127.0.0.1${address.slice(i)}`;
  if (host === '[::]') return `[::1]${address.slice(i)}`;
  return address;
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
