// Port protocol decisions as Istio makes them, in particular undeclared server-first ports.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubernetesPortProtocol } from './protocol.ts';

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
