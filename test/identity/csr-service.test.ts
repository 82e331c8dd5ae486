// The CSR service over real gRPC: bearer-token authentication, identity binding, TTL request.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { CertificateAuthority } from '../../src/ca/certificate-authority.ts';
import { spiffeIdOf } from '../../src/ca/svid.ts';
import { x509 } from '../../src/ca/x509.ts';
import { BootstrapTokens } from '../../src/controlplane/bootstrap-tokens.ts';
import { addCsrService } from '../../src/controlplane/csr-service.ts';
import { createCsrClient } from '../../src/proxy/tls/csr-client.ts';
import { createWorkloadCsr } from '../../src/proxy/tls/workload-csr.ts';

const tokens = new BootstrapTokens();
const podinfoToken = tokens.issue({ namespace: 'podinfo', serviceAccount: 'podinfo', workload: 'podinfo-0' });
const podinfoId = 'spiffe://cluster.local/ns/podinfo/sa/podinfo';
let server: grpc.Server;
let address: string;
const results: { ok: boolean; code?: string }[] = [];

before(async () => {
  const ca = await CertificateAuthority.ephemeral();
  server = new grpc.Server();
  addCsrService(server, { ca, authenticate: (t) => tokens.verify(t) ?? null, onResult: (r) => results.push(r) });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

after(() => server.forceShutdown());

test('signs the identity bound to the token, with the requested TTL', async () => {
  const client = createCsrClient({ address, token: () => podinfoToken });
  try {
    const { csrPem } = await createWorkloadCsr(podinfoId);
    const chain = await client.sign(csrPem, 120);
    const leaf = new x509.X509Certificate(chain[0]!);
    assert.equal(spiffeIdOf(leaf.rawData), podinfoId);
    assert.equal((leaf.notAfter.getTime() - leaf.notBefore.getTime()) / 1000, 180);
  } finally {
    client.close();
  }
});

test('refuses a caller without a valid token', async () => {
  const client = createCsrClient({ address, token: () => 'or1.forged.token' });
  try {
    const { csrPem } = await createWorkloadCsr(podinfoId);
    await assert.rejects(client.sign(csrPem, 60), { code: 'CSR_FAILED', grpcCode: grpc.status.UNAUTHENTICATED });
  } finally {
    client.close();
  }
});

test('refuses a CSR for another identity than the token proves', async () => {
  const client = createCsrClient({ address, token: () => podinfoToken });
  try {
    const { csrPem } = await createWorkloadCsr('spiffe://cluster.local/ns/istio-system/sa/istiod');
    await assert.rejects(client.sign(csrPem, 60), { code: 'CSR_FAILED', grpcCode: grpc.status.PERMISSION_DENIED });
    assert.equal(results.at(-1)?.code, 'CA_IDENTITY_MISMATCH');
  } finally {
    client.close();
  }
});

test("refuses a TTL above the CA's maximum as istiod does: INVALID_ARGUMENT, saying both", async () => {
  const client = createCsrClient({ address, token: () => podinfoToken });
  try {
    const { csrPem } = await createWorkloadCsr(podinfoId);
    await assert.rejects(client.sign(csrPem, 91 * 24 * 3600), (err: Error & { grpcCode?: number }) => {
      assert.equal(err.grpcCode, grpc.status.INVALID_ARGUMENT);
      assert.match(err.message, /requested TTL 2184h is greater than the max allowed TTL 2160h/);
      return true;
    });
    assert.equal(results.at(-1)?.code, 'CA_BAD_TTL');
  } finally {
    client.close();
  }
});
