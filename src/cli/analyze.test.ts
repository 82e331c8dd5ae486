// `outrigger analyze` through its command function: exit codes, text with carets, JSON, --list.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { analyzeCommand } from './analyze.ts';

const tmp = mkdtempSync(join(tmpdir(), 'analyze-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

async function run(flags: Parameters<typeof analyzeCommand>[0], stdin?: string): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await analyzeCommand(flags, (s) => { out += s; }, (s) => { err += s; }, stdin === undefined ? undefined : () => Buffer.from(stdin));
  return { code, out, err };
}

const clean = 'apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: podinfo, namespace: podinfo}\n';
const bad = 'apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: podinfo}\nspec:\n  host: podinfo\n  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBBIN}\n';
const warn = 'apiVersion: networking.istio.io/v1alpha3\nkind: EnvoyFilter\nmetadata: {name: f, namespace: istio-system}\nspec: {}\n';

test('clean input exits 0', async () => {
  writeFileSync(join(tmp, 'clean.yaml'), clean);
  const r = await run({ filename: [join(tmp, 'clean.yaml')], output: 'text', failOn: 'error' });
  assert.equal(r.code, 0);
  assert.match(r.out, /^0 errors, 0 warnings, 0 infos \(1 valid resource\)$/m);
});

test('errors exit 1 with file:line:col, the source line and a caret', async () => {
  const file = join(tmp, 'bad.yaml');
  writeFileSync(file, bad);
  const r = await run({ filename: [file], output: 'text', failOn: 'error' });
  assert.equal(r.code, 1);
  const lines = r.out.split('\n');
  assert.equal(lines[0], `${file}:7:28: error OR1023 DestinationRule default/podinfo: spec.trafficPolicy.loadBalancer.simple: string "ROUND_ROBBIN" is not one of UNSPECIFIED, LEAST_CONN, RANDOM, PASSTHROUGH, ROUND_ROBIN, LEAST_REQUEST`);
  assert.equal(lines[1], '  7 |     loadBalancer: {simple: ROUND_ROBBIN}');
  assert.equal(lines[2], `    | ${' '.repeat(27)}${'^'.repeat(12)}`);
  assert.equal(lines[3], '  fix: did you mean "ROUND_ROBIN"?');
});

test("the CA's certificate lifetimes are checked as the control plane checks them", async () => {
  const file = join(tmp, 'operator.yaml');
  writeFileSync(file, 'apiVersion: install.istio.io/v1alpha1\nkind: IstioOperator\nmetadata: {name: mesh, namespace: istio-system}\nspec:\n  values: {pilot: {env: {MAX_WORKLOAD_CERT_TTL: 2d}}}\n');
  const r = await run({ filename: [file], output: 'text', failOn: 'error' });
  assert.equal(r.code, 1);
  assert.match(r.out, new RegExp(`^${file.replaceAll('.', '\\.')}:5:\\d+: error OR1025 IstioOperator istio-system/mesh: spec\\.values\\.pilot\\.env\\.MAX_WORKLOAD_CERT_TTL: "2d" is not a duration`, 'm'));
});

test('-o json carries the same fields; stdin works', async () => {
  const r = await run({ filename: ['-'], output: 'json', failOn: 'error' }, bad);
  assert.equal(r.code, 1);
  const [d] = JSON.parse(r.out) as Record<string, unknown>[];
  assert.deepEqual(
    { file: d?.['file'], line: d?.['line'], col: d?.['col'], code: d?.['code'], field: d?.['field'], resource: d?.['resource'], severity: d?.['severity'] },
    { file: '<stdin>', line: 7, col: 28, code: 'OR1023', field: 'spec.trafficPolicy.loadBalancer.simple', resource: 'DestinationRule default/podinfo', severity: 'error' },
  );
});

test('warnings fail only with --fail-on warning', async () => {
  const file = join(tmp, 'warn.yaml');
  writeFileSync(file, warn);
  assert.equal((await run({ filename: [file], output: 'text', failOn: 'error' })).code, 0);
  assert.equal((await run({ filename: [file], output: 'text', failOn: 'warning' })).code, 1);
});

test('--list prints the catalogue; bad flags exit 64 (usage)', async () => {
  const r = await run({ list: true, output: 'json', failOn: 'error' });
  const codes = (JSON.parse(r.out) as { code: string }[]).map((c) => c.code);
  assert.ok(codes.includes('OR1020') && codes.includes('IST0101'));
  assert.equal((await run({ output: 'xml', failOn: 'error' })).code, 64);
  assert.equal((await run({ output: 'text', failOn: 'error' })).code, 64);
});

test("istioctl's flags: --suppress CODE=RESOURCE with globs, -o yaml, --failure-threshold, --output-threshold", async () => {
  const file = join(tmp, 'istioctl-flags.yaml');
  // IST0102 (info) on Namespace shop, IST0174 (warning) on DestinationRule shop/ratings.
  writeFileSync(file, 'apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: ratings, namespace: shop}\nspec:\n  host: ratings\n');
  const codes = (r: { out: string }) => (JSON.parse(r.out) as { code: string }[]).map((d) => d.code);
  const base = { filename: [file], output: 'json', failOn: 'error' };
  assert.deepEqual(codes(await run(base)), ['IST0102', 'IST0174']);
  // istioctl names a namespaced resource `Kind name.namespace`; `*` globs.
  assert.deepEqual(codes(await run({ ...base, suppress: ['IST0102=Namespace shop', 'IST0174=DestinationRule *.shop'] })), []);
  assert.deepEqual(codes(await run({ ...base, suppress: ['IST0174=DestinationRule ratings.other'] })), ['IST0102', 'IST0174']);
  const unknown = await run({ ...base, suppress: ['IST9999=Namespace shop'] });
  assert.match(unknown.err, /^Warning: Supplied message code 'IST9999' is an unknown message code and will not have any effect\.$/m);
  assert.equal((await run({ ...base, suppress: ['IST0102'] })).code, 64);
  // The output threshold hides what is printed; the failure threshold (any case) sets the exit code.
  const warnings = await run({ ...base, outputThreshold: 'Warning' });
  assert.deepEqual([codes(warnings), warnings.code], [['IST0174'], 0]);
  assert.equal((await run({ ...base, failureThreshold: 'warning' })).code, 1);
  assert.equal((await run({ ...base, outputThreshold: 'Error', failureThreshold: 'Info' })).code, 1);
  assert.equal((await run({ ...base, failureThreshold: 'fatal' })).code, 64);
  const yaml = await run({ ...base, output: 'yaml', outputThreshold: 'Warning' });
  assert.match(yaml.out, /^- severity: warning\n {2}code: IST0174\n/);
  // istioctl lower-cases the format; the exit code is the same as with `-o json`.
  const upper = await run({ ...base, output: 'JSON' });
  assert.deepEqual([codes(upper), upper.code], [['IST0102', 'IST0174'], 0]);
  assert.match((await run({ ...base, output: 'Yaml' })).out, /^- severity: info\n {2}code: IST0102\n/);
  assert.equal((await run({ list: true, output: 'JSON', failOn: 'error' })).out.trimStart()[0], '[');
});

test("without -f, the running mesh's configuration; -n keeps one namespace's findings, -A all of them", async () => {
  const { mkdirSync } = await import('node:fs');
  const { writeState } = await import('../runtime/state.ts');
  const { meshState } = await import('../../test/mesh-state-fixture.ts');
  const config = join(tmp, 'mesh-config');
  const state = join(tmp, 'mesh-state');
  mkdirSync(config);
  mkdirSync(state);
  const vs = (ns: string) => `apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: vs, namespace: ${ns}}\nspec:\n  hosts: [reviews]\n  http:\n    - route: [{destination: {host: nowhere}}]\n`;
  writeFileSync(join(config, 'a.yaml'), `${vs('shop')}---\n${vs('bank')}`);
  // A cluster-scoped resource concerns every namespace: -n keeps its findings.
  writeFileSync(join(config, 'b.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata: {name: Bad_Name}\n');
  writeState(state, meshState([], { configDirs: [config] }));
  const all = await run({ dir: state, output: 'json', failOn: 'error' });
  const codes = (r: { out: string }) => (JSON.parse(r.out) as { code: string; resource?: string }[]).filter((d) => d.code === 'IST0101').map((d) => d.resource);
  assert.deepEqual(codes(all).sort(), ['VirtualService bank/vs', 'VirtualService shop/vs']);
  const shop = await run({ dir: state, namespace: 'shop', output: 'json', failOn: 'error' });
  assert.deepEqual(codes(shop), ['VirtualService shop/vs']);
  const unnamespaced = (JSON.parse(all.out) as { resource?: string }[]).filter((d) => d.resource && !d.resource.includes('/')).length;
  assert.ok(unnamespaced > 0, all.out);
  assert.equal((JSON.parse(shop.out) as { resource?: string }[]).filter((d) => d.resource && !d.resource.includes('/')).length, unnamespaced);
  assert.deepEqual(codes(await run({ dir: state, namespace: 'shop', allNamespaces: true, output: 'json', failOn: 'error' })).length, 2);
  // No files and no mesh here: how to give either.
  const none = await run({ dir: join(tmp, 'no-mesh'), output: 'text', failOn: 'error' });
  assert.equal(none.code, 64);
  assert.match(none.err, /give at least one -f PATH .* or run it beside a running mesh \(--dir\)/);
});
