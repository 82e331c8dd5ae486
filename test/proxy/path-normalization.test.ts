// meshConfig.pathNormalization reaches the proxy through the HCM fields translation sets; each listener
// normalises with its own mode, and the upstream sees the same path that was routed and authorised.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { cla, cluster, echoBackend, hcm, listener, push, request, routeConfig, startProxy } from './harness.ts';

let env: Awaited<ReturnType<typeof startProxy>>;
let backend: Awaited<ReturnType<typeof echoBackend>>;

before(async () => {
  backend = await echoBackend();
  env = await startProxy();
  push(env.proxy, [
    cluster('outbound|80||echo'),
    cla('outbound|80||echo', [{ port: backend.port }]),
    listener('base', 8081, [{ filter: hcm('r', { normalize_path: { value: true } }) }]),
    listener('merge', 8082, [{ filter: hcm('r', { normalize_path: { value: true }, merge_slashes: true }) }]),
    listener('decode', 8083, [{ filter: hcm('r', { normalize_path: { value: true }, merge_slashes: true, path_with_escaped_slashes_action: 'UNESCAPE_AND_FORWARD' }) }]),
    listener('none', 8084, [{ filter: hcm('r', { normalize_path: { value: false } }) }]),
    routeConfig('r', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'outbound|80||echo' }] }]),
  ]);
});

after(async () => {
  await env.close();
  backend.server.close();
});

async function seenPath(listenerName: string, path: string): Promise<string> {
  const res = await request(await env.port(listenerName), path, { host: 'echo' });
  assert.equal(res.status, 200, res.body);
  return (JSON.parse(res.body) as { url: string }).url;
}

test('each HCM normalises the path with its own mode', async () => {
  assert.equal(await seenPath('base', '/a//b/../c'), '/a//c');
  assert.equal(await seenPath('merge', '/a//b/../c'), '/a/c');
  assert.equal(await seenPath('decode', '/a%2Fb//c'), '/a/b/c');
  assert.equal(await seenPath('merge', '/a%2Fb//c'), '/a%2Fb/c');
  assert.equal(await seenPath('none', '/a//b/../c'), '/a//b/../c');
});
