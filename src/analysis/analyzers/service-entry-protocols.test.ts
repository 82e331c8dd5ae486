// IST0177 as Istio's ConflictingServiceEntryProtocolAnalyzer reports it: per ServiceEntry, within the
// namespaces that see both (exportTo).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';

const entry = (name: string, ns: string, protocol: string, exportTo = '') => `apiVersion: networking.istio.io/v1
kind: ServiceEntry
metadata: { name: ${name}, namespace: ${ns} }
spec:
  hosts: [api.example.com]
  ${exportTo}ports: [{ number: 443, name: p, protocol: ${protocol} }]
  resolution: DNS
---
`;

function found(yaml: string) {
  return runAnalyzers(loadText(yaml).resources).filter((d) => d.code === 'IST0177');
}

test('each ServiceEntry giving a host and port another protocol is reported once', () => {
  const hits = found(entry('a', 'shop', 'TLS') + entry('b', 'shop', 'HTTPS'));
  assert.deepEqual(hits.map((d) => `${d.resource}: ${d.message}`), [
    'ServiceEntry shop/a: Multiple ServiceEntries (shop/a, shop/b) define the same host "api.example.com" and port 443 with conflicting protocols (HTTPS, TLS).',
    'ServiceEntry shop/b: Multiple ServiceEntries (shop/a, shop/b) define the same host "api.example.com" and port 443 with conflicting protocols (HTTPS, TLS).',
  ]);
});

test('entries each exported only to their own namespace do not meet; a protocol spelled in other case is the same', () => {
  assert.deepEqual(found(entry('a', 'one', 'TLS', 'exportTo: ["."]\n  ') + entry('b', 'two', 'HTTPS', 'exportTo: ["."]\n  ')), []);
  assert.deepEqual(found(entry('a', 'shop', 'TLS') + entry('b', 'shop', 'tls')), []);
});
