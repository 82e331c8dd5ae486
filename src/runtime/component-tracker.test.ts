// state.json is written at every change of a component; a write that fails (a full disk, a read-only
// state directory) is said once and tried again, and never takes the `up` process, the control plane, down.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { ComponentTracker } from './component-tracker.ts';
import type { ControlPlaneHandle } from './control-plane-handle.ts';
import { readState } from './state.ts';

const cp = { xdsAddress: '127.0.0.1:15010', debugAddress: '127.0.0.1:15014', ports: {} } as unknown as ControlPlaneHandle;

test('a state.json that cannot be written is said once, the save retried, and its recovery said', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-tracker-'));
  try {
    const lines: string[] = [];
    const tracker = new ComponentTracker({ stateDir: dir, mode: 'process', configDirs: [], controlPlane: cp, progress: (l) => lines.push(l) });
    const app = tracker.add({ name: 'podinfo/podinfo-stable-0', kind: 'workload', ports: {}, sidecar: true, status: 'running', restarts: 0 });
    // A directory where the file goes: the rename over it fails, as a write to a full disk does.
    mkdirSync(path.join(dir, 'state.json'));
    tracker.save();
    app.restarts++;
    tracker.save();
    assert.equal(tracker.saved, false);
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0] ?? '', /^warning: cannot write .*state\.json \(.+\); the mesh runs on/);
    rmSync(path.join(dir, 'state.json'), { recursive: true });
    tracker.save();
    assert.equal(tracker.saved, true);
    assert.equal(lines[1], `${path.join(dir, 'state.json')} written again`);
    assert.equal(readState(dir)?.components.find((c) => c.name === 'podinfo/podinfo-stable-0')?.restarts, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('without a place to say it, a failed write throws', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'or-tracker-'));
  try {
    const tracker = new ComponentTracker({ stateDir: dir, mode: 'process', configDirs: [], controlPlane: cp });
    mkdirSync(path.join(dir, 'state.json'));
    assert.throws(() => tracker.save());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
