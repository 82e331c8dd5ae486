// filter_disabled on the inspectors: declared ports skip sniffing, undeclared ones keep it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileDetection, detectionFor } from './detect-protocol.ts';
import { compilePredicate, PredicateError } from './filter-disabled.ts';

test('port ranges are end-exclusive and combine with or / and / not / any', () => {
  const p = compilePredicate({ or_match: { rules: [{ destination_port_range: { start: 3306, end: 3307 } }, { destination_port_range: { start: 9000, end: 9010 } }] } });
  assert.deepEqual([3306, 3307, 9000, 9009, 9010, 8080].map(p), [true, false, true, true, false, false]);
  assert.equal(compilePredicate({ not_match: { destination_port_range: { start: 1, end: 100 } } })(50), false);
  assert.equal(compilePredicate({ and_match: { rules: [{ any_match: true }, { destination_port_range: { start: 5, end: 6 } }] } })(5), true);
  assert.throws(() => compilePredicate({}), PredicateError);
});

test('a port both inspectors skip has no detection; the others keep theirs', () => {
  const off = { destination_port_range: { start: 3306, end: 3307 } };
  const d = compileDetection({
    listener_filters: [
      { name: 'envoy.filters.listener.tls_inspector', filter_disabled: off },
      { name: 'envoy.filters.listener.http_inspector', filter_disabled: off },
    ],
    listener_filters_timeout: { seconds: '0' },
    continue_on_listener_filters_timeout: true,
  });
  assert.equal(detectionFor(d, 3306), undefined);
  assert.deepEqual({ ...detectionFor(d, 8080), httpDisabled: undefined, tlsDisabled: undefined }, { http: true, tls: true, timeoutMs: 0, continueOnTimeout: true, httpDisabled: undefined, tlsDisabled: undefined });
});
