// The fault filter: delays (flag DI) and aborts (flag FI) a share of requests, per listener config or
// the route's override. Randomness and the timer are injected so tests decide outcomes and never sleep.
import { CONTINUE, type FilterVerdict, type HttpFilter, type HttpFilterFactory, type RequestContext } from '../../http/filter.ts';
import { FILTER_DISABLED } from '../../http/route/per-filter-config.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import { compileFaultConfig, type FaultConfig } from './config.ts';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';

/** Arms and disarms a delay's timer (`fn` runs later, never inside `set`); tests pass a manual one. */
export interface FaultTimer {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

export interface FaultDeps {
  /** A draw in [0, 1) per decision. */
  random: () => number;
  timer: FaultTimer;
}

export const realTimer: FaultTimer = {
  set: (fn, ms) => setTimeout(fn, ms).unref(),
  clear: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/** A stream counted as an active fault (Envoy's fault_active_), with its delay's timer while that runs. */
interface ActiveFault {
  timer: unknown;
}

class FaultFilter implements HttpFilter {
  readonly #config: FaultConfig;
  readonly #deps: FaultDeps;
  /** Envoy's active_faults gauge: what max_active_faults bounds. */
  #active = 0;
  readonly #faults = new WeakMap<RequestContext, ActiveFault>();

  constructor(config: FaultConfig, deps: FaultDeps) {
    this.#config = config;
    this.#deps = deps;
  }

  onRequest(ctx: RequestContext): FilterVerdict | Promise<FilterVerdict> {
    const override = ctx.route?.perFilterConfig(FAULT_FILTER_NAME);
    if (override === FILTER_DISABLED) return CONTINUE;
    const config = (override as FaultConfig | undefined) ?? this.#config;
    for (const h of config.headers) if (!h.match(ctx.request)) return CONTINUE;
    if (this.#active >= config.maxActiveFaults) return CONTINUE;
    // Envoy's delayDuration: the percentage is drawn first, and a delay of 0 ms is no delay (no timer,
    // no DI, no active fault); an abort is then decided at once.
    const delay = config.delay?.fraction.sample(this.#deps.random()) ? config.delay.ms : 0;
    if (delay > 0) return this.#delayThenAbort(ctx, config, delay);
    return this.#abort(ctx, config);
  }

  /**
   * Envoy's maybeSetupDelay and postDelayInjection: the stream counts as an active fault from the delay
   * on; when it ends without an abort it stops counting and continues. A stream that ends first has its
   * timer disarmed by onDestroy, and this verdict never settles: nothing after it runs.
   */
  #delayThenAbort(ctx: RequestContext, config: FaultConfig, ms: number): Promise<FilterVerdict> {
    const fault = this.#activate(ctx);
    ctx.info.responseFlags.add('DI');
    return new Promise((resolve) => {
      fault.timer = this.#deps.timer.set(() => {
        fault.timer = undefined;
        const verdict = this.#abort(ctx, config);
        if (verdict === CONTINUE) this.#release(ctx);
        resolve(verdict);
      }, ms);
    });
  }

  /** Envoy's onDestroy: the stream ended while its delay ran; the timer is disarmed and the fault released. */
  onDestroy(ctx: RequestContext): void {
    const fault = this.#faults.get(ctx);
    if (fault?.timer !== undefined) this.#deps.timer.clear(fault.timer);
    this.#release(ctx);
  }

  /** An aborted stream counts as active until it ends, as Envoy's fault_active_ until onDestroy. */
  onDone(ctx: RequestContext): void {
    if (this.#active > 0) this.#release(ctx);
  }

  #activate(ctx: RequestContext): ActiveFault {
    let fault = this.#faults.get(ctx);
    if (fault === undefined) {
      fault = { timer: undefined };
      this.#faults.set(ctx, fault);
      this.#active++;
    }
    return fault;
  }

  #release(ctx: RequestContext): void {
    if (this.#faults.delete(ctx)) this.#active--;
  }

  #abort(ctx: RequestContext, config: FaultConfig): FilterVerdict {
    const abort = config.abort;
    if (abort === null || !abort.fraction.sample(this.#deps.random())) return CONTINUE;
    this.#activate(ctx);
    ctx.info.responseFlags.add('FI');
    ctx.info.responseCodeDetails = 'fault_filter_abort';
    return abort.verdict;
  }
}

/** The fault filter factory with injected randomness and timer. */
export function createFaultFilterFactory(deps: FaultDeps = { random: Math.random, timer: realTimer }): HttpFilterFactory {
  return {
    name: FAULT_FILTER_NAME,
    typeUrls: [TypeUrl.HttpFault],
    create: (config) => new FaultFilter(compileFaultConfig(config), deps),
    compilePerRoute: (config) => compileFaultConfig(config),
  };
}
