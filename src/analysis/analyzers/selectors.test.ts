// Which selector checks apply to which policy kind: IST0127 is Istio's for AuthorizationPolicy only;
// PeerAuthentication and RequestAuthentication get Outrigger's OR2013; Telemetry gets IST0101.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../../config/load.ts';
import { runAnalyzers } from '../run.ts';
import { shopWithReviews } from '../../../test/fixtures/analysis-shop.ts';

const shop = shopWithReviews();

test('selectors matching nothing: IST0101 for Telemetry, OR2013 for PeerAuthentication and RequestAuthentication, no IST0127', () => {
  const yaml = `${shop}apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: t, namespace: shop }
spec:
  selector: { matchLabels: { app: ratings } }
  metrics: [{ providers: [{ name: prometheus }] }]
---
apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: pa, namespace: shop }
spec:
  selector: { matchLabels: { app: ratings } }
  mtls: { mode: STRICT }
---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: { name: ra, namespace: shop }
spec:
  selector: { matchLabels: { app: ratings } }
  jwtRules: [{ issuer: https://issuer.example }]
`;
  const found = runAnalyzers(loadText(yaml).resources);
  assert.deepEqual(
    found.map((d) => `${d.code} ${d.resource}`),
    ['OR2013 PeerAuthentication shop/pa', 'OR2013 RequestAuthentication shop/ra', 'IST0101 Telemetry shop/t'],
  );
  assert.equal(found.find((d) => d.code === 'IST0101')?.message, 'Referenced selector not found: "app=ratings"');
});
