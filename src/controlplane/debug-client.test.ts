// Where the CLI finds the control plane's debug API: --control-plane, else the mesh state; an explicit
// --dir without a mesh is an error, never the default port (which could be another mesh's).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { resolveDebugAddress } from './debug-client.ts';

test('the flag wins; then the state of --dir; an explicit --dir without state is refused; no --dir falls back', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-debug-addr-'));
  try {
    assert.equal(resolveDebugAddress('http://127.0.0.1:9', dir, dir), '127.0.0.1:9');
    assert.throws(() => resolveDebugAddress(undefined, dir, dir), /no mesh is running in .* \(no state\.json there\)/);
    writeFileSync(path.join(dir, 'state.json'), JSON.stringify({ controlPlane: { debugAddress: '127.0.0.1:41014' } }));
    assert.equal(resolveDebugAddress(undefined, dir, dir), '127.0.0.1:41014');
    // No --dir and no .outrigger here: the default port, as istioctl assumes istiod's.
    assert.equal(resolveDebugAddress(undefined, dir), '127.0.0.1:15014');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
