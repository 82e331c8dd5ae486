// envoy.filters.http.cors: Istio's CorsPolicy, per route.
import type { HttpFilterFactory } from '../../http/filter.ts';
import { createCorsFilterFactory } from './filter.ts';

export { type CorsPolicy, compileCorsPolicy, originAllowed } from './config.ts';
export { CORS_FILTER_NAME, createCorsFilterFactory } from './filter.ts';

export const filterFactories: readonly HttpFilterFactory[] = [createCorsFilterFactory()];
