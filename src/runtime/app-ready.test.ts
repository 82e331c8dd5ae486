import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { waitListening } from './app-ready.ts';
import { Supervised } from './supervisor.ts';

const dir = mkdtempSync(path.join(os.tmpdir(), 'outrigger-ready-'));

test('an app that listens is ready', async () => {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const app = new Supervised({ label: 'x', file: process.execPath, args: ['-e', ''], env: {}, logFile: path.join(dir, 'a.log') });
  try {
    assert.equal(await waitListening('127.0.0.1', [(server.address() as net.AddressInfo).port], app), true);
  } finally {
    server.close();
  }
});

test('an app that finishes without listening is not waited for', async () => {
  const free = net.createServer();
  await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
  const port = (free.address() as net.AddressInfo).port;
  await new Promise<void>((r) => free.close(() => r()));
  const app = new Supervised({ label: 'job', file: process.execPath, args: ['-e', 'process.exit(0)'], env: {}, logFile: path.join(dir, 'b.log'), runToCompletion: true });
  app.start();
  assert.equal(await waitListening('127.0.0.1', [port], app, 60_000), false);
});
