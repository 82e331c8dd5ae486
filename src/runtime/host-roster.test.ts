// A `retire` sent while the proxy host restarts has no process to take it (Supervised.send answers
// false): the host came back from its spec file with the finished Job's sidecar in it and ran it again.
// The retired proxy leaves the spec, and the request is sent again when the host starts.
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { HostRoster } from './host-roster.ts';

class FakeHost extends EventEmitter {
  up = true;
  sent: unknown[] = [];
  stopped = 0;
  send(message: unknown): boolean {
    if (!this.up) return false;
    this.sent.push(message);
    return true;
  }
  async stop(): Promise<void> {
    this.stopped++;
  }
}

const proxies = [
  { name: 'default/job-1', args: ['--a'], logFile: 'a.log' },
  { name: 'default/web-1', args: ['--b'], logFile: 'b.log' },
  { name: 'default/api-1', args: ['--c'], logFile: 'c.log' },
];
const specNames = (file: string) => (JSON.parse(readFileSync(file, 'utf8')) as { proxies: { name: string }[] }).proxies.map((p) => p.name);

test("a proxy retired while its host restarts is not started again: it leaves the host's spec and is retired again on start", () => {
  const specFile = path.join(mkdtempSync(path.join(tmpdir(), 'roster-')), 'proxies.json');
  const host = new FakeHost();
  const roster = new HostRoster(proxies, specFile, host);
  roster.writeSpec();
  assert.deepEqual(specNames(specFile), ['default/job-1', 'default/web-1', 'default/api-1']);

  // The host is between processes: the request has no one to take it.
  host.up = false;
  roster.retire('default/job-1');
  assert.deepEqual(specNames(specFile), ['default/web-1', 'default/api-1'], 'the restarting host reads a spec without it');
  assert.deepEqual((JSON.parse(readFileSync(specFile, 'utf8')) as { proxies: unknown[] }).proxies[0], proxies[1], 'the others as they were');

  host.up = true;
  host.emit('started', 1234);
  assert.deepEqual(host.sent, [{ type: 'retire', name: 'default/job-1' }], 'sent again once the host is back');
  assert.equal(roster.isRetired('default/job-1'), true);
  assert.equal(host.stopped, 0);
});

test('retiring a live host sends the request; the last proxy retired stops the host', () => {
  const specFile = path.join(mkdtempSync(path.join(tmpdir(), 'roster-')), 'proxies.json');
  const host = new FakeHost();
  const roster = new HostRoster(proxies, specFile, host);
  roster.writeSpec();
  roster.retire('default/web-1');
  roster.retire('default/web-1');
  roster.retire('default/unknown');
  assert.deepEqual(host.sent, [{ type: 'retire', name: 'default/web-1' }]);
  roster.retire('default/job-1');
  assert.equal(host.stopped, 0);
  roster.retire('default/api-1');
  assert.equal(host.stopped, 1, 'the last proxy takes the host with it');
  assert.deepEqual(roster.live, []);
});

test('a spec that cannot be written (a full or read-only state directory) still retires the proxy in the running host, without a throw', () => {
  // A directory where the spec goes: every write of it fails, as on a full disk.
  const specFile = mkdtempSync(path.join(tmpdir(), 'roster-unwritable-'));
  const host = new FakeHost();
  const roster = new HostRoster(proxies, specFile, host);
  assert.doesNotThrow(() => roster.retire('default/job-1'));
  assert.deepEqual(host.sent, [{ type: 'retire', name: 'default/job-1' }]);
});
