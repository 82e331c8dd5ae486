// The bare translate options build a gateway's TLS as the full ones do (gateway-tls.ts): one gateway
// TLS translation, not a second, older copy without tls_params or credentialNames.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../config/load.ts';
import { buildSnapshot } from '../model/snapshot.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { ingressGatewayView } from '../../test/fixtures/ingress-gateway-view.ts';
import { bareTranslateOptions } from './options.ts';
import { buildProxyResources } from './proxy-resources.ts';

const yaml = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https, protocol: HTTPS}
      hosts: [a.example.com]
      tls: {mode: SIMPLE, credentialNames: [rsa-cert, ec-cert], minProtocolVersion: TLSV1_3}
`;

test('bare options: a gateway server keeps its tls_params and every credentialName', () => {
  const out = buildProxyResources(buildSnapshot(loadText(yaml).resources, [], '1'), ingressGatewayView, bareTranslateOptions);
  const listeners = [...out.values()].flatMap((m) => [...m.values()]).filter((r) => r['@type'] === TypeUrl.Listener);
  const contexts = JSON.stringify(listeners);
  assert.match(contexts, /"tls_minimum_protocol_version":"TLSv1_3"/);
  assert.match(contexts, /rsa-cert/);
  assert.match(contexts, /ec-cert/);
});
