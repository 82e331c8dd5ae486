// Golden tests: every case under test/fixtures/translate/ is translated for each of its proxies and
// compared with its golden JSON. Refresh on purpose with UPDATE_GOLDEN=1.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadGoldenCase, lostFields, normalise, roundTrip } from './golden.ts';
import { buildProxyResources } from './proxy-resources.ts';

const root = path.join(import.meta.dirname, '../../test/fixtures/translate');
const update = process.env['UPDATE_GOLDEN'] === '1';

for (const name of readdirSync(root).sort()) {
  const dir = path.join(root, name);
  if (!existsSync(path.join(dir, 'case.json'))) continue;
  const c = loadGoldenCase(dir);
  for (const proxy of c.proxies) {
    const label = `${proxy.workloadName}.${proxy.namespace}`;
    test(`golden ${name}: ${label}`, () => {
      const resources = buildProxyResources(c.snapshot, proxy);
      for (const [typeUrl, byName] of resources) {
        for (const [rn, r] of byName) {
          assert.deepEqual(lostFields(r, roundTrip(typeUrl, r)), [], `${rn} lost fields in its proto round trip`);
        }
      }
      const actual = `${JSON.stringify(normalise(resources), null, 1)}\n`;
      const file = path.join(dir, 'golden', `${label}.json`);
      if (update) {
        mkdirSync(path.dirname(file), { recursive: true });
        writeFileSync(file, actual);
      }
      assert.ok(existsSync(file), `no golden ${file} yet: review the output, then create it with UPDATE_GOLDEN=1`);
      assert.equal(actual, readFileSync(file, 'utf8'), `golden ${file} differs (UPDATE_GOLDEN=1 to refresh on purpose)`);
    });
  }
}
