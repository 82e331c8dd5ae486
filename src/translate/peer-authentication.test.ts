// Table tests for the effective mTLS mode: levels, UNSET inheritance, port level, oldest wins.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import type { PeerAuthentication } from '../config/resource.ts';
import { effectiveMtls } from './peer-authentication.ts';

function policies(yaml: string): PeerAuthentication[] {
  return loadText(yaml).resources.filter((r): r is PeerAuthentication => r.kind === 'PeerAuthentication');
}

const pa = (ns: string, name: string, spec: string) =>
  `apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n---\n`;

const meshStrict = pa('istio-system', 'default', '{mtls: {mode: STRICT}}');
const podinfo = { namespace: 'podinfo', labels: { app: 'podinfo', version: 'v1' } };

const cases: [string, string, { namespace: string; labels: Record<string, string>; port?: number }, string, string][] = [
  ['no policy: PERMISSIVE', '', podinfo, 'PERMISSIVE', 'default'],
  ['mesh-wide STRICT', meshStrict, podinfo, 'STRICT', 'mesh'],
  ['mesh selector policies do not count as mesh-wide', pa('istio-system', 'x', '{selector: {matchLabels: {app: podinfo}}, mtls: {mode: DISABLE}}'), podinfo, 'PERMISSIVE', 'default'],
  ['namespace overrides mesh', meshStrict + pa('podinfo', 'default', '{mtls: {mode: PERMISSIVE}}'), podinfo, 'PERMISSIVE', 'namespace'],
  ['namespace UNSET inherits mesh', meshStrict + pa('podinfo', 'default', '{mtls: {mode: UNSET}}'), podinfo, 'STRICT', 'mesh'],
  ['other namespace does not apply', meshStrict + pa('other', 'default', '{mtls: {mode: DISABLE}}'), podinfo, 'STRICT', 'mesh'],
  ['workload overrides namespace', pa('podinfo', 'default', '{mtls: {mode: STRICT}}') + pa('podinfo', 'w', '{selector: {matchLabels: {app: podinfo}}, mtls: {mode: DISABLE}}'), podinfo, 'DISABLE', 'workload'],
  ['non-matching selector is ignored', meshStrict + pa('podinfo', 'w', '{selector: {matchLabels: {app: other}}, mtls: {mode: DISABLE}}'), podinfo, 'STRICT', 'mesh'],
  ['port level wins on its port', meshStrict + pa('podinfo', 'w', '{selector: {matchLabels: {app: podinfo}}, portLevelMtls: {"9898": {mode: DISABLE}}}'), { ...podinfo, port: 9898 }, 'DISABLE', 'port'],
  ['port level leaves other ports alone', meshStrict + pa('podinfo', 'w', '{selector: {matchLabels: {app: podinfo}}, portLevelMtls: {"9898": {mode: DISABLE}}}'), { ...podinfo, port: 9999 }, 'STRICT', 'mesh'],
  ['port UNSET inherits the workload mode', pa('podinfo', 'w', '{selector: {matchLabels: {app: podinfo}}, mtls: {mode: STRICT}, portLevelMtls: {"9898": {mode: UNSET}}}'), { ...podinfo, port: 9898 }, 'STRICT', 'workload'],
  // Istio's ComposePeerAuthentication: a selector policy is workload-level only "not in root namespace".
  ['a root-namespace selector policy does not apply to a workload there', pa('istio-system', 'gw-strict', '{selector: {matchLabels: {app: eastwest}}, mtls: {mode: STRICT}}'), { namespace: 'istio-system', labels: { app: 'eastwest' }, port: 15443 }, 'PERMISSIVE', 'default'],
  ['nor do its port levels', meshStrict + pa('istio-system', 'gw-port', '{selector: {matchLabels: {app: eastwest}}, portLevelMtls: {"15443": {mode: DISABLE}}}'), { namespace: 'istio-system', labels: { app: 'eastwest' }, port: 15443 }, 'STRICT', 'mesh'],
  ['oldest wins among namespace-wide conflicts', pa('podinfo', 'b-first', '{mtls: {mode: DISABLE}}') + pa('podinfo', 'a-second', '{mtls: {mode: STRICT}}'), podinfo, 'DISABLE', 'namespace'],
];

for (const [name, yaml, target, mode, level] of cases) {
  test(name, () => {
    const r = effectiveMtls(policies(yaml), target);
    assert.equal(r.mode, mode);
    assert.equal(r.level, level);
  });
}

test('a custom root namespace holds the mesh-wide policy', () => {
  const r = effectiveMtls(policies(pa('mesh-root', 'default', '{mtls: {mode: STRICT}}')), podinfo, 'mesh-root');
  assert.deepEqual(r, { mode: 'STRICT', decidedBy: 'PeerAuthentication mesh-root/default', level: 'mesh' });
});

test('port level on a policy without selector is ignored (the validator also flags it)', () => {
  const [ns] = policies(pa('podinfo', 'default', '{mtls: {mode: STRICT}}'));
  const withPorts = { ...ns!, spec: { ...ns!.spec, portLevelMtls: { '9898': { mode: 'DISABLE' as const } } } };
  assert.equal(effectiveMtls([withPorts], { ...podinfo, port: 9898 }).mode, 'STRICT');
});
