// Netns mode's network layer with plain node servers standing in for the sidecar: pods in their own
// namespaces on a bridge, STRICT app ports closed to plaintext from outside the pod (under a STRICT
// workload, the ports nobody declared too), the tunnel port
// published on the pod address, mesh names resolved by the mesh DNS server and captured to the
// outbound listener, no IPv6 to go around the rules, loopback closed to a neighbour that routes
// 127.0.0.0/8 to a pod, and a teardown that leaves nothing behind.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { DnsServer } from '../../src/proxy/dns/dns-server.ts';
import { MeshNames } from '../../src/proxy/dns/mesh-names.ts';
import { serviceCidr } from '../../src/runtime/netns/addressing.ts';
import { applyPodFirewall } from '../../src/runtime/netns/pod-firewall.ts';
import { type PodHandle, PodNetwork, sweepMesh } from '../../src/runtime/netns/pod-network.ts';
import { httpGetScript, leftovers, netnsUnavailable, runInPod, startInPod } from './pod-processes.ts';

const skip = netnsUnavailable();

const appScript = (name: string) =>
  `require('node:http').createServer((q, s) => s.end('app ${name} from ' + q.socket.remoteAddress)).listen(9898, '0.0.0.0', () => console.log('ready'))`;
// Stands in for the sidecar's tunnel: loopback only, forwarding to the app over loopback.
const sidecarScript = `const net = require('node:net'); net.createServer((c) => { const u = net.connect(9898, '127.0.0.1'); c.pipe(u).pipe(c); u.on('error', () => c.destroy()); c.on('error', () => u.destroy()); }).listen(15008, '127.0.0.1', () => console.log('ready'))`;
// Stands in for the outbound listener: says which service the Host header named.
// An app's other listeners: metrics on 9090 (declared nowhere), and 7000 (a port-level PERMISSIVE).
const extraPortsScript = `const net = require('node:net'); let n = 0; for (const p of [9090, 7000]) net.createServer((s) => { s.on('error', () => {}); s.end('port ' + p); }).listen(p, '0.0.0.0', () => { if (++n === 2) console.log('ready'); })`;
const outboundScript = `require('node:http').createServer((q, s) => s.end('outbound ' + q.headers.host)).listen(15001, '127.0.0.1', () => console.log('ready'))`;
const connectScript = (host: string, port: number) =>
  `const s = require('node:net').connect(${port}, '${host}'); s.setTimeout(5000, () => { console.log(JSON.stringify({ error: 'TIMEOUT' })); process.exit(); }); s.on('connect', () => { console.log(JSON.stringify({ connected: true })); s.destroy(); }); s.on('error', (e) => console.log(JSON.stringify({ error: e.code })))`;

