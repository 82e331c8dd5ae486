// The protos loaded from their JSON cache are the protos parsed from source: same descriptors, same bytes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import type protobuf from 'protobufjs';
import { dropOtherKeys, parseProtoRoot, protoCacheFile, protoRoot, protoRootFromJson } from './protos.ts';

const parsed = parseProtoRoot();
const json = parsed.toJSON();
const fromJson = protoRootFromJson(JSON.parse(JSON.stringify(json)) as protobuf.INamespace);

/** The descriptor without enum value options (annotations such as `deprecated`), which protobufjs's fromJSON does not read back and no codec uses. */
function withoutEnumValueOptions(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutEnumValueOptions);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(Object.entries(value).flatMap(([k, v]) => (k === 'valuesOptions' ? [] : [[k, withoutEnumValueOptions(v)]])));
}

test('a root rebuilt from JSON describes the same types as the parsed sources', () => {
  assert.deepEqual(withoutEnumValueOptions(fromJson.toJSON()), withoutEnumValueOptions(json));
});

// Messages that exercise what the codecs meet: nested messages, enums, oneofs, maps, Durations, Structs,
// wrappers, repeated scalars (packed) and Any.
const samples: [string, Record<string, unknown>][] = [
  [
    'envoy.service.discovery.v3.DiscoveryRequest',
    {
      version_info: '3',
      node: { id: 'sidecar~10.0.0.1~a.b~b.svc.cluster.local', metadata: { fields: { NAMESPACE: { string_value: 'b' }, PORTS: { list_value: { values: [{ number_value: 80 }] } } } } },
      resource_names: ['x', 'y'],
      type_url: 'type.googleapis.com/envoy.config.cluster.v3.Cluster',
      error_detail: { code: 3, message: 'bad' },
    },
  ],
  [
    'envoy.config.cluster.v3.Cluster',
    {
      name: 'outbound|9898||podinfo.podinfo.svc.cluster.local',
      type: 'EDS',
      connect_timeout: { seconds: '10', nanos: 500 },
      lb_policy: 'LEAST_REQUEST',
      circuit_breakers: { thresholds: [{ max_connections: { value: 100 }, max_pending_requests: { value: 10 } }] },
      outlier_detection: { consecutive_5xx: { value: 5 }, base_ejection_time: { seconds: '30' } },
      metadata: { filter_metadata: { istio: { fields: { services: { list_value: { values: [{ string_value: 'a' }] } } } } } },
    },
  ],
  [
    'envoy.config.route.v3.RouteConfiguration',
    {
      name: '9898',
      virtual_hosts: [
        {
          name: 'podinfo',
          domains: ['podinfo', 'podinfo:9898'],
          routes: [
            {
              match: { prefix: '/', headers: [{ name: 'x-canary', string_match: { exact: 'true' } }] },
              route: { weighted_clusters: { clusters: [{ name: 'a', weight: { value: 90 } }, { name: 'b', weight: { value: 10 } }] }, retry_policy: { retry_on: '5xx', num_retries: { value: 3 }, retriable_status_codes: [502, 503] }, timeout: { seconds: '5' } },
            },
          ],
        },
      ],
    },
  ],
];

for (const [name, object] of samples) {
  test(`${name.slice(name.lastIndexOf('.') + 1)} encodes to the same bytes and decodes to the same object from either root`, () => {
    const a = parsed.lookupType(name);
    const b = fromJson.lookupType(name);
    const bytesA = a.encode(a.fromObject(object)).finish();
    const bytesB = b.encode(b.fromObject(object)).finish();
    assert.ok(bytesA.length > 0);
    assert.deepEqual(Buffer.from(bytesB), Buffer.from(bytesA));
    const options = { longs: String, enums: String, defaults: false, json: true } as const;
    assert.deepEqual(b.toObject(b.decode(bytesA), options), a.toObject(a.decode(bytesA), options));
  });
}

test('the shared root is the cached JSON once any process has parsed the sources', () => {
  const root = protoRoot();
  assert.ok(root.lookupType('envoy.config.listener.v3.Listener'));
  const file = protoCacheFile();
  // This process, or one before it, wrote the cache (the package directory is writable in tests).
  assert.ok(existsSync(file), file);
  assert.deepEqual(JSON.parse(readFileSync(file, 'utf8')), json);
});

test('writing a cache removes those under other keys, and nothing else in the directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-protos-'));
  try {
    for (const name of ['0123456789abcdef.json', 'fedcba9876543210.json', 'notes.txt', '.0123456789abcdef.json.tmp']) writeFileSync(path.join(dir, name), '{}');
    const kept = path.join(dir, 'aaaaaaaaaaaaaaaa.json');
    writeFileSync(kept, '{}');
    dropOtherKeys(kept);
    assert.deepEqual(readdirSync(dir).sort(), ['.0123456789abcdef.json.tmp', 'aaaaaaaaaaaaaaaa.json', 'notes.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("the parsed root does not depend on what the process loaded before: @grpc/proto-loader's bundled descriptor.proto", async () => {
  await import('@grpc/proto-loader');
  const descriptorProto = (root: ReturnType<typeof parseProtoRoot>) => Object.keys(root.lookupType('google.protobuf.DescriptorProto').fields);
  const after = parseProtoRoot();
  assert.ok(descriptorProto(after).includes('enum_type'), descriptorProto(after).join(', '));
  assert.deepEqual(after.toJSON(), json);
});
