// What a proxy says of its stream to the control plane. A NACK is a warning each time. A lost stream is
// one warning when it goes (the proxy keeps serving its last config), its retries are debug, and its
// return is one info line saying how long it was gone: a sidecar cut off from its control plane shows it
// in its log, without a line per retry (Envoy likewise warns of a config stream closed, not of each try).
import type { AdsEvent } from '../xds/ads-client.ts';

export type XdsLogLevel = 'warning' | 'info' | 'debug';

export class XdsStreamLog {
  #address: string;
  #now: () => number;
  /** When the stream was lost, while it is. */
  #lostAt: number | undefined;
  #retries = 0;

  constructor(address: string, now: () => number) {
    this.#address = address;
    this.#now = now;
  }

  /** The line to log for `e`, at its level. */
  line(e: AdsEvent): [XdsLogLevel, string] {
    switch (e.kind) {
      case 'nack':
        return ['warning', `xds ${JSON.stringify(e)}`];
      case 'disconnected':
        if (this.#lostAt === undefined) {
          this.#lostAt = this.#now();
          this.#retries = 0;
          return ['warning', `xDS stream to ${this.#address} closed (${e.reason}); serving the last config received, reconnecting`];
        }
        this.#retries++;
        return ['debug', `xDS stream to ${this.#address}: still closed (${e.reason}), retry ${this.#retries} in ${e.retryInMs} ms`];
      // Back only once the control plane answers: a stream opened to one that is down fails again.
      case 'responding': {
        const lostAt = this.#lostAt;
        this.#lostAt = undefined;
        if (lostAt === undefined) return ['debug', `xds ${JSON.stringify(e)}`];
        return ['info', `xDS stream to ${this.#address} re-established after ${((this.#now() - lostAt) / 1000).toFixed(1)} s`];
      }
      default:
        return ['debug', `xds ${JSON.stringify(e)}`];
    }
  }
}
