import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { allocatePort, ensurePortFree, PortInUseError } from './ports.ts';
import { MESH_DIR_ENV } from './state.ts';

test('a port already in use is refused with the process that holds it', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await assert.rejects(ensurePortFree(port), (err: unknown) => {
      assert.ok(err instanceof PortInUseError);
      assert.match(err.message, new RegExp(`port ${port} is already in use by pid ${process.pid} \\(`));
      return true;
    });
  } finally {
    server.close();
  }
  await ensurePortFree(port);
});

test('allocated ports are never handed out twice', async () => {
  const taken = new Set<number>();
  const ports = [];
  for (let i = 0; i < 20; i++) ports.push(await allocatePort(taken));
  assert.equal(new Set(ports).size, 20);
});

test("a port held by another mesh's process is refused naming its command line and that mesh's directory", async () => {
  const dir = '/tmp/h116-other-mesh/state';
  const script = "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', script, 'proxy-host', '--spec', `${dir}/proxies.json`], { env: { [MESH_DIR_ENV]: dir }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    await assert.rejects(ensurePortFree(port), (err: unknown) => {
      assert.ok(err instanceof PortInUseError);
      assert.match(err.message, new RegExp(`^port ${port} is already in use by pid ${child.pid} \\(node -e .* proxy-host --spec ${dir}/proxies\\.json\\) of the Outrigger mesh in ${dir} \\(outrigger down --dir ${dir} stops it\\)$`));
      return true;
    });
  } finally {
    child.kill();
  }
});

test("no control character of the holder's command line or mesh directory reaches the message", async () => {
  const script = "const s = require('node:net').createServer().listen(0, '127.0.0.1', () => console.log(s.address().port))";
  const child = spawn(process.execPath, ['-e', script, '\x1b]0;owned\x07\x1b[2J'], { env: { [MESH_DIR_ENV]: '/tmp/m\x1b[31m' }, stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    const [line] = (await once(child.stdout, 'data')) as [Buffer];
    const port = Number(line.toString().trim());
    await assert.rejects(ensurePortFree(port), (err: unknown) => {
      assert.ok(err instanceof PortInUseError);
      assert.doesNotMatch(err.message, /[\x00-\x1f\x7f-\x9f]/);
      assert.match(err.message, /\]0;owned \[2J\) of the Outrigger mesh in \/tmp\/m\?\[31m /);
      return true;
    });
  } finally {
    child.kill();
  }
});
