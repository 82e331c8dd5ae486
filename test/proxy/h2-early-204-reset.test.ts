// Review of 05b5f46: an HTTP/2 client whose response completes before its upload is reset with
// RST_STREAM NO_ERROR (Envoy's doEndStream). The reset waits for 'wantTrailers' when a listener for it is
// there; but a response Node ends at its head by itself (204, 304, or any answer to HEAD: respond() forces
// END_STREAM) never emits 'wantTrailers', though writeHead registered a listener for it, so the reset
// never happened and the client went on uploading into a drained stream.
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { until } from '../resilience/fake-clock.ts';
import { cla, cluster, hcm, listener, push, routeConfig, startProxy } from './harness.ts';

for (const status of [204, 304]) {
  test(`an HTTP/2 client whose upload a ${status} completes first is reset with RST_STREAM NO_ERROR`, async (t) => {
    // An HTTP/1.1 app that answers at once, without reading the upload.
    const app = http.createServer((_req, res) => {
      res.writeHead(status);
      res.end();
    });
    await new Promise<void>((r) => app.listen(0, '127.0.0.1', r));
    t.after(() => {
      app.closeAllConnections();
      app.close();
    });
    const proxy = await startProxy();
    t.after(() => proxy.close());
    push(proxy.proxy, [
      cluster('app'),
      cla('app', [{ port: (app.address() as AddressInfo).port }]),
      listener('0.0.0.0_8080', 8080, [{ filter: hcm('http.8080') }]),
      routeConfig('http.8080', [{ domains: ['*'], routes: [{ prefix: '/', cluster: 'app' }] }]),
    ]);
    const session = http2.connect(`http://127.0.0.1:${await proxy.port('0.0.0.0_8080')}`);
    t.after(() => session.destroy());
    session.on('error', () => {});
    const req = session.request({ ':method': 'POST', ':path': '/upload', ':authority': 'app' });
    req.on('error', () => {});
    req.write(Buffer.alloc(1024, 1));
    let got = 0;
    req.on('response', (h) => (got = Number(h[':status'])));
    req.resume();
    await until(() => got === status, `the ${status} reached the client`);
    await until(() => req.closed, "the client's stream is reset though its upload never ended");
    assert.equal(req.rstCode, http2.constants.NGHTTP2_NO_ERROR);
    await until(() => proxy.proxy.inflight === 0, 'nothing left in flight');
  });
}
