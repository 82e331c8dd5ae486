// Translation cost and size: one sidecar in a 1,000-service mesh (time), and one sidecar scoped by
// a Sidecar resource in a 100-service mesh (bytes of xDS). Run: node bench/translate.ts
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { loadText } from '../src/config/load.ts';
import type { ProxyView } from '../src/model/proxy-view.ts';
import { buildSnapshot } from '../src/model/snapshot.ts';
import type { WorkloadInstance } from '../src/model/workload.ts';
import { buildProxyResources } from '../src/translate/proxy-resources.ts';

function mesh(services: number, namespaces: number, sidecar: boolean): string {
  const docs: string[] = [];
  for (let i = 0; i < services; i++) {
    const ns = `ns${i % namespaces}`;
    docs.push(`apiVersion: v1\nkind: Service\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { selector: { app: svc${i} }, ports: [{ name: http, port: 8080 }, { name: grpc, port: 9090 }] }`);
    docs.push(`apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { host: svc${i}, trafficPolicy: { connectionPool: { tcp: { maxConnections: 100 } } }, subsets: [{ name: v1, labels: { v: v1 } }, { name: v2, labels: { v: v2 } }] }`);
    docs.push(`apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: { name: svc${i}, namespace: ${ns} }\nspec: { hosts: [svc${i}], http: [{ match: [{ headers: { x-canary: { exact: "true" } } }], route: [{ destination: { host: svc${i}, subset: v2 } }] }, { route: [{ destination: { host: svc${i}, subset: v1 }, weight: 90 }, { destination: { host: svc${i}, subset: v2 }, weight: 10 }] }] }`);
  }
  if (sidecar) docs.push(`apiVersion: networking.istio.io/v1\nkind: Sidecar\nmetadata: { name: default, namespace: ns0 }\nspec: { egress: [{ hosts: ["./*"] }] }`);
  return docs.join('\n---\n');
}

function workloads(services: number, namespaces: number): WorkloadInstance[] {
  const out: WorkloadInstance[] = [];
  for (let i = 0; i < services; i++) {
    for (const v of ['v1', 'v2']) {
      out.push({ name: `svc${i}-${v}`, namespace: `ns${i % namespaces}`, labels: { app: `svc${i}`, v }, serviceAccount: 'sa', address: '127.0.0.1', appPorts: {}, tunnelAddress: `127.0.0.1:${20000 + i}`, healthy: true, source: 'deployment' });
    }
  }
  return out;
}

const proxy: ProxyView = { id: 'sidecar~127.0.0.1~svc0-v1.ns0~ns0.svc.cluster.local', role: 'sidecar', namespace: 'ns0', workloadName: 'svc0-v1', serviceAccount: 'sa', labels: { app: 'svc0', v: 'v1' }, ip: '127.0.0.1', appPorts: {} };

// Cold: a fresh parse and snapshot per run (untimed), so no per-snapshot cache is warm, as after a
// config change. Warm: the same proxy again on the same snapshot (what a repeat costs).
setFlagsFromString('--expose-gc');
const collect = runInNewContext('gc') as () => void;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? 0;
const text = mesh(1000, 10, false);
const cold: number[] = [];
let big = buildSnapshot(loadText(text).resources, workloads(1000, 10), '0');
buildProxyResources(big, proxy);
for (let i = 1; i <= 5; i++) {
  big = buildSnapshot(loadText(text).resources, workloads(1000, 10), String(i));
  collect(); // the parse's garbage is not the translation's cost
  const start = performance.now();
  buildProxyResources(big, proxy);
  cold.push(performance.now() - start);
}
const warm: number[] = [];
for (let i = 0; i < 10; i++) {
  const start = performance.now();
  buildProxyResources(big, proxy);
  warm.push(performance.now() - start);
}
console.log(`1000 services, one sidecar: ${median(cold).toFixed(1)} ms per translation cold (median of 5), ${median(warm).toFixed(1)} ms warm (median of 10)`);

const small = buildSnapshot(loadText(mesh(100, 10, true)).resources, workloads(100, 10), '1');
const out = buildProxyResources(small, proxy);
const bytes = JSON.stringify([...out].map(([t, m]) => [t, [...m.values()]])).length;
console.log(`100 services, Sidecar './*': ${(bytes / 1024).toFixed(1)} KB of xDS JSON for one sidecar`);