describe('netns pod network', { skip }, () => {
  let net: PodNetwork;
  let strict: PodHandle;
  let permissive: PodHandle;
  let client: PodHandle;
  let legacy: PodHandle;
  let permissiveAddress = '';
  let strictAddress = '';
  let dns: DnsServer | undefined;
  let stableAddress = '';
  const children: ChildProcess[] = [];

  before(async () => {
    net = await PodNetwork.create();
    strict = await net.addPod();
    permissive = await net.addPod();
    client = await net.addPod();
    legacy = await net.addPod();
    await applyPodFirewall(strict.netns, { podAddress: strict.address, strictPorts: [9898], strictOthers: true, openPorts: [7000], exposedPorts: [15008] });
    await applyPodFirewall(permissive.netns, { podAddress: permissive.address, strictPorts: [], exposedPorts: [15008] });
    await applyPodFirewall(client.netns, { podAddress: client.address, strictPorts: [], exposedPorts: [], serviceCidr: serviceCidr(net.addressing), outboundPort: 15001 });
    stableAddress = net.addresses.serviceAddress('podinfo-stable', 'podinfo');
    strictAddress = net.addresses.serviceAddress('strict', 'podinfo');
    permissiveAddress = net.addresses.serviceAddress('permissive', 'podinfo');
    // A pod without a sidecar: service addresses lead straight to the service's pods (kube-proxy style).
    await applyPodFirewall(legacy.netns, {
      podAddress: legacy.address,
      strictPorts: [],
      exposedPorts: [],
      serviceCidr: serviceCidr(net.addressing),
      serviceRoutes: [
        { serviceAddress: strictAddress, port: 9898, backends: [{ address: strict.address, port: 9898 }] },
        { serviceAddress: permissiveAddress, port: 80, backends: [{ address: permissive.address, port: 9898 }, { address: permissive.address, port: 9898 }] },
      ],
    });
    const names = new MeshNames([{ service: 'podinfo-stable', namespace: 'podinfo', address: stableAddress }]);
    net.writeResolvConf(client, names.searchList('podinfo'));
    dns = new DnsServer({ host: net.hostAddress, port: 53, names, clientNamespace: (a) => (a === client.address ? 'podinfo' : undefined) });
    await dns.listen();
    for (const [pod, name] of [
      [strict, 'strict'],
      [permissive, 'permissive'],
    ] as const) {
      children.push(await startInPod(pod.netns, appScript(name)), await startInPod(pod.netns, sidecarScript), await startInPod(pod.netns, extraPortsScript));
    }
    children.push(await startInPod(client.netns, outboundScript));
  });

  after(async () => {
    for (const c of children) c.kill('SIGKILL');
    await dns?.close();
    if (net) await sweepMesh(net.addressing.id);
  });

  it('refuses a plaintext client in another pod, and the host, on a STRICT app port', async () => {
    assert.deepEqual(await runInPod(client.netns, connectScript(strict.address, 9898)), { error: 'ECONNREFUSED' });
    assert.deepEqual(await runInPod(client.netns, httpGetScript(`http://${strict.address}:9898/`)), { error: 'ECONNREFUSED' });
    await assert.rejects(fetch(`http://${strict.address}:9898/`, { signal: AbortSignal.timeout(5000) }), (e: Error) => (e.cause as { code?: string }).code === 'ECONNREFUSED');
  });

  it('refuses plaintext on every undeclared port of a STRICT workload, from another pod and the host', async () => {
    assert.deepEqual(await runInPod(client.netns, connectScript(strict.address, 9090)), { error: 'ECONNREFUSED' });
    await assert.rejects(fetch(`http://${strict.address}:9090/`, { signal: AbortSignal.timeout(5000) }), (e: Error) => (e.cause as { code?: string }).code === 'ECONNREFUSED');
    // A port-level PERMISSIVE port stays open; a PERMISSIVE workload's undeclared port is left alone.
    assert.deepEqual(await runInPod(client.netns, connectScript(strict.address, 7000)), { connected: true });
    assert.deepEqual(await runInPod(client.netns, connectScript(permissive.address, 9090)), { connected: true });
  });

  it('a STRICT workload still reaches its own undeclared ports and gets replies to its own connections', async () => {
    assert.deepEqual(await runInPod(strict.netns, connectScript('127.0.0.1', 9090)), { connected: true });
    assert.deepEqual(await runInPod(strict.netns, connectScript(strict.address, 9090)), { connected: true });
    assert.deepEqual(await runInPod(strict.netns, httpGetScript(`http://${permissive.address}:9898/`)), { status: 200, body: `app permissive from ${strict.address}` });
  });

  it('lets the same client reach a PERMISSIVE app port directly', async () => {
    assert.deepEqual(await runInPod(client.netns, httpGetScript(`http://${permissive.address}:9898/`)), { status: 200, body: `app permissive from ${client.address}` });
  });

  it('reaches the STRICT app through the sidecar port published on the pod address, the app seeing loopback', async () => {
    assert.deepEqual(await runInPod(client.netns, httpGetScript(`http://${strict.address}:15008/`)), { status: 200, body: 'app strict from 127.0.0.1' });
  });

  it("the pod's own loopback still reaches its STRICT app (the sidecar's path)", async () => {
    assert.deepEqual(await runInPod(strict.netns, httpGetScript('http://127.0.0.1:9898/')), { status: 200, body: 'app strict from 127.0.0.1' });
  });

  it('gives a pod no IPv6 address, so nothing reaches its apps past the IPv4 rules', () => {
    const v6 = execFileSync('ip', ['-n', strict.netns, '-6', '-o', 'addr', 'show'], { encoding: 'utf8' });
    assert.equal(v6.trim(), '', `no IPv6 address in the pod: ${v6}`);
  });

  it("refuses a neighbour that routes loopback addresses to the pod: only the pod's DNATs may reach 127.0.0.0/8", async () => {
    // The client pod plays the attacker: it may route 127.0.0.2 out of eth0 to the PERMISSIVE pod, whose
    // eth0 has route_localnet for its published ports. The sidecar stand-in listens on 127.0.0.1:15008
    // and the app on 0.0.0.0, so 127.0.0.2:9898 would reach the app as if from inside the pod.
    const sh = (...args: string[]) => execFileSync('ip', ['netns', 'exec', client.netns, ...args]);
    sh('sysctl', '-qw', 'net.ipv4.conf.all.route_localnet=1', 'net.ipv4.conf.eth0.route_localnet=1');
    sh('ip', 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local');
    sh('ip', 'route', 'replace', 'local', '127.0.0.1/32', 'dev', 'lo', 'table', 'local');
    sh('ip', 'route', 'add', '127.0.0.2/32', 'via', permissive.address, 'dev', 'eth0');
    assert.deepEqual(await runInPod(client.netns, connectScript('127.0.0.2', 9898)), { error: 'ECONNREFUSED' });
    // The published tunnel port (DNATed by the pod's own rule) still answers.
    assert.deepEqual(await runInPod(client.netns, connectScript(permissive.address, 15008)), { connected: true });
  });

  it('resolves mesh names through the pod resolv.conf and captures them to the outbound listener', async () => {
    const lookup = `Promise.all(['podinfo-stable', 'podinfo-stable.podinfo', 'podinfo-stable.podinfo.svc.cluster.local'].map((n) => require('node:dns').promises.lookup(n, 4))).then((r) => console.log(JSON.stringify(r.map((x) => x.address))), (e) => console.log(JSON.stringify({ error: e.code })))`;
    assert.deepEqual(await runInPod(client.netns, lookup), [stableAddress, stableAddress, stableAddress]);
    assert.deepEqual(await runInPod(client.netns, httpGetScript('http://podinfo-stable.podinfo:9898/')), { status: 200, body: 'outbound podinfo-stable.podinfo:9898' });
    const missing = `require('node:dns').promises.lookup('nope.podinfo.svc.cluster.local', 4).then(() => console.log('{}'), (e) => console.log(JSON.stringify({ error: e.code })))`;
    assert.deepEqual(await runInPod(client.netns, missing), { error: 'ENOTFOUND' });
  });

  it('routes a pod without a sidecar from a service address to the pods, and refuses STRICT and unknown ports', async () => {
    assert.deepEqual(await runInPod(legacy.netns, httpGetScript(`http://${permissiveAddress}/`)), { status: 200, body: `app permissive from ${legacy.address}` });
    assert.deepEqual(await runInPod(legacy.netns, httpGetScript(`http://${strictAddress}:9898/`)), { error: 'ECONNREFUSED' });
    assert.deepEqual(await runInPod(legacy.netns, httpGetScript(`http://${permissiveAddress}:81/`)), { error: 'ECONNREFUSED' });
  });

  it('teardown removes every namespace, link, rule and resolv.conf', async () => {
    assert.ok(leftovers(net.addressing.id).length > 0, 'the mesh exists before teardown');
    for (const c of children) c.kill('SIGKILL');
    await dns?.close();
    dns = undefined;
    await net.teardown();
    assert.deepEqual(leftovers(net.addressing.id), []);
    assert.equal(existsSync(`/etc/netns/${client.netns}`), false);
  });
});

describe('netns pod network teardown while pods are made', { skip }, () => {
  it('waits for a pod half made, sweeps it too, and makes none after it began', async () => {
    const net = await PodNetwork.create();
    try {
      // `up` stopping while its pods start: the teardown must not list the namespaces before the pod
      // being made has its own, and nothing may be made once it began.
      const making = net.addPod();
      const torn = net.teardown();
      await assert.rejects(net.addPod(), /being torn down/);
      await Promise.allSettled([making, torn]);
      assert.deepEqual(leftovers(net.addressing.id), []);
    } finally {
      await sweepMesh(net.addressing.id);
    }
  });
});
