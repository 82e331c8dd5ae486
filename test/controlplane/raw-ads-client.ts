// A bare ADS client for tests: sends exactly the requests a test writes and queues every response, so
// ACK, NACK, stale nonces and back-pressure can be driven by hand.
import * as grpc from '@grpc/grpc-js';
import { toStruct } from '../../src/xds/any.ts';
import type { DiscoveryRequest, DiscoveryResponse } from '../../src/xds/ads-client.ts';
import { AdsMethod, adsCodec } from '../../src/xds/ads-client.ts';

export interface RawNode {
  id: string;
  metadata: Record<string, unknown>;
}

export function sidecarNode(ns: string, pod: string, sa: string, workload: string, extra: Record<string, unknown> = {}): RawNode {
  return {
    id: `sidecar~127.0.0.1~${pod}.${ns}~${ns}.svc.cluster.local`,
    metadata: { NAMESPACE: ns, SERVICE_ACCOUNT: sa, WORKLOAD_NAME: workload, LABELS: { app: workload }, ...extra },
  };
}

export class RawAdsClient {
  readonly client: grpc.Client;
  readonly call: grpc.ClientDuplexStream<DiscoveryRequest, DiscoveryResponse>;
  #queue: DiscoveryResponse[] = [];
  #waiters: ((r: DiscoveryResponse) => void)[] = [];
  readonly status: Promise<grpc.StatusObject>;
  #node: RawNode;
  #sentNode = false;

  /** `tls`: credentials and channel options for the TLS xDS port (plaintext without). */
  constructor(address: string, node: RawNode, token?: string, tls?: { credentials: grpc.ChannelCredentials; options: grpc.ChannelOptions }) {
    this.#node = node;
    this.client = new grpc.Client(address, tls?.credentials ?? grpc.credentials.createInsecure(), tls?.options ?? {});
    const md = new grpc.Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    this.call = this.client.makeBidiStreamRequest(AdsMethod, adsCodec.encodeRequest, adsCodec.decodeResponse, md);
    this.call.on('data', (r: DiscoveryResponse) => {
      const w = this.#waiters.shift();
      if (w) w(r);
      else this.#queue.push(r);
    });
    this.call.on('error', () => {});
    this.status = new Promise((resolve) => this.call.on('status', resolve));
  }

  send(req: Omit<DiscoveryRequest, 'node'>): void {
    const full: DiscoveryRequest = { ...req };
    if (!this.#sentNode) {
      full.node = { id: this.#node.id, metadata: toStruct(this.#node.metadata) };
      this.#sentNode = true;
    }
    this.call.write(full);
  }

  subscribe(typeUrl: string, names: string[] = []): void {
    this.send({ type_url: typeUrl, resource_names: names });
  }

  ack(res: DiscoveryResponse, names: string[] = []): void {
    this.send({ type_url: res.type_url, version_info: res.version_info, response_nonce: res.nonce, resource_names: names });
  }

  nack(res: DiscoveryResponse, previousVersion: string, message: string, names: string[] = []): void {
    this.send({ type_url: res.type_url, version_info: previousVersion, response_nonce: res.nonce, resource_names: names, error_detail: { code: 3, message } });
  }

  /**
   * Waits until the server has handled everything sent so far: a fresh subscription to a route name
   * nobody has is answered in order, after any earlier push.
   */
  async barrier(): Promise<void> {
    this.subscribe('type.googleapis.com/envoy.config.route.v3.RouteConfiguration', ['barrier']);
    const others: DiscoveryResponse[] = [];
    for (let i = 0; i < 20; i++) {
      const r = this.#queue.length > others.length ? (this.#queue[others.length] as DiscoveryResponse) : await this.#nextFresh();
      if (r.type_url.endsWith('RouteConfiguration') && !others.includes(r)) {
        this.#queue = this.#queue.filter((x) => x !== r);
        return;
      }
      if (!this.#queue.includes(r)) this.#queue.push(r);
      others.push(r);
    }
  }

  #nextFresh(): Promise<DiscoveryResponse> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(Object.assign(new Error('no barrier response'), { code: 'TEST_TIMEOUT' })), 5000);
      this.#waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  /** The next response, or a rejection after `ms` (the only bound on a wait in tests). */
  next(ms = 5000): Promise<DiscoveryResponse> {
    const r = this.#queue.shift();
    if (r) return Promise.resolve(r);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(done), 1);
        reject(Object.assign(new Error(`no ADS response within ${ms} ms`), { code: 'TEST_TIMEOUT' }));
      }, ms);
      const done = (x: DiscoveryResponse) => {
        clearTimeout(t);
        resolve(x);
      };
      this.#waiters.push(done);
    });
  }

  get queued(): number {
    return this.#queue.length;
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}
