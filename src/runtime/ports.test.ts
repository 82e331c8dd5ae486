import assert from 'node:assert/strict';
import net from 'node:net';
import { test } from 'node:test';
import { allocatePort, ensurePortFree, PortInUseError } from './ports.ts';

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
