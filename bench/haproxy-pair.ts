// The C reference: two HAProxy processes (one thread each) with mutual TLS 1.3 between them and
// connection reuse, in HTTP mode (HTTP/1.1 and h2c in front), TCP mode, and h2 end to end for gRPC.
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { PairCerts } from './certs.ts';
import { core, type Started, startPinned, waitForPort } from './processes.ts';

/** Front ports of the client-side HAProxy, one per scenario kind. */
export interface PairPorts {
  http: number;
  tcp: number;
  h2: number;
  grpc: number;
}

export interface HaproxyPair {
  front: PairPorts;
  pids: number[];
  stop(): Promise<void>;
}

export interface HaproxyPairInput {
  dir: string;
  certs: PairCerts;
  /** Client-side front ports and server-side TLS ports. */
  front: PairPorts;
  back: PairPorts;
  origin: { http: number; grpc: number };
}

const globals = `global
  nbthread 1
  maxconn 4000
  ssl-default-bind-options ssl-min-ver TLSv1.3
  ssl-default-server-options ssl-min-ver TLSv1.3
defaults
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
  option http-keep-alive
`;

function clientConfig(i: HaproxyPairInput): string {
  const tls = `ssl crt ${i.certs.clientPem} ca-file ${i.certs.caFile} verify required verifyhost server sni str(server)`;
  return `${globals}
frontend http_in
  mode http
  bind 127.0.0.1:${i.front.http}
  default_backend http_out
backend http_out
  mode http
  server b 127.0.0.1:${i.back.http} ${tls}
frontend h2_in
  mode http
  bind 127.0.0.1:${i.front.h2} proto h2
  default_backend h2_out
backend h2_out
  mode http
  server b 127.0.0.1:${i.back.h2} ${tls} alpn h2
frontend grpc_in
  mode http
  bind 127.0.0.1:${i.front.grpc} proto h2
  default_backend grpc_out
backend grpc_out
  mode http
  server b 127.0.0.1:${i.back.grpc} ${tls} alpn h2
frontend tcp_in
  mode tcp
  bind 127.0.0.1:${i.front.tcp}
  default_backend tcp_out
backend tcp_out
  mode tcp
  server b 127.0.0.1:${i.back.tcp} ${tls}
`;
}

function serverConfig(i: HaproxyPairInput): string {
  const tls = `ssl crt ${i.certs.serverPem} ca-file ${i.certs.caFile} verify required`;
  return `${globals}
frontend http_tls
  mode http
  bind 127.0.0.1:${i.back.http} ${tls} alpn http/1.1
  default_backend origin
frontend h2_tls
  mode http
  bind 127.0.0.1:${i.back.h2} ${tls} alpn h2
  default_backend origin
frontend grpc_tls
  mode http
  bind 127.0.0.1:${i.back.grpc} ${tls} alpn h2
  default_backend grpc_origin
backend origin
  mode http
  server o 127.0.0.1:${i.origin.http}
backend grpc_origin
  mode http
  server g 127.0.0.1:${i.origin.grpc} proto h2
frontend tcp_tls
  mode tcp
  bind 127.0.0.1:${i.back.tcp} ${tls}
  default_backend tcp_origin
backend tcp_origin
  mode tcp
  server o 127.0.0.1:${i.origin.http}
`;
}

function start(dir: string, name: string, config: string): Started {
  const file = path.join(dir, `${name}.cfg`);
  writeFileSync(file, config);
  return startPinned(core('server'), 'haproxy', ['-db', '-f', file], path.join(dir, `${name}.log`));
}

export async function startHaproxyPair(i: HaproxyPairInput): Promise<HaproxyPair> {
  const server = start(i.dir, 'haproxy-server', serverConfig(i));
  const client = start(i.dir, 'haproxy-client', clientConfig(i));
  for (const p of Object.values(i.back)) await waitForPort(p, 15_000, server);
  for (const p of Object.values(i.front)) await waitForPort(p, 15_000, client);
  return {
    front: i.front,
    pids: [client.pid, server.pid],
    stop: async () => {
      await client.stop();
      await server.stop();
    },
  };
}
