// Bytes fields in config dumps print as protobuf's JSON mapping (and Envoy's config_dump) prints them:
// a base64 string, not Node's `{"type":"Buffer","data":[...]}`. The proxy's admin /config_dump,
// `proxy-config -o json` over it, and proxy-status's comparison with the control plane's dump (which
// holds the translator's base64 string) all agree.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type ConfigDump, compareConfigDumps } from '../../src/cli/config-compare.ts';
import { renderProxyConfig } from '../../src/cli/proxy-config.ts';
import { canonicalize, type TypedAny } from '../../src/xds/any.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { hcm, listener, push, request, startProxy } from './harness.ts';

// Not UTF-8, so no string form could stand in for it: 00 ff 01 'ok'.
const body = Buffer.from([0x00, 0xff, 0x01, 0x6f, 0x6b]);
const b64 = body.toString('base64');

function routes(inline: string): TypedAny {
  return {
    '@type': TypeUrl.RouteConfiguration,
    name: '80',
    virtual_hosts: [{ name: 'web', domains: ['*'], routes: [{ name: 'bin', match: { prefix: '/' }, direct_response: { status: 200, body: { inline_bytes: inline } } }] }],
  };
}

let env: Awaited<ReturnType<typeof startProxy>>;
const lds = listener('0.0.0.0_80', 80, [{ filter: hcm('80') }]);

before(async () => {
  env = await startProxy();
  // As the ADS client hands them over: decoded off the wire, bytes as Buffers.
  push(env.proxy, [lds, canonicalize(TypeUrl.RouteConfiguration, routes(b64))]);
});

after(() => env.close());

async function adminDump(): Promise<{ text: string; dump: ConfigDump }> {
  const text = await (await fetch(`http://127.0.0.1:${env.admin}/config_dump`)).text();
  return { text, dump: JSON.parse(text) as ConfigDump };
}

/** What the control plane dumps for route configuration `rc`: the translator's objects as they are. */
function controlPlane(rc: TypedAny): ConfigDump {
  const admin = 'type.googleapis.com/envoy.admin.v3.';
  return {
    configs: [
      { '@type': `${admin}ClustersConfigDump`, dynamic_active_clusters: [] },
      { '@type': `${admin}ListenersConfigDump`, dynamic_listeners: [{ name: lds['name'], active_state: { listener: lds } }] },
      { '@type': `${admin}RoutesConfigDump`, dynamic_route_configs: [{ route_config: rc }] },
    ],
  };
}

test('admin /config_dump and proxy-config -o json print bytes as base64, as Envoy does', async () => {
  // The proxy runs the bytes it was sent.
  const r = await request(await env.port('0.0.0.0_80'), '/');
  assert.equal(r.status, 200);
  const { text, dump } = await adminDump();
  assert.doesNotMatch(text, /"Buffer"/);
  const rc = dump.configs.find((c) => String(c['@type']).endsWith('.RoutesConfigDump')) as { dynamic_route_configs: { route_config: { virtual_hosts: { routes: { direct_response: unknown }[] }[] } }[] };
  assert.deepEqual(rc.dynamic_route_configs[0]?.route_config.virtual_hosts[0]?.routes[0]?.direct_response, { status: 200, body: { inline_bytes: b64 } });
  const json = renderProxyConfig('route', dump, { output: 'json' });
  assert.doesNotMatch(json, /"Buffer"/);
  assert.match(json, new RegExp(`"inline_bytes": "${b64.replace(/[+/]/g, '\\$&')}"`));
});

test("proxy-status: the proxy's base64 bytes match the control plane's; different bytes show as base64 in the diff", async () => {
  const { dump } = await adminDump();
  assert.deepEqual(
    compareConfigDumps(controlPlane(routes(b64)), dump).map((t) => [t.type, t.match, t.diff]),
    [
      ['Clusters', true, ''],
      ['Listeners', true, ''],
      ['Routes', true, ''],
    ],
  );
  const other = Buffer.from('other').toString('base64');
  const [, , route] = compareConfigDumps(controlPlane(routes(other)), dump);
  assert.equal(route?.match, false);
  assert.match(route?.diff ?? '', new RegExp(`^-\\s+"inline_bytes": "${other}"$`, 'm'));
  assert.match(route?.diff ?? '', new RegExp(`^\\+\\s+"inline_bytes": "${b64.replace(/[+/]/g, '\\$&')}"$`, 'm'));
});
