// A VirtualService's `tls` and `tcp` routes on a Gateway match `port` against the Gateway server's port,
// as Istio's documented passthrough example writes it (`match: [{port: 443, sniHosts: [...]}]`), not the
// port the ingress pod binds for it (443 → 8443 on Istio's default ingress). YAML in, the gateway's decision out.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../src/config/load.ts';
import { explain } from '../../src/explain/explain.ts';
import { OfflineSource } from '../../src/explain/offline-source.ts';
import { parseExplainRequest } from '../../src/explain/parse-request.ts';

const yaml = `apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: app}
spec: {selector: {app: nginx}, ports: [{name: https, port: 443}, {name: tcp-db, port: 5432}]}
---
apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: mygateway, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - {port: {number: 443, name: https, protocol: HTTPS}, hosts: [nginx.example.com], tls: {mode: PASSTHROUGH}}
    - {port: {number: 5432, name: tcp-db, protocol: TCP}, hosts: ["*"]}
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: nginx, namespace: app}
spec:
  hosts: [nginx.example.com]
  gateways: [mygateway]
  tls:
    - match: [{port: 443, sniHosts: [nginx.example.com]}]
      route: [{destination: {host: nginx.app.svc.cluster.local, port: {number: 443}}}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: db, namespace: app}
spec:
  hosts: ["*"]
  gateways: [mygateway]
  tcp:
    - match: [{port: 5432}]
      route: [{destination: {host: nginx.app.svc.cluster.local, port: {number: 5432}}}]
`;

test("a gateway's tls and tcp routes match the Gateway server's port, not the port its pod binds", async () => {
  const { resources, diagnostics } = loadText(yaml, 'gw.yaml');
  assert.deepEqual(diagnostics.filter((d) => d.severity === 'error'), []);
  const src = new OfflineSource(resources);
  const tls = await explain(src, { from: 'ingress', request: parseExplainRequest('https://nginx.example.com:443/'), random: () => 0 });
  assert.match(tls.outcome.detail, /outbound\|443\|\|nginx\.app\.svc\.cluster\.local/, tls.outcome.detail);
  const tcp = await explain(src, { from: 'ingress', request: parseExplainRequest('http://db.example.com:5432/'), random: () => 0 });
  assert.match(tcp.outcome.detail, /outbound\|5432\|\|nginx\.app\.svc\.cluster\.local/, tcp.outcome.detail);
});
