// Namespace injection labels as Istio's injection.Analyzer judges them.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const ns = (name: string, labels: string) => `apiVersion: v1
kind: Namespace
metadata: { name: ${name}, labels: ${labels} }
---
`;

function found(yaml: string) {
  return runAnalyzers(loadText(yaml).resources);
}

test('IST0102 for every unlabelled namespace, with or without workloads; not for system or ambient ones', () => {
  const hits = found(ns('empty', '{}') + ns('kube-system', '{}') + ns('istio-system', '{}') + ns('mesh', '{ istio.io/dataplane-mode: ambient }'));
  assert.deepEqual(hits.map((d) => `${d.code} ${d.resource}`), ['IST0102 Namespace empty']);
});

test("IST0123 lists the labels as Istio's message does", () => {
  const hits = found(ns('shop', '{ istio-injection: enabled, istio.io/rev: canary }')).filter((d) => d.code === 'IST0123');
  assert.deepEqual(hits.map((d) => d.message), [
    'The namespace has more than one type of injection labels [istio-injection=enabled istio.io/rev=canary], which may lead to undefined behavior. Make sure only one injection label exists.',
  ]);
  // istio-injection=disabled wins over the revision label: nothing to report.
  assert.deepEqual(found(ns('shop', '{ istio-injection: disabled, istio.io/rev: canary }')).filter((d) => d.code === 'IST0123'), []);
});
