// Istio's VirtualService rules of pkg/config/validation that need more than a field's type: a retry
// policy beside `attempts: 0` (validateHTTPRetry) and a gRPC abort status outside SupportedGRPCStatus
// (validateGRPCStatus). Each invalid document yields its code at its field and is not loaded.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadText } from '../load.ts';

const vs = (http: string) => `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: r, namespace: default}
spec:
  hosts: [reviews]
  http:
  - route: [{destination: {host: reviews}}]
${http}
`;

test('retries: perTryTimeout, retryOn or retryRemoteLocalities with attempts 0 or unset is an error, as in Istio', () => {
  const invalid: [http: string, field: string, line: number][] = [
    ['    retries: {perTryTimeout: 2s, retryOn: 5xx}', 'spec.http[0].retries', 8],
    ['    retries: {attempts: 0, retryOn: 5xx}', 'spec.http[0].retries.attempts', 8],
    ['    retries: {attempts: 0, retryRemoteLocalities: false}', 'spec.http[0].retries.attempts', 8],
  ];
  for (const [http, field, line] of invalid) {
    const { resources, diagnostics } = loadText(vs(http), 'vs.yaml');
    const hit = diagnostics.find((d) => d.code === 'OR1024' && d.field === field);
    assert.ok(hit, `${http}: want OR1024 at ${field}; got ${diagnostics.map((d) => `${d.code}@${d.field}`).join(', ')}`);
    assert.match(hit.message, /^http retry policy configured when attempts are set to 0 \(disabled\)/);
    assert.equal(hit.severity, 'error');
    assert.equal(hit.span?.start.line, line);
    assert.equal(resources.length, 0, http);
  }
  // attempts alone (0 disables retries), or with retryIgnorePreviousHosts / backoff, or above 0: valid.
  for (const http of ['    retries: {attempts: 0}', '    retries: {retryIgnorePreviousHosts: true, backoff: 10ms}', '    retries: {attempts: 2, perTryTimeout: 1s, retryOn: 5xx}']) {
    const { resources, diagnostics } = loadText(vs(http), 'vs.yaml');
    assert.deepEqual(diagnostics.map((d) => `${d.code}@${d.field}: ${d.message}`), [], http);
    assert.equal(resources.length, 1);
  }
});

test("fault.abort.grpcStatus: only Istio's SupportedGRPCStatus names, exactly; the error lists them and guesses the typo", () => {
  for (const status of ['UNAVALIABLE', 'unavailable', '14']) {
    const { resources, diagnostics } = loadText(vs(`    fault: {abort: {grpcStatus: "${status}", percentage: {value: 100}}}`), 'vs.yaml');
    const hit = diagnostics.find((d) => d.field === 'spec.http[0].fault.abort.grpcStatus');
    assert.ok(hit, `${status}: ${diagnostics.map((d) => `${d.code}@${d.field}`).join(', ')}`);
    assert.equal(hit.code, 'OR1023');
    assert.equal(hit.severity, 'error');
    assert.match(hit.message, /use one of OK, CANCELLED, UNKNOWN, .*, UNAVAILABLE, DATA_LOSS, UNAUTHENTICATED$/);
    assert.equal(resources.length, 0);
    if (status === 'UNAVALIABLE') assert.equal(hit.fix, 'did you mean "UNAVAILABLE"?');
  }
  const { resources, diagnostics } = loadText(vs('    fault: {abort: {grpcStatus: UNAVAILABLE, percentage: {value: 100}}}'), 'vs.yaml');
  assert.deepEqual(diagnostics, []);
  assert.equal(resources.length, 1);
});

