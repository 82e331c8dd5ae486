// typed_per_filter_config compiled once by the owning filter's compiler (keyed by filter name),
// unwrapping Envoy's FilterConfig (`is_optional`, `disabled`). A config no filter claims is refused
// unless it is optional, as Envoy does.
import type { TypedAny } from '../../../xds/any.ts';
import type { HttpFilterFactory } from '../filter.ts';
import type { EnvoyTypedPerFilterConfig } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';

export type PerFilterCompiler = (config: TypedAny) => unknown;
export type PerFilterCompilers = ReadonlyMap<string, PerFilterCompiler>;

/** What `perFilterConfig(name)` returns when a route disables a filter through FilterConfig.disabled. */
export const FILTER_DISABLED: unique symbol = Symbol('outrigger.filter-disabled');

const filterConfigType = 'type.googleapis.com/envoy.config.route.v3.FilterConfig';

/** Builds the compiler map from the registered HTTP filter factories. */
export function perFilterCompilersFrom(factories: readonly HttpFilterFactory[]): PerFilterCompilers {
  const out = new Map<string, PerFilterCompiler>();
  for (const f of factories) {
    const compile = f.compilePerRoute;
    if (compile) out.set(f.name, (config) => compile.call(f, config));
  }
  return out;
}

/** Compiles one level's typed_per_filter_config into `into` (later levels override earlier ones). */
export function compilePerFilterConfig(
  configs: EnvoyTypedPerFilterConfig | undefined,
  compilers: PerFilterCompilers,
  path: string,
  into: Map<string, unknown>,
): void {
  if (!configs) return;
  for (const [name, raw] of Object.entries(configs)) {
    const where = `${path}.typed_per_filter_config[${JSON.stringify(name)}]`;
    let config: TypedAny = raw;
    let optional = false;
    if (raw['@type'] === filterConfigType) {
      optional = raw['is_optional'] === true;
      if (raw['disabled'] === true) {
        into.set(name, FILTER_DISABLED);
        continue;
      }
      config = raw['config'] as TypedAny;
      if (!config || typeof config !== 'object') throw new RouteConfigError(where, 'FilterConfig.config is required');
    }
    const compile = compilers.get(name);
    if (!compile) {
      if (optional) continue;
      throw new RouteConfigError(where, `no HTTP filter named ${name} accepts per-route config`);
    }
    try {
      into.set(name, compile(config));
    } catch (err) {
      throw new RouteConfigError(where, (err as Error).message, { cause: err });
    }
  }
}
