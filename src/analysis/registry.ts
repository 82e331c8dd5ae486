// Every analyzer `outrigger analyze` runs, in report order.
import type { Analyzer } from './analyzer.ts';
import { authorizationSources } from './analyzers/authorization.ts';
import { deployments } from './analyzers/deployments.ts';
import { destinationRules } from './analyzers/destination-rules.ts';
import { gatewayApiReferences } from './analyzers/gateway-api-references.ts';
import { gatewayApiSelectors } from './analyzers/gateway-api-selectors.ts';
import { gateways } from './analyzers/gateways.ts';
import { injection } from './analyzers/injection.ts';
import { mutualTls } from './analyzers/mtls.ts';
import { portProtocols } from './analyzers/ports.ts';
import { policySelectors } from './analyzers/selectors.ts';
import { serviceEntryProtocols } from './analyzers/service-entry-protocols.ts';
import { sidecars } from './analyzers/sidecars.ts';
import { policyTargetRefs } from './analyzers/target-refs.ts';
import { telemetry } from './analyzers/telemetry.ts';
import { virtualServiceConflicts } from './analyzers/virtual-service-conflicts.ts';
import { virtualServiceDestinations } from './analyzers/virtual-service-destinations.ts';
import { virtualServiceGateways } from './analyzers/virtual-service-gateways.ts';
import { virtualServiceRules } from './analyzers/virtual-service-rules.ts';

export const analyzers: readonly Analyzer[] = [
  virtualServiceDestinations,
  virtualServiceGateways,
  virtualServiceConflicts,
  virtualServiceRules,
  destinationRules,
  mutualTls,
  gateways,
  gatewayApiReferences,
  gatewayApiSelectors,
  policySelectors,
  policyTargetRefs,
  authorizationSources,
  portProtocols,
  serviceEntryProtocols,
  injection,
  deployments,
  sidecars,
  telemetry,
];
