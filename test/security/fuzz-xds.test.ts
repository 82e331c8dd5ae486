// Seeded fuzz of the control plane's ADS server with malformed DiscoveryRequests: valid encodings with
// bytes flipped, cut or inserted, random bytes, deeply nested node metadata, unknown type URLs and bogus
// nonces. Oracle, per case: the control plane stays up (no uncaught exception), the stream ends with a
// status or goes on answering, within the deadline; and a well-behaved proxy still gets its clusters
// afterwards. OUTRIGGER_FUZZ_CASES / OUTRIGGER_FUZZ_SEED run more.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { ControlPlane } from '../../src/controlplane/control-plane.ts';
import { toStruct } from '../../src/xds/any.ts';
import { AdsMethod, adsCodec, type DiscoveryRequest } from '../../src/xds/ads-client.ts';
import { TypeUrl } from '../../src/xds/type-urls.ts';
import { RawAdsClient, sidecarNode } from '../controlplane/raw-ads-client.ts';
import { caseRng, fuzzBudget, type Rng } from './fuzz-rng.ts';

const { seed, cases } = fuzzBudget(60);

const uncaught: unknown[] = [];
const onUncaught = (err: unknown): void => {
  uncaught.push(err);
};

let dir: string;
let cp: ControlPlane;
let client: grpc.Client;

before(async () => {
  process.on('uncaughtException', onUncaught);
  dir = await mkdtemp(path.join(tmpdir(), 'or-fuzz-xds-'));
  await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: v1\nkind: Service\nmetadata: {name: echo, namespace: test}\nspec: {selector: {app: echo}, ports: [{name: http, port: 8080}]}\n');
  cp = await ControlPlane.start({ configPaths: [dir], xdsAddress: '127.0.0.1:0', allowAnonymous: true, rescanMs: 0, log: () => {} });
  client = new grpc.Client(cp.xdsAddress, grpc.credentials.createInsecure());
});

after(async () => {
  process.removeListener('uncaughtException', onUncaught);
  client.close();
  await cp.close();
  await rm(dir, { recursive: true });
});

const node = sidecarNode('test', 'web-0', 'web', 'web');
const TYPES = [TypeUrl.Cluster, TypeUrl.Listener, TypeUrl.ClusterLoadAssignment, TypeUrl.RouteConfiguration, TypeUrl.Secret, 'type.googleapis.com/evil', ''];

function valid(rng: Rng, withNode: boolean): Buffer {
  const req: DiscoveryRequest = { type_url: rng.pick(TYPES), resource_names: rng.chance(0.5) ? [] : ['a', 'outbound|8080||echo.test.svc.cluster.local', 'x'.repeat(rng.range(0, 300))] };
  if (withNode) req.node = { id: rng.chance(0.8) ? node.id : rng.pick(['', 'sidecar~', 'router~x~y~z', '~~~']), metadata: toStruct(rng.chance(0.8) ? node.metadata : { NAMESPACE: 5, LABELS: 'x', SERVICE_ACCOUNT: null }) };
  if (rng.chance(0.3)) req.response_nonce = rng.pick(['0', 'bogus', '999999999999']);
  if (rng.chance(0.2)) req.version_info = 'v-unknown';
  if (rng.chance(0.1)) req.error_detail = { code: 3, message: 'nack' };
  return adsCodec.encodeRequest(req);
}

function varint(v: number): number[] {
  const out: number[] = [];
  do {
    out.push((v & 0x7f) | (v >= 0x80 ? 0x80 : 0));
    v = Math.floor(v / 128);
  } while (v > 0);
  return out;
}

/** Protobuf length-delimited field `n` holding `body`. */
function field(n: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(n << 3) | 2, ...varint(body.length)]), body]);
}

/**
 * A request whose node metadata is a Struct nested `depth` levels deep (`{k: {k: ...}}`): sizes worked
 * out from the inside, then each level's prefix written from the outside, in linear time.
 */