test("headers: pseudo-headers and host where Istio's validateHTTPRoute refuses them, at their field", () => {
  const invalid: [http: string, field: string, message: string][] = [
    // request remove, response set/add/remove: ValidateHTTPHeaderOperationName.
    ['    headers: {request: {remove: [x-ok, Host]}}', 'spec.http[0].headers.request.remove[1]', 'invalid header "Host": cannot set Host header'],
    ['    headers: {request: {remove: [":authority"]}}', 'spec.http[0].headers.request.remove[0]', 'invalid header ":authority": header cannot have ":" prefix'],
    ['    headers: {response: {set: {host: a}}}', 'spec.http[0].headers.response.set.host', 'invalid header "host": cannot set Host header'],
    ['    headers: {response: {add: {":status": "200"}}}', 'spec.http[0].headers.response.add.:status', 'invalid header ":status": header cannot have ":" prefix'],
    ['    headers: {response: {remove: [HOST]}}', 'spec.http[0].headers.response.remove[0]', 'invalid header "HOST": cannot set Host header'],
    // request set/add: ValidateHTTPHeaderWithAuthorityOperationName (":authority" and host rewrite the authority).
    ['    headers: {request: {set: {":path": /x}}}', 'spec.http[0].headers.request.set.:path', 'invalid header ":path": header cannot have ":" prefix'],
    // The same rules on a weighted destination (validateHTTPRouteDestinations).
    ['  - route: [{destination: {host: reviews}, headers: {response: {remove: [":status"]}}}]', 'spec.http[1].route[0].headers.response.remove[0]', 'invalid header ":status": header cannot have ":" prefix'],
    ['  - route: [{destination: {host: reviews}, headers: {request: {remove: [host]}}}]', 'spec.http[1].route[0].headers.request.remove[0]', 'invalid header "host": cannot set Host header'],
    // A destination's request set/add: ValidateHTTPHeaderWithHostOperationName, `host` allowed but every
    // ":"-name refused, ":authority" included (Envoy can't rewrite the authority per weighted cluster).
    ['  - route: [{destination: {host: reviews}, headers: {request: {set: {":authority": a.example}}}}]', 'spec.http[1].route[0].headers.request.set.:authority', 'invalid header ":authority": header cannot have ":" prefix'],
    ['  - route: [{destination: {host: reviews}, headers: {request: {add: {":Authority": a.example}}}}]', 'spec.http[1].route[0].headers.request.add.:Authority', 'invalid header ":Authority": header cannot have ":" prefix'],
    ['  - route: [{destination: {host: reviews}, headers: {request: {set: {":path": /x}}}}]', 'spec.http[1].route[0].headers.request.set.:path', 'invalid header ":path": header cannot have ":" prefix'],
  ];
  for (const [http, field, message] of invalid) {
    const { resources, diagnostics } = loadText(vs(http), 'vs.yaml');
    const hit = diagnostics.find((d) => d.field === field);
    assert.ok(hit, `${http}: want an error at ${field}; got ${diagnostics.map((d) => `${d.code}@${d.field}`).join(', ')}`);
    assert.equal(hit.code, 'OR1024');
    assert.equal(hit.severity, 'error');
    assert.equal(hit.message, message);
    assert.equal(resources.length, 0, http);
  }
  // The authority may be set or added on the request (it becomes the upstream Host), and plain headers anywhere.
  const valid = '    headers: {request: {set: {":authority": a.example, x-a: "1"}, add: {Host: b.example}, remove: [x-b]}, response: {set: {x-c: "1"}, add: {x-d: "2"}, remove: [server]}}';
  const { resources, diagnostics } = loadText(vs(valid), 'vs.yaml');
  assert.deepEqual(diagnostics.map((d) => `${d.code}@${d.field}: ${d.message}`), []);
  assert.equal(resources.length, 1);
  // A destination may set or add `host` (WithHost), in any case.
  const dest = '  - route: [{destination: {host: reviews}, headers: {request: {set: {host: a.example, x-a: "1"}, add: {Host: b.example}}}}]';
  const d = loadText(vs(dest), 'vs.yaml');
  assert.deepEqual(d.diagnostics.map((x) => `${x.code}@${x.field}: ${x.message}`), []);
  assert.equal(d.resources.length, 1);
});
