// The part each policy supplies: how to pick within one list of hosts (a priority's healthy hosts, one
// locality's, or all of them in panic). Priorities, localities, panic and retries are handled around it.
import type { LbHost } from './load-balancer.ts';

export interface SourcePick {
  /** The request hash after mixing, or null for a random pick. */
  readonly hash: number | null;
  /** 0 for the first pick of a request, then 1, 2... when the retry predicate rejected a host. */
  readonly attempt: number;
}

export interface HostSource<H extends LbHost> {
  pick(p: SourcePick): H | null;
}

export interface SourceFactory<H extends LbHost> {
  /** Hash policies keep keys on hosts: the priority is chosen by the hash, never by a fresh draw. */
  readonly hashBased: boolean;
  /**
   * @param weightOf the effective weight of a host now (endpoint weight, locality share for hash
   *   policies, slow start); dynamic policies call it on every re-queue, hash policies once.
   */
  create(hosts: readonly H[], weightOf: (h: H) => number): HostSource<H>;
}
