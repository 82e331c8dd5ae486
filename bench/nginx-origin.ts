// The origin behind every scenario: nginx with one worker (master_process off, so the pid we measure is
// the process that serves), a 1 KB `return 200`, keep-alive; one HTTP/1.1 port and one h2c port.
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { core, type Started, startPinned, waitForPort } from './processes.ts';

export const body1k = 'x'.repeat(1024);

export interface NginxOrigin extends Started {
  port: number;
  h2cPort: number;
}

export async function startNginx(dir: string, port: number, h2cPort: number): Promise<NginxOrigin> {
  const prefix = path.join(dir, 'nginx');
  mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
  const location = `location / { default_type text/plain; return 200 "${body1k}"; }`;
  const conf = `daemon off;
master_process off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server { listen 127.0.0.1:${port} backlog=4096; ${location} }
  server { listen 127.0.0.1:${h2cPort} http2 backlog=4096; http2_max_concurrent_streams 128; ${location} }
}
`;
  const confFile = path.join(prefix, 'nginx.conf');
  writeFileSync(confFile, conf);
  const p = startPinned(core('server'), 'nginx', ['-p', prefix, '-e', 'stderr', '-c', confFile], path.join(dir, 'nginx.log'));
  await waitForPort(port, 15_000, p);
  await waitForPort(h2cPort, 15_000, p);
  return { ...p, port, h2cPort };
}
