// istiod's lifetimes read where Istio reads them (the pilot environment of the IstioOperator), SECRET_TTL
// as what proxies ask for, and every bad setting reported at its place.
import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import { loadPaths } from '../config/load-paths.ts';
import { loadText } from '../config/load-text.ts';
import { caSettingsFrom } from './ca-settings.ts';

const HOUR = 3600;

/** An IstioOperator with `spec` lines indented under it (line 5 is the first line of `spec`). */
const operator = (spec: string, name = 'control-plane') => `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: { name: ${name}, namespace: istio-system }
spec:
${spec}`;

const settingsOf = (yaml: string) => {
  const loaded = loadText(yaml, 'mesh.yaml');
  assert.deepEqual(loaded.diagnostics, [], 'the schema accepts it');
  return caSettingsFrom(loaded.resources);
};

test("the seed's IstioOperator: values.pilot.env sets the CA, SECRET_TTL the proxies' request", () => {
  const seed = loadPaths([path.join(import.meta.dirname, '../../examples/seed')]);
  const s = caSettingsFrom(seed.resources);
  assert.deepEqual(s.ca, { defaultTtlSeconds: 24 * HOUR, maxTtlSeconds: 48 * HOUR, rootTtlSeconds: 87600 * HOUR });
  assert.equal(s.requestedTtlSeconds, 24 * HOUR);
  assert.deepEqual(s.diagnostics, []);
});

test("components.pilot.k8s.env is applied over values.pilot.env, as istioctl patches istiod's container", () => {
  const s = settingsOf(
    operator(`  values:
    pilot:
      env: { MAX_WORKLOAD_CERT_TTL: 48h, DEFAULT_WORKLOAD_CERT_TTL: 12h, PILOT_TRACE_SAMPLING: "1" }
  components:
    pilot:
      k8s:
        env:
          - { name: MAX_WORKLOAD_CERT_TTL, value: 72h }
          - { name: CITADEL_SELF_SIGNED_CA_CERT_TTL, valueFrom: { configMapKeyRef: { name: x, key: y } } }
`),
  );
  assert.deepEqual(s.ca, { maxTtlSeconds: 72 * HOUR, defaultTtlSeconds: 12 * HOUR });
});

test('nothing set: no options, so the CA keeps istiod defaults; the first IstioOperator that sets one configures the CA', () => {
  assert.deepEqual(settingsOf(operator('  profile: default\n')), { ca: {}, diagnostics: [] });
  const two = settingsOf(
    [operator('  components: { ingressGateways: [{ name: istio-ingressgateway, enabled: true }] }\n', 'gateways'), operator('  values: { pilot: { env: { CITADEL_SELF_SIGNED_CA_CERT_TTL: 8760h } } }\n')].join('---\n'),
  );
  assert.deepEqual(two.ca, { rootTtlSeconds: 8760 * HOUR });
});

test('a setting that is not a duration is an error at its value, with the field path', () => {
  const yaml = operator(`  values:
    pilot:
      env:
        MAX_WORKLOAD_CERT_TTL: 2 days
  components:
    pilot:
      k8s:
        env:
          - name: DEFAULT_WORKLOAD_CERT_TTL
            value: 500ms
`);
  const s = caSettingsFrom(loadText(yaml, 'mesh.yaml').resources);
  const seen = s.diagnostics.map((d) => [`${d.span?.file}:${d.span?.start.line}:${d.span?.start.col}`, d.severity, d.code, d.resource, d.field, d.message]);
  assert.deepEqual(seen, [
    ['mesh.yaml:8:32', 'error', 'OR1025', 'IstioOperator istio-system/control-plane', 'spec.values.pilot.env.MAX_WORKLOAD_CERT_TTL', '"2 days" is not a duration (write e.g. 24h, 90m, 87600h)'],
    ['mesh.yaml:14:20', 'error', 'OR1025', 'IstioOperator istio-system/control-plane', 'spec.components.pilot.k8s.env[0].value', 'duration "500ms" is shorter than 1s, the precision of certificate lifetimes'],
  ]);
  assert.deepEqual(s.ca, {}, 'a bad value sets nothing');
});

test('SECRET_TTL above the maximum would have every CSR refused: an error at SECRET_TTL, or at the maximum when proxies ask for the 24h default', () => {
  const mesh = (ttl: string) => `  meshConfig: { defaultConfig: { proxyMetadata: { SECRET_TTL: ${ttl} } } }\n`;
  const rows: [string, number, string | undefined][] = [
    [mesh('48h') + '  values: { pilot: { env: { MAX_WORKLOAD_CERT_TTL: 48h } } }\n', 0, undefined],
    [mesh('72h') + '  values: { pilot: { env: { MAX_WORKLOAD_CERT_TTL: 48h } } }\n', 5, 'SECRET_TTL 72h is above MAX_WORKLOAD_CERT_TTL 48h (mesh.yaml:6): the CA would refuse every proxy\'s certificate request'],
    [mesh('2161h'), 5, "SECRET_TTL 2161h is above istiod's default MAX_WORKLOAD_CERT_TTL 2160h: the CA would refuse every proxy's certificate request"],
    ['  values: { pilot: { env: { MAX_WORKLOAD_CERT_TTL: 12h } } }\n', 5, "MAX_WORKLOAD_CERT_TTL 12h is below the 24h every proxy asks for (SECRET_TTL is unset): the CA would refuse every proxy's certificate request"],
  ];
  for (const [spec, line, message] of rows) {
    const s = settingsOf(operator(spec));
    assert.deepEqual(s.diagnostics.map((d) => [d.code, d.span?.start.line, d.message]), message ? [['OR1024', line, message]] : [], spec);
  }
});

test('SECRET_TTL comes from the IstioOperator translation takes meshConfig from, and a bad one is an error too', () => {
  const s = settingsOf(operator('  meshConfig: { defaultConfig: { proxyMetadata: { SECRET_TTL: 90m } } }\n'));
  assert.deepEqual([s.requestedTtlSeconds, s.diagnostics], [90 * 60, []]);
  const bad = settingsOf(operator('  meshConfig: { defaultConfig: { proxyMetadata: { SECRET_TTL: "1 day" } } }\n'));
  assert.equal(bad.requestedTtlSeconds, undefined);
  assert.deepEqual(bad.diagnostics.map((d) => [d.code, d.field]), [['OR1025', 'spec.meshConfig.defaultConfig.proxyMetadata.SECRET_TTL']]);
});
