// The seed deployment (examples/seed) loads and analyses clean: no error and no warning, from the
// loader or from any analyzer, as `outrigger analyze -f examples/seed` must report.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadPaths } from '../config/load.ts';
import type { VirtualService } from '../config/resource.ts';
import { analyzerCatalogue } from './catalogue.ts';
import { runAnalyzers } from './run.ts';

const seed = fileURLToPath(new URL('../../examples/seed/', import.meta.url));

test('examples/seed has no errors or warnings', () => {
  const loaded = loadPaths([seed]);
  const all = [...loaded.diagnostics, ...runAnalyzers(loaded.resources)];
  const serious = all.filter((d) => d.severity !== 'info');
  assert.deepEqual(
    serious.map((d) => `${d.code} ${d.resource ?? ''} ${d.field ?? ''}: ${d.message}`),
    [],
  );
  const kinds = new Set(loaded.resources.map((r) => r.kind));
  for (const kind of ['IstioOperator', 'PeerAuthentication', 'AuthorizationPolicy', 'VirtualService', 'DestinationRule', 'Gateway', 'Telemetry', 'Deployment', 'Service']) {
    assert.ok(kinds.has(kind), `the seed declares a ${kind}`);
  }
});

test('a broken seed edit is caught: a subset nobody defines', () => {
  const loaded = loadPaths([seed]);
  const vs = loaded.resources.find((r) => r.kind === 'VirtualService' && r.metadata.name === 'podinfo-routes') as VirtualService | undefined;
  assert.ok(vs);
  const { origin: _origin, ...rest } = vs;
  const broken: VirtualService = structuredClone(rest);
  const first = broken.spec.http?.[0]?.route?.[0];
  assert.ok(first);
  first.destination.subset = 'beta';
  const others = loaded.resources.filter((r) => r !== vs);
  const codes = runAnalyzers([...others, broken]).map((d) => `${d.code} ${d.field}`);
  assert.ok(codes.includes('IST0101 spec.http[0].route[0].destination.subset'), codes.join('\n'));
});

test('the catalogue has at least 20 codes, unique, with Istio codes for Istio checks and OR2xxx otherwise', () => {
  const codes = analyzerCatalogue.map((e) => e.code);
  assert.ok(codes.length >= 20);
  assert.equal(new Set(codes).size, codes.length);
  for (const c of codes) assert.match(c, /^(IST0\d{3}|OR2\d{3})$/);
});
