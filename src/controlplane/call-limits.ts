// What the xDS ports (15010, 15012) accept before a call is authenticated, and how much one call may
// send. grpc-js reads a unary call's whole message before its handler runs (and a CSDS stream's before
// its first request is authenticated), so a caller without any credential could make the control plane
// buffer a message on every stream it opened. Here the caller is authenticated from its headers, before
// one byte of its message is read: the refusal it gets is the service's own (same code, same details,
// same logs and metrics), only sooner. ADS authenticates its streams before reading them on its own.
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import type { WorkloadIdentity } from './bootstrap-tokens.ts';
import { authenticateCaller, type CallerAuthOptions, type CallerRefusalCode } from './caller-authentication.ts';
import { CSR_UNAUTHENTICATED_DETAILS } from './csr-service.ts';
import type { ClientCertResult, PeerAuthContext } from './client-cert-authenticator.ts';

/**
 * The largest message a call may send by default: istiod's (ISTIO_GPRC_MAXRECVMSGSIZE), 4 MiB. The largest
 * legitimate request here is a sidecar's EDS or CDS name list, 278 KB in a mesh of 1,000 services (two
 * ports and two subsets each: 6,000 names), 1.4 MB at 5,000 and 2-3 MB at 7,000-10,000. A CSR is 1-2 KB, a
 * CSDS request less. Larger messages are refused with RESOURCE_EXHAUSTED by grpc-js ("Received message
 * larger than max"). Set with `ControlPlaneOptions.maxReceiveMessageBytes`, `outrigger control-plane
 * --max-recv-msg-size`, or Istio's environment variable ISTIO_GPRC_MAXRECVMSGSIZE.
 */
export const MAX_RECEIVE_MESSAGE_BYTES = 4 * 1024 * 1024;

/** Istio's environment variable for the limit (its spelling, GPRC, kept). */
export const MAX_RECEIVE_MESSAGE_ENV = 'ISTIO_GPRC_MAXRECVMSGSIZE';

/** A message size limit that is not a whole number of bytes from 1 KiB to 2 GiB - 1. */
export class MessageLimitError extends Error {
  readonly code = 'MESSAGE_LIMIT';
}

/**
 * Bytes, as grpc-js takes them: 1 KiB at least (a CSR needs 2 KB), at most 2^31 - 1. Written as Go's
 * strconv.Atoi reads it, as istiod reads ISTIO_GPRC_MAXRECVMSGSIZE: decimal digits with an optional sign
 * ("+4194304" is 4 MiB), no spaces.
 */
export function parseMaxReceiveMessageBytes(text: string, source: string): number {
  const n = /^[+-]?[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < 1024 || n > 0x7fffffff) {
    throw new MessageLimitError(`${source}: "${text}" is not a message size limit: a whole number of bytes from 1024 to 2147483647 (istiod's default is ${MAX_RECEIVE_MESSAGE_BYTES}, 4 MiB)`);
  }
  return n;
}

/**
 * The limit ISTIO_GPRC_MAXRECVMSGSIZE sets in `env`, or undefined when it is unset or empty. Throws
 * MessageLimitError for a value that is not a limit; the control plane then says so and uses the
 * default, as istiod's env.Register does (it logs the value and keeps 4 MiB): only the flag is refused.
 */
export function maxReceiveMessageBytesFromEnv(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const text = env[MAX_RECEIVE_MESSAGE_ENV];
  return text === undefined || text.trim() === '' ? undefined : parseMaxReceiveMessageBytes(text, MAX_RECEIVE_MESSAGE_ENV);
}

/**
 * Concurrent calls on one HTTP/2 connection. A proxy needs two or three (ADS, a CSR, CSDS), but the local
 * runtime's proxy host runs every proxy of the mesh in one process, over one connection: one ADS stream per
 * proxy. A client that opens more waits (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS) until one ends.
 */
export const MAX_CONCURRENT_STREAMS = 2048;

/** The control plane's gRPC server options: the limits above, and the interceptors. */
export function controlPlaneServerOptions(interceptors: grpc.ServerInterceptor[], maxReceiveMessageBytes = MAX_RECEIVE_MESSAGE_BYTES): grpc.ServerOptions {
  return {
    'grpc.max_receive_message_length': maxReceiveMessageBytes,
    'grpc.max_concurrent_streams': MAX_CONCURRENT_STREAMS,
    interceptors,
  };
}