function nested(depth: number): Buffer {
  const structs = [0];
  const values: number[] = [0];
  const entries: number[] = [0];
  for (let i = 1; i <= depth; i++) {
    const inner = structs[i - 1] as number;
    values[i] = 1 + varint(inner).length + inner;
    entries[i] = 4 + varint(values[i] as number).length + (values[i] as number);
    structs[i] = 1 + varint(entries[i] as number).length + (entries[i] as number);
  }
  const bytes: number[] = [];
  for (let i = depth; i >= 1; i--) bytes.push(0x0a, ...varint(entries[i] as number), 0x0a, 0x01, 0x6b, 0x12, ...varint(values[i] as number), 0x2a, ...varint(structs[i - 1] as number));
  const struct = Buffer.from(bytes);
  return Buffer.concat([field(2, Buffer.concat([field(1, Buffer.from(node.id)), field(3, struct)])), field(4, Buffer.from(TypeUrl.Cluster))]);
}

function mutate(rng: Rng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  switch (rng.int(5)) {
    case 0:
      for (let k = rng.range(1, 4); k > 0; k--) if (out.length > 0) out[rng.int(out.length)] = rng.int(256);
      return out;
    case 1:
      return out.subarray(0, rng.int(out.length + 1));
    case 2: {
      const at = rng.int(out.length + 1);
      return Buffer.concat([out.subarray(0, at), Buffer.from(Array.from({ length: rng.range(1, 12) }, () => rng.pick([0xff, 0x80, 0x0a, 0x12, 0x22, 0x00, rng.int(256)]))), out.subarray(at)]);
    }
    case 3:
      return Buffer.from(Array.from({ length: rng.range(0, 64) }, () => rng.int(256)));
    default:
      return out;
  }
}

/** One stream: writes `messages`, then half-closes; resolves with how it ended. */
function stream(messages: Buffer[], deadlineMs = 4000): Promise<'status' | 'answered' | 'hung'> {
  return new Promise((resolve) => {
    const call = client.makeBidiStreamRequest(AdsMethod, (b: Buffer) => b, (b: Buffer) => b, new grpc.Metadata());
    let answered = false;
    const timer = setTimeout(() => {
      call.cancel();
      resolve(answered ? 'answered' : 'hung');
    }, deadlineMs);
    call.on('data', () => {
      // A response is an answer: the stream goes on serving, which a proxy keeps open on purpose.
      answered = true;
      clearTimeout(timer);
      call.cancel();
      resolve('answered');
    });
    call.on('error', () => {});
    call.on('status', () => {
      clearTimeout(timer);
      resolve(answered ? 'answered' : 'status');
    });
    for (const m of messages) call.write(m);
    call.end();
  });
}

test(`fuzzed ADS requests: ${cases} cases, seed ${seed}`, async () => {
  const tallies = new Map<string, number>();
  const failures: string[] = [];
  const only = process.env['OUTRIGGER_FUZZ_ONLY'];
  for (let i = only ? Number(only) : 0; i < (only ? Number(only) + 1 : cases) && failures.length < 5; i++) {
    const rng = caseRng(seed, i);
    const messages: Buffer[] = [];
    if (rng.chance(0.1)) messages.push(nested(rng.pick([64, 1000, 20_000])));
    for (let k = rng.range(1, 4); k > 0; k--) messages.push(rng.chance(0.7) ? mutate(rng, valid(rng, k === 1 || rng.chance(0.3))) : valid(rng, k === 1));
    const outcome = await stream(messages);
    tallies.set(outcome, (tallies.get(outcome) ?? 0) + 1);
    // A stream the server neither answers nor ends is held open by design (a proxy waiting for config
    // it has not subscribed to); only a stream that was never decoded must end, so 'hung' is counted, not failed.
    if (uncaught.length > 0) failures.push(`uncaught after case ${i}: ${String(uncaught[0])}`);
  }
  if (process.env['OUTRIGGER_FUZZ_VERBOSE']) console.log(Object.fromEntries(tallies));
  assert.deepEqual(failures, []);
  // A well-behaved proxy still gets its clusters.
  const c = new RawAdsClient(cp.xdsAddress, node);
  try {
    c.subscribe(TypeUrl.Cluster);
    assert.equal((await c.next()).type_url, TypeUrl.Cluster);
  } finally {
    c.close();
  }
});
