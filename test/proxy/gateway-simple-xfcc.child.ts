// Run with NODE_EXTRA_CA_CERTS=<public CA> (stands for any CA in Node's default root store).
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { makeCa } from './certs.ts';
import { appEntry, routeToApp, secret, startGateway } from './gateway-tls-fixture.ts';

const dir = process.argv[2] as string;
const ca = await makeCa('gw-ca');
const web = await ca.issueWithSans(['m', 's'].map((h) => ({ type: 'dns' as const, value: `${h}.example.com` })));
const { env, app } = await startGateway((appPort) => `${secret('m-cert', web, ca.ca)}${secret('s-cert', web)}apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: gw, namespace: app}
spec:
  selector: {istio: ingressgateway}
  servers:
    - port: {number: 443, name: https-m, protocol: HTTPS}
      hosts: [m.example.com]
      tls: {mode: MUTUAL, credentialName: m-cert}
    - port: {number: 443, name: https-s, protocol: HTTPS}
      hosts: [s.example.com]
      tls: {mode: SIMPLE, credentialName: s-cert}
---
${appEntry(appPort)}---
${routeToApp('app', ['m.example.com', 's.example.com'])}`);
const port = await env.port('0.0.0.0_8443');
const body: string = await new Promise((resolve, reject) => {
  const req = https.request({ host: '127.0.0.1', port, servername: 's.example.com', path: '/', headers: { host: 's.example.com' }, rejectUnauthorized: false, agent: false, cert: readFileSync(`${dir}/client.pem`, 'utf8'), key: readFileSync(`${dir}/client.key`, 'utf8') }, (res) => {
    let b = '';
    res.on('data', (c) => (b += c));
    res.on('end', () => resolve(`${res.statusCode} ${b}`));
  });
  req.on('error', reject);
  req.end();
});
console.log(body);
await env.close();
app.server.close();
