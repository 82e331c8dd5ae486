// `up --ephemeral-ports`, then an edit of the Gateway: a server port the edit adds is bound by the gateway
// on a free host port, not the declared one, announced in up's progress output and named in `outrigger
// status`; switched to HTTPS, it keeps that host port; removing the server closes that port and says so.
// A real `up` in this process, a real proxy host, real sockets.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { main } from '../../src/cli/main.ts';
import { readState } from '../../src/runtime/state.ts';
import { makeCa } from '../proxy/certs.ts';
import { upInProcess } from './up-in-process.ts';

/**
 * A Gateway with the `admin` server on 9000, and optionally an `added` server on `extra`, each with a
 * VirtualService answering its name; with `tls`, the `added` server is HTTPS with that certificate.
 */
function gatewayYaml(extra?: number, tls?: { cert: string; key: string }): string {
  const server = (port: number, name: string) => `    - port: {number: ${port}, name: http-${name}, protocol: HTTP}\n      hosts: [${name}.example.com]\n`;
  const https = (port: number, name: string) =>
    `    - port: {number: ${port}, name: https-${name}, protocol: HTTPS}\n      hosts: [${name}.example.com]\n      tls: {mode: SIMPLE, credentialName: ${name}-cert}\n`;
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  const secret = tls
    ? `---
apiVersion: v1
kind: Secret
metadata: {name: added-cert, namespace: istio-system}
type: kubernetes.io/tls
data: {tls.crt: ${b64(tls.cert)}, tls.key: ${b64(tls.key)}}
`
    : '';
  const vs = (name: string) => `---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: istio-system}
spec:
  hosts: [${name}.example.com]
  gateways: [admin]
  http: [{directResponse: {status: 200, body: {string: ${name}}}}]
`;
  return `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: admin, namespace: istio-system}
spec:
  selector: {istio: ingressgateway}
  servers:
${server(9000, 'admin')}${extra ? (tls ? https : server)(extra, 'added') : ''}${vs('admin')}${extra ? vs('added') : ''}${secret}`;
}

function curl(port: number, host: string, https = false): Promise<string> {
  const args = https ? ['-sk', '--resolve', `${host}:${port}:127.0.0.1`, `https://${host}:${port}/`] : ['-s', '-H', `Host: ${host}`, `http://127.0.0.1:${port}/`];
  return new Promise((resolve) => execFile('curl', args, { timeout: 10_000 }, (_e, out) => resolve(out)));
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** A free port now: the one the edit declares, so that binding it would have worked (and shown). */
async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

test('up --ephemeral-ports gives a gateway server port added by an edit a free host port, announced in progress and status, and releases it when the server goes', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-gw-edit-'));
  const config = path.join(dir, 'config');
  const state = path.join(dir, 'state');
  mkdirSync(config);
  const file = path.join(config, 'gateway.yaml');
  writeFileSync(file, gatewayYaml());
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  const { lines, until } = up;
  try {
    await until(/^mesh ready in /);
    const start = readState(state)?.components.find((c) => c.kind === 'gateway');
    const adminPort = start?.ports['proxy:9000'] as number;
    assert.ok(adminPort && adminPort !== 9000, JSON.stringify(start?.ports));
    assert.ok(lines.some((l) => l.includes(`: ready (server port 9000 on 127.0.0.1:${adminPort})`)), lines.join('\n'));

    const declared = await freePort();
    writeFileSync(file, gatewayYaml(declared));
    const added = await until(new RegExp(`^\\[.*\\] istio-system/istio-ingressgateway\\S*: server port ${declared} on 127\\.0\\.0\\.1:(\\d+) \\(added by a config edit\\)$`));
    const host = Number(added[1]);
    assert.notEqual(host, declared);
    assert.equal(await curl(host, 'added.example.com'), 'added');
    assert.ok(await refused(declared), `nothing should listen on the declared port ${declared}`);
    // The start-up server keeps its port.
    assert.equal(await curl(adminPort, 'admin.example.com'), 'admin');
    // status lists it beside the start-up ports.
    const before = lines.length;
    assert.equal(await main(['node', 'outrigger', 'status', '--dir', state]), 0);
    const table = lines.slice(before).find((l) => l.includes('gateway')) ?? '';
    assert.match(table, new RegExp(`proxy:${declared}=${host}\\b`));
    assert.match(table, new RegExp(`proxy:9000=${adminPort}\\b`));

    // Switched to HTTPS, the server's listener is started anew (another kind of server): on the same
    // host port, not a new free one announced as bound again.
    writeFileSync(file, gatewayYaml(declared, await (await makeCa('gateway-ca')).issueWithSans([{ type: 'dns', value: 'added.example.com' }])));
    const deadline = Date.now() + 30_000;
    while ((await curl(host, 'added.example.com', true)) !== 'added') {
      assert.ok(Date.now() < deadline, `HTTPS on 127.0.0.1:${host} within 30 s:\n${lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 200));
    }

    writeFileSync(file, gatewayYaml());
    await until(new RegExp(`: server port ${declared} removed by a config edit; 127\\.0\\.0\\.1:${host} released$`));
    assert.ok(await refused(host), `the released port ${host} should be closed`);
    assert.equal(readState(state)?.components.find((c) => c.kind === 'gateway')?.ports[`proxy:${declared}`], undefined);
    assert.ok(!lines.some((l) => l.includes('bound again')), lines.join('\n'));
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
