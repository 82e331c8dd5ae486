import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compileHeaderMutations } from './header-mutation.ts';

test("a route cannot add mesh-internal request headers (they are the proxy's own); response headers are left to it", () => {
  const m = compileHeaderMutations(
    {
      request_headers_to_add: [
        { header: { key: 'x-outrigger-transport', value: 'tls' } },
        { header: { key: 'X-Outrigger-Peer', value: 'forged' } },
        { header: { key: 'x-tenant', value: 'acme' } },
      ],
      response_headers_to_add: [{ header: { key: 'x-outrigger-note', value: 'kept' } }],
    },
    'RouteConfiguration r',
  );
  const request = new Map<string, string | string[]>();
  m.request.apply(request);
  assert.deepEqual([...request], [['x-tenant', 'acme']]);
  const response = new Map<string, string | string[]>();
  m.response.apply(response);
  assert.deepEqual([...response], [['x-outrigger-note', 'kept']]);
  // Nothing but mesh-internal additions: no mutation at all, so the request takes the fast path.
  assert.equal(compileHeaderMutations({ request_headers_to_add: [{ header: { key: 'x-outrigger-target-port', value: '1' } }] }, 'r').request.empty, true);
});
