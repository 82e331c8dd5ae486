// What the control plane says of a live edit: a resource invalid from its first version (a new file, a
// file that never parsed) is refused and said so, with file:line:col, field and fix, as is a warning; a
// held resource says each error with its fix, and says when it validates again. Each once.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ManualClock } from '../../src/controlplane/clock.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';

const vs = (name: string, weight: string, extra = '') => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ${name}, namespace: test}
spec:
  hosts: [${name}]
  http:
    - route:
        - destination: {host: ${name}}
          weight: ${weight}
${extra}`;

let dir: string;
let cp: ControlPlane;
const logs: string[] = [];

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'or-cp-report-'));
  await writeFile(path.join(dir, 'a.yaml'), vs('a', '100'));
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, clock: new ManualClock(), log: (l, m) => logs.push(`${l} ${m}`) });
});

after(async () => {
  await cp.close();
  await rm(dir, { recursive: true });
});

/** The lines logged while `edit` runs and the control plane rescans. */
async function said(edit: () => Promise<void>): Promise<string[]> {
  const from = logs.length;
  await edit();
  await cp.rescan();
  cp.flush();
  return logs.slice(from);
}

test('a new resource that does not validate is refused and said, at its place with its field and fix, once', async () => {
  const file = path.join(dir, 'b.yaml');
  const lines = await said(() => writeFile(file, vs('b', '150')));
  const line = lines.find((l) => l.startsWith('warn VirtualService test/b is invalid and not served'));
  assert.ok(line, lines.join('\n'));
  assert.match(line, new RegExp(`\\n  ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:9:19: error OR1030 VirtualService test/b: spec\\.http\\[0\\]\\.route\\[0\\]\\.weight: .*150.*\\n    fix: `));
  assert.deepEqual(await said(async () => {}), [], 'said once, not at every rescan');
  await rm(file);
  await cp.rescan();
});

test('a file that is not text is refused and said', async () => {
  const file = path.join(dir, 'binary.yaml');
  const lines = await said(() => writeFile(file, Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x81])));
  assert.ok(lines.some((l) => l.startsWith(`warn ${file} is invalid and not served`) && l.includes('OR1005')), lines.join('\n'));
  await rm(file);
  await cp.rescan();
});

test('a warning in an edit is said with its place and fix', async () => {
  const file = path.join(dir, 'split.yaml');
  const split = (canary: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: split, namespace: test}
spec:
  hosts: [a]
  http:
    - route:
        - {destination: {host: a}, weight: 80}
        - {destination: {host: a}, weight: ${canary}}
`;
  const lines = await said(() => writeFile(file, split(10)));
  assert.ok(lines.some((l) => /^warn config warning:\n {2}.*split\.yaml:7:7: warning OR1031 VirtualService test\/split: spec\.http\[0\]\.route: destination weights add up to 90, not 100\n {4}fix: /.test(l)), lines.join('\n'));
  await rm(file);
  await cp.rescan();
});

test('an edit routing to a host nothing defines is served, as Istio serves it, and the analyzer finding said', async () => {
  const file = path.join(dir, 'nowhere.yaml');
  const lines = await said(() => writeFile(file, vs('nowhere', '100').replace('{host: nowhere}', '{host: nosuch.test.svc.cluster.local}')));
  assert.ok(lines.some((l) => l.startsWith('info config applied: ')), lines.join('\n'));
  assert.ok(lines.some((l) => /^warn config applied with an analyzer finding \(outrigger analyze\):\n {2}.*nowhere\.yaml:\d+:\d+: (warning|error) \S+ VirtualService test\/nowhere: .*nosuch/.test(l)), lines.join('\n'));
  assert.deepEqual((await said(async () => {})).filter((l) => l.includes('analyzer finding')), [], 'said once');
  await rm(file);
  await cp.rescan();
});

test('a held resource says each error with its field and fix, and says when it validates again', async () => {
  const lines = await said(() => writeFile(path.join(dir, 'a.yaml'), vs('a', '100', '      retries: {attempts: 3, perTryTimeot: 2s}\n')));
  const held = lines.find((l) => l.startsWith('warn VirtualService test/a is invalid ('));
  assert.ok(held, lines.join('\n'));
  assert.match(held, /serving its last good version until the file is fixed:\n {2}.*a\.yaml:10:\d+: error OR1020 VirtualService test\/a: spec\.http\[0\]\.retries\.perTryTimeot: .*\n {4}fix: /);
  // Fixed back to exactly its last good version: nothing changes in the mesh, but the person is told.
  const fixed = await said(() => writeFile(path.join(dir, 'a.yaml'), vs('a', '100')));
  assert.ok(fixed.includes('info VirtualService test/a validates again: served as the file now says'), fixed.join('\n'));
});

test("a held resource's warnings are those of the version served, not of the text refused", async () => {
  const file = path.join(dir, 'weights.yaml');
  const split = (stable: string, canary: number) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: weights, namespace: test}
spec:
  hosts: [a]
  http:
    - route:
        - {destination: {host: a}, weight: ${stable}}
        - {destination: {host: a}, weight: ${canary}}
`;
  await said(() => writeFile(file, split('75', 25)));
  // "75%" is refused, and the route held at 75/25: summing what is left of the refused text (25) is no finding of what is served.
  const lines = await said(() => writeFile(file, split('"75%"', 25)));
  assert.ok(lines.some((l) => /^warn VirtualService test\/weights is invalid \(.*weights\.yaml:8:\d+\); serving its last good version/.test(l)), lines.join('\n'));
  assert.deepEqual(lines.filter((l) => l.includes('OR1031')), [], lines.join('\n'));
  assert.deepEqual(cp.configState.diagnostics.filter((d) => d.code === 'OR1031'), []);
  // A held version's own warning still stands while it is served, and is not said again.
  await said(() => writeFile(file, split('70', 25)));
  const again = await said(() => writeFile(file, split('"70%"', 25)));
  assert.deepEqual(again.filter((l) => l.includes('OR1031')), [], again.join('\n'));
  assert.deepEqual(cp.configState.diagnostics.filter((d) => d.code === 'OR1031').map((d) => d.message), ['destination weights add up to 95, not 100']);
  await rm(file);
  await cp.rescan();
});
