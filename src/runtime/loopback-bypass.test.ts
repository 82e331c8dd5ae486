import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { loopbackBypassNote } from './loopback-bypass.ts';
import { planMesh } from './plan.ts';

const mesh = (injected: boolean, mode: string) => `apiVersion: v1
kind: Namespace
metadata: { name: shop${injected ? ', labels: { istio-injection: enabled }' : ''} }
---
apiVersion: security.istio.io/v1beta1
kind: PeerAuthentication
metadata: { name: default, namespace: istio-system }
spec: { mtls: { mode: ${mode} } }
---
apiVersion: apps/v1
kind: Deployment
metadata: { name: web, namespace: shop }
spec:
  replicas: 2
  selector: { matchLabels: { app: web } }
  template:
    metadata: { labels: { app: web } }
    spec: { containers: [{ name: web, image: ghcr.io/stefanprodan/podinfo:6.5.3, ports: [{ containerPort: 9898 }] }] }
`;

function note(injected: boolean, mode: string): string | undefined {
  const { resources } = loadText(mesh(injected, mode));
  return loopbackBypassNote(planMesh(resources), resources);
}

test('loopbackBypassNote: said where a meshed workload has a STRICT port, once per Deployment, naming the remedy', () => {
  assert.equal(
    note(true, 'STRICT'),
    'mTLS is STRICT on shop/web:9898, but in process mode each app\'s own port on 127.0.0.1 also answers any local process directly, past its sidecar; --mode netns enforces STRICT (docs/local-mode.md)',
  );
});

test('loopbackBypassNote: nothing to say under PERMISSIVE, or without a sidecar (no mTLS to bypass)', () => {
  assert.equal(note(true, 'PERMISSIVE'), undefined);
  assert.equal(note(false, 'STRICT'), undefined);
});
