// PASSTHROUGH (Envoy's CLUSTER_PROVIDED on an ORIGINAL_DST cluster): the host is wherever the
// downstream connection was going. Hosts are kept per address so in-flight counts stay meaningful.
import type { LbContext, LbDeps, LbHost, LbStats, LoadBalancer } from './load-balancer.ts';
import { LbError } from './load-balancer.ts';

export class OriginalDestinationLoadBalancer<H extends LbHost> implements LoadBalancer<H> {
  readonly policy = 'CLUSTER_PROVIDED';
  readonly stats: LbStats = { lb_healthy_panic: 0, upstream_cx_none_healthy: 0 };
  #make: (address: string, port: number) => H;
  #hosts = new Map<string, H>();

  constructor(deps: LbDeps<H>) {
    if (!deps.originalHost) throw new LbError('LB_CONFIG', 'CLUSTER_PROVIDED needs deps.originalHost to build original-destination hosts');
    this.#make = deps.originalHost;
  }

  pick(context?: LbContext): H | null {
    const dst = context?.originalDestination;
    if (!dst) {
      this.stats.upstream_cx_none_healthy++;
      return null;
    }
    const key = `${dst.address}:${dst.port}`;
    let h = this.#hosts.get(key);
    if (!h) {
      h = this.#make(dst.address, dst.port);
      this.#hosts.set(key, h);
    }
    return h;
  }

  /** Original-destination hosts come from connections, not EDS: an update only forgets idle ones. */
  update(): void {
    for (const [k, h] of this.#hosts) if (h.active === 0) this.#hosts.delete(k);
  }

  onRequestStart(host: H): void {
    host.active++;
  }

  onRequestEnd(host: H): void {
    if (host.active > 0) host.active--;
  }
}
