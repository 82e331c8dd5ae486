import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RouteConfigError } from './route/errors.ts';
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

test("a value written in config is carried as its UTF-8 bytes, as Envoy sends it; NUL, CR and LF are refused", () => {
  const m = compileHeaderMutations({ response_headers_to_add: [{ header: { key: 'x-note', value: 'é€ \u010a' } }, { header: { key: 'x-raw', raw_value: Buffer.from([0xff, 0x41]).toString('base64') } }] }, 'r');
  const response = new Map<string, string | string[]>();
  m.response.apply(response);
  const bytes = (v: string | string[] | undefined) => [...Buffer.from(String(v), 'latin1')];
  assert.deepEqual(bytes(response.get('x-note')), [...Buffer.from('é€ \u010a', 'utf8')]);
  assert.deepEqual(bytes(response.get('x-raw')), [0xff, 0x41], 'raw_value bytes as they are');
  for (const value of ['a\nb', 'a\rb', 'a\0b']) {
    assert.throws(() => compileHeaderMutations({ request_headers_to_add: [{ header: { key: 'x-a', value } }] }, 'r'), RouteConfigError);
  }
});
