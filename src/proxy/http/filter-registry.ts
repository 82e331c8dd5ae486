// Looks up HttpFilterFactory by Envoy filter name or typed_config type URL. The router is built into
// the connection manager; every other filter is a factory registered here.
import { TypeUrl } from '../../xds/type-urls.ts';
import { ProxyConfigError } from '../config/config-error.ts';
import type { EnvoyFilter } from '../config/envoy-shapes.ts';
import type { NetworkStatsFilter } from '../filters/network-stats.ts';
import type { HttpFilter, HttpFilterFactory } from './filter.ts';
import type { PerFilterCompilers } from './route/index.ts';
import { perFilterCompilersFrom } from './route/index.ts';

export interface ChainedFilter {
  readonly name: string;
  readonly filter: HttpFilter;
}

export class HttpFilterRegistry {
  #byName = new Map<string, HttpFilterFactory>();
  #byType = new Map<string, HttpFilterFactory>();

  constructor(factories: readonly HttpFilterFactory[] = []) {
    for (const f of factories) this.register(f);
  }

  register(factory: HttpFilterFactory): void {
    this.#byName.set(factory.name, factory);
    for (const t of factory.typeUrls) this.#byType.set(t, factory);
  }

  /** Closes every factory that holds something (the telemetry filter's span exporters and log files). */
  async close(): Promise<void> {
    await Promise.all([...new Set(this.#byName.values())].map((f) => f.close?.()));
  }

  factory(nameOrType: string): HttpFilterFactory | undefined {
    return this.#byName.get(nameOrType) ?? this.#byType.get(nameOrType);
  }

  /** Compiles an HCM's http_filters; the router must come last. Unknown filters NACK unless optional. */
  compileChain(filters: readonly EnvoyFilter[], where: string): ChainedFilter[] {
    const out: ChainedFilter[] = [];
    let sawRouter = false;
    filters.forEach((f, i) => {
      const at = `${where}.http_filters[${i}]`;
      const typeUrl = f.typed_config?.['@type'];
      if (sawRouter) throw new ProxyConfigError(at, 'name', `filter ${f.name} after envoy.filters.http.router`);
      if (f.name === 'envoy.filters.http.router' || typeUrl === TypeUrl.Router) {
        sawRouter = true;
        return;
      }
      const factory = this.#factoryFor(f);
      if (!factory) {
        if (f.is_optional) return;
        throw new ProxyConfigError(at, 'typed_config', `unknown HTTP filter ${f.name} (${typeUrl ?? 'no typed_config'})`);
      }
      try {
        out.push({ name: f.name ?? factory.name, filter: factory.create(f.typed_config ?? { '@type': '' }) });
      } catch (err) {
        throw new ProxyConfigError(at, 'typed_config', err instanceof Error ? err.message : String(err));
      }
    });
    if (!sawRouter) throw new ProxyConfigError(where, 'http_filters', 'envoy.filters.http.router must be the last filter');
    return out;
  }

  /** A filter entry's factory: by its TypedStruct's type_url, else its `@type`, else its name. */
  #factoryFor(f: EnvoyFilter): HttpFilterFactory | undefined {
    const typeUrl = f.typed_config?.['@type'];
    const inner = typeUrl === TypeUrl.TypedStruct ? String(f.typed_config?.['type_url'] ?? '') : undefined;
    return (inner && this.factory(inner)) || (typeUrl && this.factory(typeUrl)) || this.factory(f.name ?? '');
  }

  /**
   * A network filter entry one of these factories also compiles (`istio.stats` on a TCP chain): `null`
   * when none does, undefined when it compiles to nothing to do. Throws ProxyConfigError to NACK.
   */
  compileNetwork(f: EnvoyFilter, where: string): NetworkStatsFilter | undefined | null {
    const factory = this.#factoryFor(f);
    if (!factory?.createNetwork) return null;
    try {
      return factory.createNetwork(f.typed_config ?? { '@type': '' });
    } catch (err) {
      throw new ProxyConfigError(where, 'typed_config', err instanceof Error ? err.message : String(err));
    }
  }

  /** typed_per_filter_config compilers for the route library, keyed by filter name. */
  perFilterCompilers(): PerFilterCompilers {
    return perFilterCompilersFrom([...this.#byName.values()]);
  }
}
