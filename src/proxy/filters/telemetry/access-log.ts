// The access-log half of istio.stats: one log (Envoy's AccessLog: its CEL filter, compiled format and
// destination), and the record of one finished stream or closed TCP connection.
import { type CelExpression, compileCel } from '../../../telemetry/cel/compile.ts';
import type { AccessLogConfig } from '../../../telemetry/filter-config.ts';
import { compileJsonFormat, compileTextFormat, ISTIO_DEFAULT_JSON_FORMAT, ISTIO_DEFAULT_TEXT_FORMAT } from '../../../telemetry/access-log/format.ts';
import type { AccessLogRecord } from '../../../telemetry/access-log/record.ts';
import type { AccessLogSink } from '../../../telemetry/access-log/sink.ts';
import type { ResponseHead, StreamOutcome } from '../../http/filter.ts';
import type { ConnectionInfo, DownstreamRequest, StreamInfo } from '../../http/stream.ts';
import type { TcpUpstreamOutcome } from '../network-stats.ts';
import { routedCluster } from './edges.ts';
import { header } from './tracer.ts';

export class AccessLogger {
  /** Telemetry `accessLogging[].filter`: the log takes only the streams it holds true for. */
  readonly filter: CelExpression | undefined;
  #format: (r: AccessLogRecord) => string;
  #sink: AccessLogSink;

  constructor(config: AccessLogConfig, sink: AccessLogSink) {
    this.filter = config.filter ? compileCel(config.filter) : undefined;
    this.#format =
      config.encoding === 'JSON'
        ? compileJsonFormat(config.json_format ?? ISTIO_DEFAULT_JSON_FORMAT)
        : compileTextFormat(config.format ? (config.format.endsWith('\n') ? config.format : `${config.format}\n`) : ISTIO_DEFAULT_TEXT_FORMAT);
    this.#sink = sink;
  }

  log(request: DownstreamRequest, info: StreamInfo, outcome: StreamOutcome, response: ResponseHead | undefined, flags: string): void {
    const c = request.connection;
    this.#sink.write(
      this.#format({
        startTime: info.startTime,
        method: request.method,
        path: request.query ? `${request.path}?${request.query}` : request.path,
        protocol: request.protocol,
        responseCode: outcome.status,
        responseFlags: flags,
        responseCodeDetails: info.responseCodeDetails ?? (outcome.status ? 'via_upstream' : ''),
        connectionTerminationDetails: '',
        upstreamTransportFailureReason: info.upstreamTransportFailureReason ?? '',
        bytesReceived: outcome.requestBytes,
        bytesSent: outcome.responseBytes,
        durationMs: outcome.durationMs,
        attemptCount: info.attemptCount ?? 0,
        // %REQ(:AUTHORITY)% is the header as the client sent it (Envoy lower-cases only a copy, to pick the virtual host).
        requestHeader: (n) => (n === ':authority' ? request.sentAuthority : header(request.headers, n)),
        responseHeader: (n) => (response ? header(response.headers, n) : undefined),
        upstreamHost: info.upstreamHost ?? '',
        // Envoy's %UPSTREAM_CLUSTER% reads the stream's cluster info: none for a cluster the proxy lacks (NC).
        upstreamCluster: routedCluster(info) ?? '',
        upstreamLocalAddress: '',
        downstreamLocalAddress: `${c.localAddress}:${c.localPort}`,
        downstreamRemoteAddress: `${c.remoteAddress}:${c.remotePort}`,
        requestedServerName: c.sni ?? '',
        routeName: info.routeName ?? '',
        // The stream's own map (RBAC's envoy.common access_log_hint, shadow results), read only by %DYNAMIC_METADATA%.
        dynamicMetadata: info.dynamicMetadata,
      }),
    );
  }

  /**
   * One closed TCP connection: tcp_proxy's fields, the HTTP ones `-` and the response code 0, as Envoy
   * logs it; a refused one with its authorization filter's details.
   */
  logTcp(c: ConnectionInfo, startTime: number, durationMs: number, upstream: TcpUpstreamOutcome | undefined, bytesReceived: number, bytesSent: number): void {
    this.#sink.write(
      this.#format({
        startTime,
        method: '',
        path: '',
        protocol: '',
        responseCode: 0,
        responseFlags: upstream ? logFlags(upstream) : '-',
        responseCodeDetails: upstream?.responseCodeDetails ?? '',
        connectionTerminationDetails: upstream?.connectionTerminationDetails ?? '',
        upstreamTransportFailureReason: upstream?.upstreamTransportFailureReason ?? '',
        bytesReceived,
        bytesSent,
        durationMs,
        // tcp_proxy's connect attempts: one per connection that dialled an endpoint (no connect retries here).
        attemptCount: upstream?.upstreamHost ? 1 : 0,
        requestHeader: noHeader,
        responseHeader: noHeader,
        upstreamHost: upstream?.upstreamHost ?? '',
        upstreamCluster: upstream?.clusterName ?? '',
        upstreamLocalAddress: '',
        downstreamLocalAddress: `${c.localAddress}:${c.localPort}`,
        downstreamRemoteAddress: `${c.remoteAddress}:${c.remotePort}`,
        requestedServerName: c.sni ?? '',
        routeName: '',
        // The connection's: what network RBAC (an AUDIT policy's access_log_hint) and ext_authz wrote.
        dynamicMetadata: upstream?.dynamicMetadata,
      }),
    );
  }
}

const noHeader = (): undefined => undefined;

/** The connection's flags when the log is written: those set after its close too (Envoy logs last). */
export function logFlags(o: TcpUpstreamOutcome): string {
  if (o.flagsAfterClose === undefined) return o.flags;
  return o.flags === '-' ? o.flagsAfterClose : `${o.flags},${o.flagsAfterClose}`;
}
