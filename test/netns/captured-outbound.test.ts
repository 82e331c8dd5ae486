// Captured outbound traffic, as netns mode sends it: the pod's real iptables rules (pod-firewall.ts)
// REDIRECT service addresses to a real sidecar's virtualOutbound, which reads each connection's
// SO_ORIGINAL_DST and matches its chains by original port and address, after the inspectors. Raw TCP
// to two services sharing a port reaches each; HTTP is routed by the port it was sent to; an
// undeclared port is sniffed; the sidecar's own passthrough (gid 1337) is not captured again, so a
// service address without that port is refused instead of looping; a direct client still gets the
// forward proxy.
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildPodRules, proxyGid } from '../../src/runtime/netns/pod-firewall.ts';
import { netnsUnavailable, runInPod, tcpEchoScript } from './pod-processes.ts';

const skip = netnsUnavailable();
const netns = `or-cap-${process.pid}`;
const fixture = path.join(import.meta.dirname, 'fixtures/captured-proxy.ts');

/** A client script: one HTTP/1.1 GET with a Host header of our choosing (and optionally an absolute-form target). */
function httpScript(host: string, port: number, target: string, hostHeader: string): string {
  return `const req = require('node:http').request({ host: ${JSON.stringify(host)}, port: ${port}, path: ${JSON.stringify(target)}, headers: { host: ${JSON.stringify(hostHeader)} } }, (res) => {
  let body = ''; res.on('data', (c) => { body += c; }); res.on('end', () => console.log(JSON.stringify({ status: res.statusCode, body })));
}); req.on('error', (e) => console.log(JSON.stringify({ error: e.code }))); req.end();`;
}

describe('captured outbound traffic in a pod', { skip }, () => {
  let child: ChildProcess | undefined;
  let port = 0;

  before(async () => {
    execFileSync('ip', ['netns', 'add', netns]);
    execFileSync('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    // The pod's own address, and a route for service addresses from it (a pod's default route).
    execFileSync('ip', ['-n', netns, 'addr', 'add', '10.1.0.2/32', 'dev', 'lo']);
    execFileSync('ip', ['-n', netns, 'route', 'add', '10.96.0.0/16', 'dev', 'lo', 'src', '10.1.0.2']);
    child = spawn('ip', ['netns', 'exec', netns, process.execPath, fixture], { gid: proxyGid, stdio: ['ignore', 'pipe', 'inherit'] });
    port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child?.stdout?.on('data', (c: Buffer) => {
        out += c.toString();
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (line) resolve((JSON.parse(line) as { port: number }).port);
      });
      child?.once('exit', (code) => reject(new Error(`captured proxy exited with ${code}`)));
    });
    const rules = buildPodRules({ podAddress: '10.1.0.2', strictPorts: [], exposedPorts: [], serviceCidr: '10.96.0.0/16', outboundPort: port });
    execFileSync('ip', ['netns', 'exec', netns, 'iptables-restore', '--noflush'], { input: rules });
  });

  after(() => {
    child?.kill('SIGTERM');
    execFileSync('ip', ['netns', 'delete', netns]);
  });

  it('takes raw TCP to each of two services on one port by its original address', async () => {
    assert.deepEqual(await runInPod(netns, tcpEchoScript('10.96.0.10', 7000, 'ping')), { data: 'orders:ping' });
    assert.deepEqual(await runInPod(netns, tcpEchoScript('10.96.0.11', 7000, 'ping')), { data: 'billing:ping' });
  });

  it('routes HTTP by the port it was sent to, not a port guessed from the Host header', async () => {
    const r = await runInPod<{ status: number; body: string }>(netns, httpScript('10.96.0.20', 8080, '/x', 'web'));
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.deepEqual(JSON.parse(r.body), { backend: 'web', host: 'web', path: '/x' });
  });

  it('sniffs an undeclared port: HTTP to its HTTP chain, anything else to the TCP chain', async () => {
    const r = await runInPod<{ status: number; body: string }>(netns, httpScript('10.96.0.30', 9000, '/y', 'sniffed'));
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal((JSON.parse(r.body) as { path: string }).path, '/y');
    assert.deepEqual(await runInPod(netns, tcpEchoScript('10.96.0.30', 9000, 'hello\n')), { data: 'raw:hello\n' });
  });

  it('refuses a service address without that port: the passthrough is not captured a second time', async () => {
    const r = await runInPod<{ data?: string; error?: string; closed?: boolean; timeout?: boolean }>(netns, tcpEchoScript('10.96.0.99', 5555, 'ping\n'));
    assert.ok(r.error === 'ECONNRESET' || (r.closed && r.data === ''), `the connection should be closed at once, got ${JSON.stringify(r)}`);
    // The sidecar is still there and still serving.
    assert.deepEqual(await runInPod(netns, tcpEchoScript('10.96.0.10', 7000, 'again')), { data: 'orders:again' });
  });

  it('still serves a client that talks to 15001 directly as a forward proxy', async () => {
    const r = await runInPod<{ status: number; body: string }>(netns, httpScript('127.0.0.1', port, 'http://web:8080/z', 'web:8080'));
    assert.equal(r.status, 200, JSON.stringify(r));
    assert.equal((JSON.parse(r.body) as { path: string }).path, '/z');
  });
});
