// The pod port-forward's guards, which need no pod: what it is given comes from a state file that a root
// command reads, and what it opens on the host's loopback must not outlive the connections asked for.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { test } from 'node:test';
import { PodPortForward, PodPortForwardError } from './pod-port-forward.ts';

test('a namespace that is not a local pod\'s, or a port that is not a number, is refused before anything runs', () => {
  for (const netns of ['default', 'or-abc-1; rm -rf /', '../or-abc-1', 'or-ABC-1']) {
    assert.throws(() => new PodPortForward({ netns, port: 15000 }), PodPortForwardError, netns);
  }
  for (const port of ['15000); require("fs").writeFileSync("/tmp/x", "")//', 0, 70000, 1.5] as unknown[]) {
    assert.throws(() => new PodPortForward({ netns: 'or-abc-1', port: port as number }), PodPortForwardError, String(port));
  }
  assert.doesNotThrow(() => new PodPortForward({ netns: 'or-4f2a9c-12', port: 15000 }));
});

test('a forward for one connection stops listening once it has it: no other local user gets in', async () => {
  const forward = new PodPortForward({ netns: 'or-notapod-1', port: 15000, connections: 1 });
  const port = await forward.listen();
  try {
    const first = net.connect(port, '127.0.0.1');
    first.on('error', () => {});
    await once(first, 'connect');
    const second = net.connect(port, '127.0.0.1');
    const [err] = (await once(second, 'error')) as [NodeJS.ErrnoException];
    assert.equal(err.code, 'ECONNREFUSED');
    first.destroy();
  } finally {
    await forward.close();
  }
});
