// The fault filter: delays (flag DI) and aborts (flag FI) a share of requests, per listener config or
// the route's override. Randomness and the timer are injected so tests decide outcomes and never sleep.
import { CONTINUE, type FilterVerdict, type HttpFilter, type HttpFilterFactory, type RequestContext } from '../../http/filter.ts';
import { FILTER_DISABLED } from '../../http/route/per-filter-config.ts';
import { TypeUrl } from '../../../xds/type-urls.ts';
import { compileFaultConfig, type FaultConfig } from './config.ts';

export const FAULT_FILTER_NAME = 'envoy.filters.http.fault';

/** Waits for a delay; tests pass a manual timer. */
export interface FaultTimer {
  sleep(ms: number): Promise<void>;
}

export interface FaultDeps {
  /** A draw in [0, 1) per decision. */
  random: () => number;
  timer: FaultTimer;
}

export const realTimer: FaultTimer = {
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms).unref()),
};

class FaultFilter implements HttpFilter {
  readonly #config: FaultConfig;
  readonly #deps: FaultDeps;
  #active = 0;

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
    const delay = config.delay?.fraction.sample(this.#deps.random()) ? config.delay.ms : -1;
    if (delay >= 0) return this.#delayThenAbort(ctx, config, delay);
    return this.#abort(ctx, config);
  }

  async #delayThenAbort(ctx: RequestContext, config: FaultConfig, ms: number): Promise<FilterVerdict> {
    this.#active++;
    ctx.info.responseFlags.add('DI');
    try {
      await this.#deps.timer.sleep(ms);
    } finally {
      this.#active--;
    }
    return this.#abort(ctx, config);
  }

  #abort(ctx: RequestContext, config: FaultConfig): FilterVerdict {
    const abort = config.abort;
    if (abort === null || !abort.fraction.sample(this.#deps.random())) return CONTINUE;
    ctx.info.responseFlags.add('FI');
    ctx.info.responseCodeDetails = 'fault_filter_abort';
    if (abort.grpcStatus !== null) {
      return {
        action: 'respond',
        reply: {
          status: 200,
          flag: 'FI',
          details: 'fault_filter_abort',
          headers: { 'content-type': 'application/grpc', 'grpc-status': String(abort.grpcStatus), 'grpc-message': 'fault filter abort' },
        },
      };
    }
    return {
      action: 'respond',
      reply: { status: abort.httpStatus as number, flag: 'FI', details: 'fault_filter_abort', body: 'fault filter abort' },
    };
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
