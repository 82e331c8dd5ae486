// envoy.filters.http.fault: delay and abort injection (Istio's HTTPFaultInjection).
import type { HttpFilterFactory } from '../../http/filter.ts';
import { createFaultFilterFactory } from './filter.ts';

export { compileFaultConfig, type FaultConfig } from './config.ts';
export { createFaultFilterFactory, FAULT_FILTER_NAME, type FaultDeps, type FaultTimer, realTimer } from './filter.ts';

export const filterFactories: readonly HttpFilterFactory[] = [createFaultFilterFactory()];
