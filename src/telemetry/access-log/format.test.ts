// Envoy's %DYNAMIC_METADATA(NAMESPACE:KEY*):Z% command operator (MetadataFormatter): the namespace's
// struct, or the value at a key path in it; a string as it is and anything else as JSON in a TEXT line,
// typed in a JSON line; `-` (null) where there is none; truncated to Z characters.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AccessLogFormatError, compileJsonFormat, compileTextFormat } from './format.ts';
import type { AccessLogRecord } from './record.ts';

const none = (): undefined => undefined;
function record(dynamicMetadata?: Map<string, Record<string, unknown>>): AccessLogRecord {
  return {
    startTime: 0, method: 'GET', path: '/', protocol: 'HTTP/1.1', responseCode: 200, responseFlags: '-', responseCodeDetails: '', bytesReceived: 0, bytesSent: 0, durationMs: 1,
    requestHeader: none, responseHeader: none, upstreamHost: '', upstreamCluster: '', upstreamLocalAddress: '', downstreamLocalAddress: '', downstreamRemoteAddress: '',
    requestedServerName: '', routeName: '', upstreamTransportFailureReason: '', connectionTerminationDetails: '',
    ...(dynamicMetadata ? { dynamicMetadata } : {}),
  };
}

const audited = new Map<string, Record<string, unknown>>([
  ['envoy.common', { access_log_hint: true }],
  ['envoy.filters.http.rbac', { istio_dry_run_allow_shadow_engine_result: 'denied', nested: { a: { b: 7 } } }],
]);

test('%DYNAMIC_METADATA%: the access-log hint, a string, a nested key, a whole namespace; `-` where absent', () => {
  const line = compileTextFormat(
    '%DYNAMIC_METADATA(envoy.common:access_log_hint)% %DYNAMIC_METADATA(envoy.filters.http.rbac:istio_dry_run_allow_shadow_engine_result)% %DYNAMIC_METADATA(envoy.filters.http.rbac:nested:a:b)% %DYNAMIC_METADATA(envoy.common)% %DYNAMIC_METADATA(envoy.common:nope)% %DYNAMIC_METADATA(other)%\n',
  );
  assert.equal(line(record(audited)), 'true denied 7 {"access_log_hint":true} - -\n');
  // No metadata at all (a stream no filter wrote to, a TCP connection without authorization filters).
  assert.equal(line(record()), '- - - - - -\n');
  // Z truncates the text of the value.
  assert.equal(compileTextFormat('%DYNAMIC_METADATA(envoy.common:access_log_hint):2% %DYNAMIC_METADATA(envoy.common):5%')(record(audited)), 'tr {"acc');
});

test('%DYNAMIC_METADATA% in a JSON line keeps the value\'s type; absent is null', () => {
  const json = compileJsonFormat({ audit: '%DYNAMIC_METADATA(envoy.common:access_log_hint)%', common: '%DYNAMIC_METADATA(envoy.common)%', missing: '%DYNAMIC_METADATA(x:y)%' });
  assert.deepEqual(JSON.parse(json(record(audited))), { audit: true, common: { access_log_hint: true }, missing: null });
  assert.deepEqual(JSON.parse(json(record())), { audit: null, common: null, missing: null });
});

test('%DYNAMIC_METADATA% without a namespace, or with an empty key, is refused when the config arrives', () => {
  for (const bad of ['%DYNAMIC_METADATA%', '%DYNAMIC_METADATA()%', '%DYNAMIC_METADATA(envoy.common:)%', '%DYNAMIC_METADATA(:a)%']) {
    assert.throws(() => compileTextFormat(bad), AccessLogFormatError, bad);
  }
});
