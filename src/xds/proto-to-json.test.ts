import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import protobuf from 'protobufjs';
import { goldenResources, protobufjsDecode } from '../translate/golden.ts';
import { XdsCodecError } from './codec-error.ts';
import { encodeJson } from './json-to-proto.ts';
import { decodeJson } from './proto-to-json.ts';
import { messageType } from './protos.ts';
import { TypeUrl } from './type-urls.ts';

const fixtures = path.join(import.meta.dirname, '../../test/fixtures/translate');

test('every golden resource decodes to what protobufjs decode and toObject give', () => {
  const all = goldenResources(fixtures);
  assert.ok(all.length > 200, `${all.length} resources`);
  for (const { where, typeUrl, resource } of all) {
    const bytes = encodeJson(typeUrl, resource);
    assert.deepEqual(decodeJson(typeUrl, bytes), protobufjsDecode(typeUrl, bytes), where);
  }
});

test('packed and unpacked repeated numbers, 64-bit integers, enums, maps, bytes and non-finite floats decode as protobufjs does', () => {
  const cluster = {
    name: 'c',
    connect_timeout: { seconds: '9007199254740993', nanos: 5 },
    lb_policy: 'LEAST_REQUEST',
    metadata: { filter_metadata: { istio: { fields: { inf: { numberValue: Number.POSITIVE_INFINITY }, l: { listValue: { values: [{ boolValue: true }, { nullValue: 0 }] } } } } } },
    typed_extension_protocol_options: { x: { '@type': TypeUrl.HttpProtocolOptions, explicit_http_config: { http2_protocol_options: {} } } },
  };
  const bytes = encodeJson(TypeUrl.Cluster, cluster);
  assert.deepEqual(decodeJson(TypeUrl.Cluster, bytes), protobufjsDecode(TypeUrl.Cluster, bytes));
  const route = { name: 'r', virtual_hosts: [{ name: 'v', retry_policy: { retriable_status_codes: [502, 503] } }] };
  const packed = encodeJson(TypeUrl.RouteConfiguration, route);
  assert.deepEqual(decodeJson(TypeUrl.RouteConfiguration, packed), protobufjsDecode(TypeUrl.RouteConfiguration, packed));
  // The same numbers unpacked, one tag each, as another encoder may write them.
  const retryPolicy = 'type.googleapis.com/envoy.config.route.v3.RetryPolicy';
  const id = messageType(retryPolicy).fields['retriable_status_codes']?.id as number;
  const w = protobuf.Writer.create();
  for (const code of [502, 503]) w.uint32((id << 3) | 0).uint32(code);
  const unpacked = w.finish();
  assert.deepEqual(decodeJson(retryPolicy, unpacked), { retriable_status_codes: [502, 503] });
  assert.deepEqual(decodeJson(retryPolicy, unpacked), protobufjsDecode(retryPolicy, unpacked));
  const secret = { name: 's', generic_secret: { secret: { inline_bytes: Buffer.from('key').toString('base64') } } };
  const s = encodeJson(TypeUrl.Secret, secret);
  assert.deepEqual(decodeJson(TypeUrl.Secret, s), protobufjsDecode(TypeUrl.Secret, s));
});

test('an Any of an unknown type stays raw; unknown fields are skipped', () => {
  const type = messageType(TypeUrl.Listener);
  const raw = type.encode(type.fromObject({ name: 'l', filter_chains: [{ filters: [{ name: 'x', typed_config: { type_url: 'type.googleapis.com/no.Such', value: Buffer.from([8, 1]) } }] }] })).finish();
  const back = decodeJson(TypeUrl.Listener, raw) as { filter_chains: { filters: { typed_config: unknown }[] }[] };
  assert.deepEqual(back.filter_chains[0]?.filters[0]?.typed_config, { type_url: 'type.googleapis.com/no.Such', value: Buffer.from([8, 1]) });
  // Field 999 (varint) appended to a Cluster: not in the proto, so skipped.
  const withUnknown = Buffer.concat([encodeJson(TypeUrl.Cluster, { name: 'c' }), Buffer.from([0xb8, 0x3e, 0x01])]);
  assert.deepEqual(decodeJson(TypeUrl.Cluster, withUnknown), { name: 'c' });
});

test('truncated bytes and runaway nesting are refused, not a crash', () => {
  const bytes = encodeJson(TypeUrl.Cluster, { name: 'c', connect_timeout: { seconds: 1, nanos: 2 } });
  assert.throws(() => decodeJson(TypeUrl.Cluster, bytes.subarray(0, bytes.length - 1)), XdsCodecError);
  // A Struct nested 200 deep: ListValue → Value → ListValue ...
  let v: unknown = { nullValue: 0 };
  for (let i = 0; i < 200; i++) v = { listValue: { values: [v] } };
  const deep = encodeJson(TypeUrl.Cluster, { name: 'c', metadata: { filter_metadata: { x: { fields: { v } } } } });
  assert.throws(() => decodeJson(TypeUrl.Cluster, deep), /nesting deeper than 100/);
});
