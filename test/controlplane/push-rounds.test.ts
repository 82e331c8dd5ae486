// Push rounds over real gRPC: a round works through the connections a batch per event-loop turn, every
// proxy ends on the newest version, and a newer round supersedes an unfinished one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { BootstrapTokens } from '../../src/controlplane/bootstrap-tokens.ts';
import type { TypedAny } from '../../src/xds/any.ts';
import { AdsServer } from '../../src/xds/ads-server.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from './raw-ads-client.ts';

let version = 'v1';
let server: grpc.Server;
let ads: AdsServer;
let address: string;
const tokens = new BootstrapTokens();

before(async () => {
  server = new grpc.Server();
  const cluster = (): TypedAny => ({ '@type': TypeUrl.Cluster, name: `c-${version}`, type: 'STATIC' });
  ads = new AdsServer({ verifyToken: (t) => tokens.verify(t), generate: () => new Map([[TypeUrl.Cluster, new Map([['c', cluster()]])]]), version: () => version, pushBatch: 1 });
  ads.register(server);
  const port = await new Promise<number>((res, rej) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  address = `127.0.0.1:${port}`;
});

after(() => server.forceShutdown());

test('a round reaches every proxy a batch at a time; a newer round supersedes an unfinished one', async () => {
  const clients = ['a', 'b', 'c'].map((w) => new RawAdsClient(address, sidecarNode('shop', `${w}-0`, w, w), tokens.issue({ namespace: 'shop', serviceAccount: w, workload: w })));
  try {
    for (const c of clients) {
      c.subscribe(TypeUrl.Cluster);
      c.ack(await c.next());
    }
    version = 'v2';
    let firstDone = false;
    ads.pushAll(() => {
      firstDone = true;
    });
    assert.equal(ads.pushing, true, 'three connections at one per turn cannot finish synchronously');
    version = 'v3';
    const done = new Promise<void>((resolve) => ads.pushAll(resolve));
    await done;
    assert.equal(ads.pushing, false);
    assert.equal(firstDone, false, 'the superseded round never reports done');
    for (const c of clients) {
      // The first connection got v2 in the first round's synchronous batch, then v3; the others only v3.
      let last = await c.next();
      while (last.version_info !== 'v3') {
        c.ack(last);
        last = await c.next();
      }
      assert.equal(last.version_info, 'v3');
    }
  } finally {
    for (const c of clients) c.close();
  }
});
