// A tracing provider's headers that node:http2 would refuse on every export (HTTP/2's
// connection-specific fields) are refused with the config, by name, instead of every batch failing
// silently; TE is allowed only as `trailers`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { telemetryConfig } from '../../../../test/telemetry/drive-filter.ts';
import type { TracingHeaderConfig } from '../../../telemetry/filter-config.ts';
import { FilterConfigError } from '../../http/filter.ts';
import { parseTelemetryConfig } from './config.ts';

const workload = { workload: 'web', namespace: 'shop', labels: { app: 'web' } };
const withHeaders = (headers: TracingHeaderConfig[]) =>
  telemetryConfig({ reporter: 'destination', workload, metrics: false, tracing: { sampling: 1, provider: { name: 'otel', kind: 'opentelemetry', protocol: 'grpc', service: 'otel.observability', port: 4317, headers } } });

test('connection-specific header names are refused with their place; TE only as trailers', () => {
  const headers: TracingHeaderConfig[] = [
    { name: 'Connection', value: 'keep-alive' },
    { name: 'keep-alive', value: 'timeout=5' },
    { name: 'Proxy-Connection', value: 'close' },
    { name: 'transfer-encoding', value: 'chunked' },
    { name: 'upgrade', value: 'h2c' },
    { name: 'te', value: 'gzip' },
    { name: 'te', env_name: 'TE' },
  ];
  let message = '';
  try {
    parseTelemetryConfig(withHeaders(headers));
  } catch (err) {
    assert.ok(err instanceof FilterConfigError);
    message = err.message;
  }
  for (let i = 0; i < headers.length; i++) {
    assert.ok(message.includes(`tracing.provider.headers.${i}.name: a connection-specific header (RFC 9113 §8.2.2)`), `header ${i} in: ${message}`);
  }
});

test('ordinary headers and TE: trailers are accepted', () => {
  const config = parseTelemetryConfig(
    withHeaders([
      { name: 'x-api-key', env_name: 'OTEL_KEY' },
      { name: 'authorization', value: 'Bearer t' },
      { name: 'te', value: 'trailers' },
    ]),
  );
  assert.equal(config.tracing?.provider?.headers?.length, 3);
});
