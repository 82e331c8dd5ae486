// The overall sync status of a proxy from its per-type states.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ProxySync, TypeSync } from '../controlplane/sync-report.ts';
import { overallSync } from './proxies-view.ts';

const proxy = (types: Record<string, TypeSync>): ProxySync => ({
  proxy: 'sidecar~127.0.0.1~a-0.ns~ns.svc.cluster.local',
  name: 'a-0.ns',
  namespace: 'ns',
  workload: 'a',
  generator: 'envoy',
  connectionId: '1',
  peer: '127.0.0.1',
  connectedAt: '2030-01-01T00:00:00.000Z',
  authenticated: true,
  configBytes: 0,
  types,
});
const synced: TypeSync = { status: 'SYNCED', sentVersion: 'v2', ackedVersion: 'v2', resources: 1 };
const notSent: TypeSync = { status: 'NOT SENT', resources: 0 };
const pending: TypeSync = { status: 'STALE', sentVersion: 'v2', ackedVersion: 'v1', resources: 1 };
const nackOld = { version: 'v1', message: 'old', at: '2030-01-01T00:00:00.000Z' };

test('overall sync status', () => {
  const cases: [Record<string, TypeSync>, string][] = [
    [{ CDS: synced, LDS: synced, SDS: notSent }, 'SYNCED'],
    [{ CDS: notSent, LDS: notSent }, 'NOT SENT'],
    [{ CDS: synced, LDS: pending }, 'STALE'],
    [{ CDS: synced, LDS: { ...pending, lastNack: { ...nackOld, version: 'v2' } } }, 'NACKED'],
    // A NACK of an older version, with the newest version still unanswered, is only STALE.
    [{ CDS: { ...pending, lastNack: nackOld } }, 'STALE'],
    // A NACK long since followed by an ACK of a newer version is SYNCED.
    [{ CDS: { ...synced, lastNack: nackOld } }, 'SYNCED'],
  ];
  for (const [types, want] of cases) assert.equal(overallSync(proxy(types)), want, JSON.stringify(types));
});
