import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { goldenResources, protobufjsDecode, protobufjsEncode } from '../translate/golden.ts';
import { XdsCodecError } from './codec-error.ts';
import { encodeJson } from './json-to-proto.ts';
import { TypeUrl } from './type-urls.ts';

const fixtures = path.join(import.meta.dirname, '../../test/fixtures/translate');

test('every golden case encodes to the message protobufjs encodes, resource by resource', () => {
  const all = goldenResources(fixtures);
  // Every fixture folder contributes listeners, routes and clusters; a broken loader would compare nothing.
  assert.ok(all.length > 200, `${all.length} resources`);
  for (const { where, typeUrl, resource } of all) assert.deepEqual(protobufjsDecode(typeUrl, encodeJson(typeUrl, resource)), protobufjsDecode(typeUrl, protobufjsEncode(typeUrl, resource)), where);
});

test('nested Any, maps, packed repeated scalars, 64-bit integers and bytes encode as protobufjs does', () => {
  const cluster = {
    name: 'outbound|8080||a.ns.svc.cluster.local',
    connect_timeout: { seconds: 10, nanos: 5 },
    lb_policy: 'LEAST_REQUEST',
    metadata: { filter_metadata: { istio: { fields: { k: { stringValue: 'v' }, n: { numberValue: 1.5 }, l: { listValue: { values: [{ boolValue: true }] } } } } } },
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': { '@type': TypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } },
    },
    outlier_detection: { consecutive_5xx: { value: 5 }, base_ejection_time: { seconds: '30' } },
    common_lb_config: { healthy_panic_threshold: { value: 0 } },
  };
  assert.deepEqual(protobufjsDecode(TypeUrl.Cluster, encodeJson(TypeUrl.Cluster, cluster)), protobufjsDecode(TypeUrl.Cluster, protobufjsEncode(TypeUrl.Cluster, cluster)));
  const route = { name: 'r', virtual_hosts: [{ name: 'v', domains: ['a', 'b'], retry_policy: { retriable_status_codes: [502, 503, 504] }, routes: [] }] };
  const bytes = encodeJson(TypeUrl.RouteConfiguration, route);
  assert.deepEqual(protobufjsDecode(TypeUrl.RouteConfiguration, bytes), protobufjsDecode(TypeUrl.RouteConfiguration, protobufjsEncode(TypeUrl.RouteConfiguration, route)));
  const any = { name: 's', generic_secret: { secret: { inline_bytes: Buffer.from('key').toString('base64') } } };
  assert.deepEqual(protobufjsDecode(TypeUrl.Secret, encodeJson(TypeUrl.Secret, any)), protobufjsDecode(TypeUrl.Secret, protobufjsEncode(TypeUrl.Secret, any)));
});

test('every scalar type, at its edges, packed and not, gives the bytes protobufjs gives', () => {
  // protoc-gen-validate's rule messages carry one field of each scalar type (\`const\`) and a packed list (\`in\`).
  const cases: [string, unknown, unknown[]][] = [
    ['Int32Rules', -5, [-1, 0, 2147483647, -2147483648]],
    ['UInt32Rules', 4294967295, [0, 128, 16384]],
    ['SInt32Rules', -1, [-2147483648, 2147483647, 0]],
    ['Int64Rules', '-9007199254740993', [-1, 0, '9223372036854775807']],
    ['UInt64Rules', '18446744073709551615', [0, 1, '9007199254740993']],
    ['SInt64Rules', '-9223372036854775808', [-1, 1, 300]],
    ['Fixed32Rules', 4294967295, [0, 1]],
    ['Fixed64Rules', '18446744073709551615', [0, 1]],
    ['SFixed32Rules', -2147483648, [-1, 1]],
    ['SFixed64Rules', '-9223372036854775808', [-1, 1]],
    ['FloatRules', 1.5, [-0.25, 3.4e38]],
    ['DoubleRules', -1e300, [0.1, -2.5]],
  ];
  for (const [name, constant, list] of cases) {
    const typeUrl = `type.googleapis.com/validate.${name}`;
    const value = { const: constant, in: list };
    assert.deepEqual(Buffer.from(encodeJson(typeUrl, value)), Buffer.from(protobufjsEncode(typeUrl, value)), name);
  }
  const enums = { name: 'r', virtual_hosts: [{ name: 'v', require_tls: 'ALL', routes: [{ match: { prefix: '/' }, direct_response: { status: 200 } }] }] };
  // Fields go in the object's key order, not by number as protobufjs writes them: the same message.
  assert.deepEqual(protobufjsDecode(TypeUrl.RouteConfiguration, encodeJson(TypeUrl.RouteConfiguration, enums)), protobufjsDecode(TypeUrl.RouteConfiguration, protobufjsEncode(TypeUrl.RouteConfiguration, enums)));
});

/** The XdsCodecError `encodeJson` throws for `resource`, for assertions on its message. */
function refusal(typeUrl: string, resource: object): string {
  try {
    encodeJson(typeUrl, resource);
  } catch (err) {
    assert.ok(err instanceof XdsCodecError, `expected XdsCodecError, got ${String(err)}`);
    return err.message;
  }
  return assert.fail('encoded without an error');
}

test('what protobufjs would drop or coerce is refused, naming the path', () => {
  // A misspelt field, deep inside a nested Any.
  assert.match(
    refusal(TypeUrl.Listener, { name: 'l', filter_chains: [{ filters: [{ name: 'hcm', typed_config: { '@type': TypeUrl.HttpConnectionManager, stat_prefx: 'x' } }] }] }),
    /Listener: filter_chains\[0\]\.filters\[0\]\.typed_config\.stat_prefx: no such field in envoy\.extensions\.filters\.network\.http_connection_manager\.v3\.HttpConnectionManager/,
  );
  assert.match(refusal(TypeUrl.Cluster, { name: 'c', lb_policy: 'FASTEST' }), /lb_policy: "FASTEST" is not a value of enum LbPolicy/);
  assert.match(refusal(TypeUrl.Cluster, { name: 'c', connect_timeout: 'soon' }), /connect_timeout: object expected, got string/);
  assert.match(refusal(TypeUrl.Cluster, { name: 7 }), /Cluster: name: string expected, got number/);
  assert.match(refusal(TypeUrl.RouteConfiguration, { name: 'r', virtual_hosts: [{ name: 'v', retry_policy: { retriable_status_codes: [502, 'x'] } }] }), /virtual_hosts\[0\]\.retry_policy\.retriable_status_codes\[1\]: number expected, got string/);
  assert.match(refusal(TypeUrl.Cluster, { name: 'c', type: 'STATIC', cluster_type: { name: 'x' } }), /cluster_type: a second member of the same oneof is set/);
  assert.match(refusal(TypeUrl.Listener, { name: 'l', filter_chains: [{ filters: [{ name: 'x', typed_config: { '@type': 'type.googleapis.com/no.Such' } }] }] }), /typed_config: @type type\.googleapis\.com\/no\.Such names no known message type/);
  assert.match(refusal(TypeUrl.RouteConfiguration, { name: 'r', virtual_hosts: {} }), /virtual_hosts: array expected/);
  assert.match(refusal(TypeUrl.Cluster, { name: 'c', outlier_detection: { base_ejection_time: { seconds: 1.5 } } }), /seconds: integer expected/);
});

test('fields set to null or undefined are absent, as in protobufjs', () => {
  const r = { name: 'c', lb_policy: undefined, connect_timeout: null };
  assert.deepEqual(protobufjsDecode(TypeUrl.Cluster, encodeJson(TypeUrl.Cluster, r)), { name: 'c' });
});
