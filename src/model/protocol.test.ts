// Port protocol decisions as Istio makes them, in particular undeclared server-first ports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isHttp2, kubernetesPortProtocol } from './protocol.ts';

test('undeclared well-known server-first ports are TCP (SMTP, DNS, MySQL, MongoDB)', () => {
  for (const port of [25, 53, 3306, 27017]) assert.equal(kubernetesPortProtocol({ name: 'db', port }), 'TCP', String(port));
  assert.equal(kubernetesPortProtocol({ port: 3306 }), 'TCP', 'no name at all');
});

test('a declared protocol wins over the well-known port, and other undeclared ports are detected', () => {
  assert.equal(kubernetesPortProtocol({ name: 'http-admin', port: 3306 }), 'HTTP');
  assert.equal(kubernetesPortProtocol({ name: 'db', appProtocol: 'http2', port: 27017 }), 'HTTP2');
  assert.equal(kubernetesPortProtocol({ name: 'web', port: 8080 }), 'auto');
  assert.equal(kubernetesPortProtocol({ name: 'dns', protocol: 'UDP', port: 53 }), 'UDP');
});

// Istio's ConvertProtocol checks the `grpc-web` prefix (EqualFold) before it cuts the name at its first '-'.
test('a port named grpc-web… is gRPC-Web, not gRPC: the prefix is read before the name is cut at its dash', () => {
  for (const name of ['grpc-web', 'grpc-web-ui', 'GRPC-Web', 'grpc-webui']) assert.equal(kubernetesPortProtocol({ name, port: 8080 }), 'GRPC-WEB', name);
  assert.equal(kubernetesPortProtocol({ name: 'grpc-api', port: 8080 }), 'GRPC');
  assert.equal(kubernetesPortProtocol({ name: 'grpc', port: 8080 }), 'GRPC');
  assert.equal(kubernetesPortProtocol({ name: 'web', appProtocol: 'grpc-web', port: 8080 }), 'GRPC-WEB');
  assert.equal(kubernetesPortProtocol({ name: 'grpc-web', appProtocol: 'http', port: 8080 }), 'HTTP', 'appProtocol first');
});

// Istio's protocol.Instance.IsHTTP2(): HTTP2, GRPC and GRPC-Web.
test('HTTP/2 upstream: HTTP2, GRPC and GRPC-WEB, as Istio IsHTTP2()', () => {
  for (const p of ['HTTP2', 'GRPC', 'GRPC-WEB'] as const) assert.equal(isHttp2(p), true, p);
  for (const p of ['HTTP', 'HTTPS', 'TCP', 'TLS', 'auto'] as const) assert.equal(isHttp2(p), false, p);
});
