// Process mode cannot enforce STRICT mTLS against a local process that connects to an app's own loopback
// port: `up` says so once when STRICT is in force, naming the ports and netns mode as the remedy. The
// bypass the notice describes is real: the app answers a plaintext request on its port directly.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readState } from '../../src/runtime/state.ts';
import { meshDir, meshedWeb, upInProcess } from './up-in-process.ts';

const manifests = `${meshedWeb}---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: {name: default, namespace: istio-system}
spec: {mtls: {mode: STRICT}}
`;

test('up in process mode under STRICT mTLS says once that an app port answers local processes past its sidecar', { timeout: 120_000 }, async () => {
  const { dir, config, state } = meshDir('or-strict-loopback-', manifests);
  const up = upInProcess(['-f', config, '--ephemeral-ports', '--dir', state]);
  try {
    await up.until(/^mesh ready in /);
    const notes = up.lines.filter((l) => l.includes('note: mTLS is STRICT'));
    assert.equal(notes.length, 1, up.lines.join('\n'));
    assert.match(notes[0] as string, /mTLS is STRICT on shop\/web:9898, but in process mode each app's own port on 127\.0\.0\.1 also answers any local process directly, past its sidecar; --mode netns enforces STRICT/);
    const appPort = readState(state)?.components.find((c) => c.name === 'shop/web-0')?.ports['app:9898'];
    assert.ok(appPort, 'the app port is in the state');
    assert.equal((await fetch(`http://127.0.0.1:${appPort}/`)).status, 200, 'the documented bypass');
  } finally {
    await up.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('up -d says the same note in what it prints', { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-strict-loopback-d-'));
  const config = path.join(dir, 'config');
  mkdirSync(config);
  writeFileSync(path.join(config, 'mesh.yaml'), manifests);
  const state = path.join(dir, 'state');
  const bin = path.resolve(import.meta.dirname, '../../bin/outrigger.mjs');
  const run = (args: string[]) =>
    new Promise<{ code: number; stdout: string }>((resolve) =>
      execFile(process.execPath, [bin, ...args], { timeout: 90_000 }, (err, stdout, stderr) => resolve({ code: err ? 1 : 0, stdout: stdout + stderr })),
    );
  try {
    const up = await run(['up', '-f', config, '--ephemeral-ports', '--dir', state, '-d']);
    assert.equal(up.code, 0, up.stdout);
    assert.match(up.stdout, /^note: mTLS is STRICT on shop\/web:9898, but in process mode/m);
  } finally {
    if (existsSync(path.join(state, 'state.json'))) await run(['down', '--dir', state, '--timeout', '10']);
    rmSync(dir, { recursive: true, force: true });
  }
});
