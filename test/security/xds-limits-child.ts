// A control plane (ephemeral CA, plaintext and TLS xDS ports) in a process of its own, for tests that
// measure its memory: prints its addresses as one JSON line, then answers each line on stdin with its
// memory after a full GC (run with --expose-gc), and exits when stdin closes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';

const dir = mkdtempSync(path.join(tmpdir(), 'or-xds-limits-'));
writeFileSync(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
const ca = await CertificateAuthority.ephemeral();
const cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', xdsTlsAddress: '127.0.0.1:0', ca, rescanMs: 0, log: () => {} });
process.stdout.write(`${JSON.stringify({ xds: cp.xdsAddress, xdsTls: cp.xdsTlsAddress })}\n`);
const gc = (globalThis as { gc?: () => void }).gc;
const lines = createInterface({ input: process.stdin });
lines.on('line', () => {
  gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ rss: m.rss, heap: m.heapUsed, external: m.external })}\n`);
});
lines.on('close', async () => {
  await cp.close();
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
