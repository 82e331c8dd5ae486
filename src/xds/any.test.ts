import assert from 'node:assert/strict';
import { test } from 'node:test';
import { canonicalize, packAny, readTypedStruct, typedStruct, unpackAny, XdsCodecError } from './any.ts';
import { TypeUrl } from './type-urls.ts';

test('a listener with a nested HTTP connection manager round-trips through protobuf', () => {
  const listener = {
    name: '0.0.0.0_9898',
    address: { socket_address: { address: '0.0.0.0', port_value: 9898 } },
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': TypeUrl.HttpConnectionManager,
              stat_prefix: 'outbound_0.0.0.0_9898',
              rds: { route_config_name: '9898', config_source: { ads: {} } },
              http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': TypeUrl.Router } }],
            },
          },
        ],
      },
    ],
  };
  const back = canonicalize(TypeUrl.Listener, listener);
  assert.deepEqual(back, { '@type': TypeUrl.Listener, ...listener });
});

test('an Outrigger typed extension keeps its JSON payload', () => {
  const value = { a: 1, b: 'x', c: [true, { d: null }] };
  const wire = packAny(TypeUrl.TypedStruct, typedStruct('outrigger.dev/x', value));
  assert.deepEqual(readTypedStruct(unpackAny(wire), 'outrigger.dev/x'), value);
});

test('a field of the wrong type is refused with its path', () => {
  assert.throws(
    () => packAny(TypeUrl.Cluster, { name: 'c', connect_timeout: 'soon' }),
    (err: unknown) => err instanceof XdsCodecError && /connect_timeout/.test(err.message),
  );
});

test('enums travel by name, as in Envoy JSON', () => {
  const back = canonicalize(TypeUrl.Cluster, { name: 'c', lb_policy: 'LEAST_REQUEST' });
  assert.equal(back['lb_policy'], 'LEAST_REQUEST');
});

test('a Struct key named __proto__ stays an own key both ways, through protobuf too', () => {
  const value = JSON.parse('{"__proto__":{"x":1},"a":"b"}') as Record<string, unknown>;
  const back = readTypedStruct(unpackAny(packAny(TypeUrl.TypedStruct, typedStruct('outrigger.test', value))), 'outrigger.test');
  assert.deepEqual(Object.keys(back), ['__proto__', 'a']);
  assert.equal(Object.getPrototypeOf(back), Object.prototype);
  assert.deepEqual(Object.getOwnPropertyDescriptor(back, '__proto__')?.value, { x: 1 });
});