/** A call's headers and connection, as a service's authentication reads them. */
export interface CallHead {
  metadata: grpc.Metadata;
  authContext: PeerAuthContext | null;
  peer: string;
}

/** The status a call is refused with before its message is read, or undefined to let it in. */
export type CallCheck = (head: CallHead) => { code: grpc.status; details: string } | undefined;

/**
 * Checks a call of the methods `checkFor` has a check for from its metadata, before the handler asks
 * for its first message; a refused call is ended at once with the check's status, its message unread.
 * A check must refuse only what the service itself would (the handler still authenticates).
 */
export function preauthInterceptor(checkFor: (path: string) => CallCheck | undefined): grpc.ServerInterceptor {
  return (method, call) => {
    const check = checkFor(method.path);
    if (!check) return new grpc.ServerInterceptingCall(call);
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, pass) => {
            const refusal = check({ metadata, authContext: call.getAuthContext() as PeerAuthContext | null, peer: call.getPeer() });
            if (refusal) {
              call.sendStatus({ code: refusal.code, details: refusal.details });
              stopReading(call);
              return;
            }
            pass(metadata);
          },
        }),
    });
  };
}

/**
 * Resets a refused call's HTTP/2 stream (RST_STREAM NO_ERROR, after the status): the caller is told to
 * stop sending (RFC 9113 8.1), and what it sent that nobody will read (up to the stream's flow-control
 * window, 64 KB) is let go, not held while the caller keeps the stream open. grpc-js keeps the stream
 * of its base call private; without it (another interceptor's call) the refusal stands as sent.
 */
function stopReading(call: grpc.ServerInterceptingCallInterface): void {
  const stream = (call as unknown as { stream?: Partial<http2.ServerHttp2Stream> }).stream;
  if (typeof stream?.close !== 'function' || stream.closed || stream.destroyed) return;
  stream.close(http2.constants.NGHTTP2_NO_ERROR);
}

/**
 * The CSR service's check (csr-service.ts): a workload certificate that proves its identity, else a bearer
 * token that does; no anonymous callers. `onRefused` gets what the service's `onResult` would.
 */
export function csrCallCheck(opts: {
  verifyToken: (token: string) => WorkloadIdentity | null | undefined;
  verifyCertificate?: (context: PeerAuthContext | null) => ClientCertResult;
  onRefused?: (result: { ok: false; code: 'UNAUTHENTICATED'; peer: string; message?: string }) => void;
}): CallCheck {
  return ({ metadata, authContext, peer }) => {
    const cert = opts.verifyCertificate?.(authContext);
    if (cert?.kind === 'verified') return undefined;
    const value = metadata.get('authorization')[0];
    // The service's own parsing (no trimming): a header it would not read is refused here as there.
    const token = typeof value === 'string' ? /^Bearer\s+(\S+)$/i.exec(value)?.[1] : undefined;
    if (token && opts.verifyToken(token)) return undefined;
    opts.onRefused?.({ ok: false, code: 'UNAUTHENTICATED', peer, ...(cert?.kind === 'refused' ? { message: `${cert.code} ${cert.reason}` } : {}) });
    return { code: grpc.status.UNAUTHENTICATED, details: CSR_UNAUTHENTICATED_DETAILS };
  };
}

/**
 * ADS's and CSDS's check (caller-authentication.ts): the same decision, by `now`; a refused caller is
 * told only "authentication failed", the reason goes to `onRefused`, as csds-server.ts does.
 */
export function callerCheck(
  opts: CallerAuthOptions & { now: () => number; onRefused?: (refusal: { peer: string; code: CallerRefusalCode; reason: string }) => void },
): CallCheck {
  return ({ metadata, authContext, peer }) => {
    const auth = authenticateCaller(metadata.get('authorization')[0], authContext, opts, opts.now());
    if (auth.kind !== 'refused') return undefined;
    opts.onRefused?.({ peer, code: auth.code, reason: auth.reason });
    return { code: grpc.status.UNAUTHENTICATED, details: 'authentication failed' };
  };
}

