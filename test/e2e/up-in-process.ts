// Test helper: a foreground `outrigger up` run in this process through main(), its printed lines kept
// and waited for, and stopped as Ctrl-C stops it.
import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { main } from '../../src/cli/main.ts';

export interface UpInProcess {
  /** Every line `up` printed so far (progress, the ready summary), and those of commands run beside it. */
  readonly lines: string[];
  /** Resolves with the first line, printed before or after, that matches `re`; fails naming it after 60 s. */
  until(re: RegExp): Promise<RegExpExecArray>;
  /** Stops the mesh (SIGTERM, as `up` handles it) and restores the console and exit code. */
  stop(): Promise<void>;
}

export function upInProcess(args: readonly string[]): UpInProcess {
  const lines: string[] = [];
  const printed = new EventEmitter();
  const log = console.log;
  console.log = (...parts: unknown[]) => {
    for (const line of parts.map(String).join(' ').split('\n')) {
      lines.push(line);
      printed.emit('line');
    }
  };
  const running = main(['node', 'outrigger', 'up', ...args]);
  return {
    lines,
    async until(re) {
      // The deadline only turns a line that never comes into a failure that names it.
      const signal = AbortSignal.timeout(60_000);
      for (let seen = 0; ; ) {
        for (; seen < lines.length; seen++) {
          const m = re.exec(lines[seen] as string);
          if (m) return m;
        }
        // One print may carry several lines: each wake-up reads every line not yet seen.
        await once(printed, 'line', { signal }).catch(() => assert.fail(`no line ${re} in:\n${lines.join('\n')}`));
      }
    },
    async stop() {
      process.emit('SIGTERM');
      try {
        await running;
      } finally {
        // main() sets the exit code of the command it ran; a test process must not inherit it.
        process.exitCode = 0;
        console.log = log;
      }
    },
  };
}

/** An IstioOperator that turns the default ingress gateway off (a mesh of sidecars only), and the separator after it. */
export const withoutIngress = `apiVersion: install.istio.io/v1alpha1
kind: IstioOperator
metadata: {name: local, namespace: istio-system}
spec:
  components:
    ingressGateways: [{name: istio-ingressgateway, enabled: false}]
---
`;

/** An injected namespace `shop` with a podinfo Deployment `web` (port 9898): one sidecar beside the gateways. */
export const meshedWeb = `apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {istio-injection: enabled}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
        - name: web
          image: ghcr.io/stefanprodan/podinfo:6.5.3
          ports: [{containerPort: 9898}]
`;

/** A fresh directory for one mesh: `config/mesh.yaml` holding `manifests`, and where `state` goes. */
export function meshDir(prefix: string, manifests: string): { dir: string; config: string; state: string } {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const config = path.join(dir, 'config');
  mkdirSync(config);
  writeFileSync(path.join(config, 'mesh.yaml'), manifests);
  return { dir, config, state: path.join(dir, 'state') };
}
