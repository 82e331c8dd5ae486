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
    startTime: 0, method: 'GET', path: '/', protocol: 'HTTP/1.1', responseCode: 200, responseFlags: '-', responseCodeDetails: '', bytesReceived: 0, bytesSent: 0, durationMs: 1, attemptCount: 0,
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

// Envoy's substitution formatter (source/common/formatter) and DateFormatter (source/common/common/utility.cc).
test("Istio's default TEXT format's %UPSTREAM_CLUSTER_RAW% and the docs' %UPSTREAM_REQUEST_ATTEMPT_COUNT% compile and render", () => {
  const line = compileTextFormat('%UPSTREAM_CLUSTER_RAW% %UPSTREAM_CLUSTER% %UPSTREAM_REQUEST_ATTEMPT_COUNT%\n');
  assert.equal(line({ ...record(), upstreamCluster: 'outbound|80||a.b.svc.cluster.local', attemptCount: 3 }), 'outbound|80||a.b.svc.cluster.local outbound|80||a.b.svc.cluster.local 3\n');
  assert.equal(line(record()), '- - 0\n');
});

test('%DURATION% is whole milliseconds, truncated (duration_cast<milliseconds>): 1.7 ms is 1', () => {
  assert.equal(compileTextFormat('%DURATION%')({ ...record(), durationMs: 1.7 }), '1');
});

test('%START_TIME(format)%: strftime in UTC, %s epoch seconds, %f / %Nf the fraction truncated, absl %E#S, %E*S and %Ez', () => {
  const at = { ...record(), startTime: Date.UTC(2024, 4, 2, 9, 3, 7, 456) };
  const fmt = (f: string) => compileTextFormat(`%START_TIME(${f})%`)(at);
  assert.equal(fmt('%s'), String(Date.UTC(2024, 4, 2, 9, 3, 7) / 1000));
  assert.equal(fmt('%Y/%m/%dT%H:%M:%S%z'), '2024/05/02T09:03:07+0000');
  assert.equal(fmt('%s.%3f|%1f|%f|%6f'), `${Date.UTC(2024, 4, 2, 9, 3, 7) / 1000}.456|4|456000000|456000`);
  assert.equal(fmt('%Y-%m-%dT%H:%M:%E3SZ'), '2024-05-02T09:03:07.456Z');
  assert.equal(fmt('%E*S %E0S %Ez'), '07.456 07 +00:00');
  assert.equal(fmt('%a %A %b %B %e %j %I%p %F %T %D %y %u %w %%'), 'Thu Thursday May May  2 123 09AM 2024-05-02 09:03:07 05/02/24 24 4 4 %');
  // Rendered per second, the fraction per line: the next millisecond of the same second.
  assert.equal(compileTextFormat('%START_TIME(%T.%3f)%')({ ...at, startTime: at.startTime + 1 }), '09:03:07.457');
  for (const bad of ['%Q', '%E5Q']) assert.throws(() => compileTextFormat(`%START_TIME(${bad})%`), AccessLogFormatError, bad);
});

// absl::FormatTime hands these to strftime (C locale); the values are glibc's `date -u` for the same instants.
test('%START_TIME(format)%: week numbers (%U %W %V), the ISO year (%G %g), space-padded hours (%k %l), %x and %X', () => {
  const fmt = (f: string, ms: number) => compileTextFormat(`%START_TIME(${f})%`)({ ...record(), startTime: ms });
  const spec = '%U %W %V %G %g %k|%l|%x %X';
  assert.equal(fmt(spec, Date.UTC(2024, 4, 2, 9, 3, 7)), '17 18 18 2024 24  9| 9|05/02/24 09:03:07');
  // A Friday the 1st of January: week 00 on both counts, ISO week 53 of the year before.
  assert.equal(fmt(spec, Date.UTC(2021, 0, 1, 21, 5, 0)), '00 00 53 2020 20 21| 9|01/01/21 21:05:00');
});

test('a json_format value mixing commands and text is a format string; a lone command keeps its type', () => {
  const json = compileJsonFormat({ req: '%REQ(:METHOD)% %REQ(:PATH)%', missing: 'at %UPSTREAM_HOST%', code: '%RESPONSE_CODE%', tag: 'fixed' });
  assert.deepEqual(JSON.parse(json(record())), { req: 'GET /', missing: 'at -', code: 200, tag: 'fixed' });
});
