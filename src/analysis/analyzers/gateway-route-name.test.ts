// OR2012 for an HTTPS server the gateway leaves out because its route configuration name is another
// server's: port names are unique per Gateway, but `https.443.a.b.c.ns` is both port `a` of Gateway
// `b.c` and port `a.b` of Gateway `c`. Such a server must not vanish without a diagnostic.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnyResource } from '../../config/resource.ts';
import { runAnalyzers } from '../run.ts';

function gateway(name: string, portName: string, host: string): AnyResource {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'Gateway',
    metadata: { name, namespace: 'shop', labels: {}, annotations: {} },
    spec: { selector: { istio: 'ingressgateway' }, servers: [{ port: { number: 443, protocol: 'HTTPS', name: portName }, hosts: [host], tls: { mode: 'SIMPLE', credentialName: 'c' } }] },
  } as AnyResource;
}

test('OR2012: an HTTPS server whose route configuration name another Gateway took is reported at its port name', () => {
  const found = runAnalyzers([gateway('b.c', 'a', 'x.example.com'), gateway('c', 'a.b', 'y.example.com')])
    .filter((d) => d.code === 'OR2012')
    .map((d) => `${d.resource} ${d.field}: ${d.message}`);
  assert.equal(found.length, 1, JSON.stringify(found));
  assert.match(found[0] ?? '', /^Gateway shop\/c spec\.servers\[0\]\.port\.name: .*https\.443\.a\.b\.c\.shop/);
});
