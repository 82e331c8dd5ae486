// Property tests: loading random bytes, random text, or random mutations of valid resources never
// throws, and every diagnostic carries a known code and a span inside the input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { configCatalogue } from './codes.ts';
import { type LoadResult, loadBytes, loadText } from './load.ts';

const known = new Set(configCatalogue.map((c) => c.code));

function wellFormed(r: LoadResult, text?: string): void {
  for (const d of r.diagnostics) {
    assert.ok(known.has(d.code), d.code);
    if (d.span && text !== undefined) assert.ok(d.span.offset >= 0 && d.span.offset <= text.length + 1, `${d.code} offset ${d.span.offset}`);
  }
}

const seed = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata:
  name: podinfo
  namespace: podinfo
spec:
  hosts: [podinfo]
  http:
  - match: [{headers: {x-canary: {exact: "true"}}}]
    route: [{destination: {host: podinfo, subset: canary}}]
  - route:
    - {destination: {host: podinfo, subset: stable}, weight: 90}
    - {destination: {host: podinfo, subset: canary}, weight: 10}
    retries: {attempts: 3, perTryTimeout: 2s, retryOn: 5xx}
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: podinfo, namespace: podinfo}
spec:
  host: podinfo
  trafficPolicy: {outlierDetection: {consecutive5xxErrors: 5, interval: 30s}}
  subsets: [{name: stable, labels: {version: stable}}, {name: canary, labels: {version: canary}}]
`;

test('the seed text itself is valid', () => {
  const r = loadText(seed, 'seed.yaml');
  assert.deepEqual(r.diagnostics, []);
  assert.equal(r.resources.length, 2);
});

test('random bytes never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      wellFormed(loadBytes(bytes, 'random.yaml'));
    }),
    { numRuns: 300 },
  );
});

test('random text never throws', () => {
  const yamlish = fc.string({ unit: fc.constantFrom(...'ab:-[]{}&*!|>"\'#%@` \n\t,?0123456789'.split('')), maxLength: 200 });
  fc.assert(
    fc.property(yamlish, (text) => {
      wellFormed(loadText(text, 'random.yaml'), text);
    }),
    { numRuns: 400 },
  );
});

test('random mutations of valid resources never throw', () => {
  const mutation = fc.tuple(fc.nat({ max: seed.length }), fc.nat({ max: 12 }), fc.string({ maxLength: 8 }));
  fc.assert(
    fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (edits) => {
      let text = seed;
      for (const [at, cut, insert] of edits) {
        const pos = Math.min(at, text.length);
        text = text.slice(0, pos) + insert + text.slice(pos + cut);
      }
      wellFormed(loadText(text, 'mutated.yaml'), text);
    }),
    { numRuns: 300 },
  );
});

test('random values in valid positions never throw', () => {
  const value = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.string(), fc.integer(), fc.boolean(), fc.constant(null));
  fc.assert(
    fc.property(value, value, (a, b) => {
      const text = seed.replace('2s', JSON.stringify(a) ?? 'null').replace('stable}, weight: 90', `stable}, weight: ${JSON.stringify(b) ?? 'null'}`);
      wellFormed(loadText(text, 'values.yaml'), text);
    }),
    { numRuns: 300 },
  );
});
