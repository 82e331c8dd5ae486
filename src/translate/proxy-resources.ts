// The output of translation for one proxy: every xDS resource it should have, by type URL and name.
// Sidecars get virtualOutbound/virtualInbound/connect_terminate; routers get their Gateway listeners.
import { buildProxyScope, type ProxyScope, sidecarFor } from '../model/proxy-scope.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { TypedAny } from '../xds/any.ts';
import { TypeUrl } from '../xds/type-urls.ts';
import { proxyLocality } from './cluster-locality.ts';
import { buildFallbackClusters, buildOutboundClusters } from './clusters.ts';
import { buildCredentialSecrets, credentialSecretNames, usesCredentials } from './credential-secrets.ts';
import { mergeGatewayServers } from './gateway-servers.ts';
import { buildGatewayListeners } from './listener-gateway.ts';
import { buildInboundClusters, buildInboundListener, type InboundPort, inboundAddressKey, inboundPorts } from './listener-inbound.ts';
import { buildOutboundListener } from './listener-outbound.ts';
import { buildTunnelListener } from './listener-tunnel.ts';
import { meshTranslateOptions } from './default-options.ts';
import type { TranslateOptions } from './options.ts';
import { buildSidecarRouteConfig, httpPorts } from './route-config-sidecar.ts';
import { classicGatewaysOf, policySelects, type SelectablePolicy } from './authorization.ts';
import { telemetrySelectionKey } from './telemetry.ts';

/** type URL → resource name → resource (Envoy canonical JSON, see docs/internals.md §2). */
export type ProxyResources = Map<string, Map<string, TypedAny>>;

/**
 * Work shared between the proxies of one snapshot and one set of options (Istio's XdsCache idea): a
 * value is built once per key and the same objects are handed to every proxy with that key. Whoever
 * holds a memo must drop it when the snapshot or the options change.
 */
export interface TranslationMemo {
  once<T>(key: string, build: () => T): T;
}

/**
 * Kinds that reach only listeners (HTTP and network filters), never clusters, endpoints or routes. A
 * new snapshot that differs from the last only in these may keep the last one's `outputsBeyondListeners`
 * memo entries (test/controlplane/listener-only-kinds.test.ts holds every golden case to this).
 */
export const LISTENER_ONLY_KINDS: ReadonlySet<string> = new Set(['Telemetry', 'AuthorizationPolicy', 'RequestAuthentication']);

/** Memo key prefixes of what does not depend on LISTENER_ONLY_KINDS: clusters, endpoints, sidecar routes. */
export const OUTPUTS_BEYOND_LISTENERS: readonly string[] = ['clusters\0', 'routes\0', 'fallback-clusters', 'selected-label-keys', 'tunnel-listener'];

/** Builds everything directly: no sharing (tests, one-off translation). */
export const noMemo: TranslationMemo = { once: (_key, build) => build() };

export function buildProxyResources(
  snapshot: MeshSnapshot,
  proxy: ProxyView,
  options: TranslateOptions = meshTranslateOptions,
  memo: TranslationMemo = noMemo,
): ProxyResources {
  if (memo !== noMemo && proxy.role === 'sidecar') {
    // Replicas of one workload get the same resources: one translation, the per-type maps shared (a
    // fresh outer map, so callers may add or drop types, never touch a shared map's entries). The key
    // holds everything the scope and scopeKey derive from (namespace, labels, locality), so a replica
    // skips building its scope, which walks every service.
    const all = memo.once(`sidecar\0${proxy.namespace}\0${localityKey(snapshot, proxy)}\0${workloadKey(proxy)}\0${inboundAddressKey(sidecarFor(snapshot, proxy), proxy)}`, () => {
      const scope = buildProxyScope(snapshot, proxy);
      return translateProxy(snapshot, scope, options, memo, scopeKey(snapshot, scope, memo.once('selected-label-keys', () => selectedLabelKeys(snapshot))));
    });
    return new Map(all);
  }
  const scope = buildProxyScope(snapshot, proxy);
  // Without sharing, the key is never read: skip walking every DestinationRule and VirtualService for it.
  const shared = memo === noMemo ? '' : scopeKey(snapshot, scope, memo.once('selected-label-keys', () => selectedLabelKeys(snapshot)));
  return translateProxy(snapshot, scope, options, memo, shared);
}

function localityKey(snapshot: MeshSnapshot, p: ProxyView): string {
  const l = proxyLocality(snapshot, p);
  return l ? `${l.region}/${l.zone ?? ''}/${l.sub_zone ?? ''}` : '';
}

function translateProxy(snapshot: MeshSnapshot, scope: ProxyScope, options: TranslateOptions, memo: TranslationMemo, shared: string): ProxyResources {
  const proxy = scope.proxy;
  const out: ProxyResources = new Map([
    [TypeUrl.Cluster, new Map()],
    [TypeUrl.ClusterLoadAssignment, new Map()],
    [TypeUrl.Listener, new Map()],
    [TypeUrl.RouteConfiguration, new Map()],
  ]);
  const put = (typeUrl: string, key: string, r: Record<string, unknown>) => out.get(typeUrl)?.set(String(r[key]), stamped(typeUrl, r));
  const outbound = memo.once(`clusters\0${shared}`, () => buildOutboundClusters(snapshot, scope, options));
  const fallback = memo.once('fallback-clusters', () => buildFallbackClusters(snapshot.mesh.connectTimeoutMs));
  const sidecar = proxy.role === 'sidecar';
  const ports = sidecar ? inboundPorts(snapshot, scope) : [];
  // The scope's clusters and a sidecar's own inbound ones, as one map per workload. Its key starts as the
  // scope's clusters do, so it outlives changes to listener-only kinds: the encoder sorts and hashes the
  // set again only when some cluster changed.
  out.set(
    TypeUrl.Cluster,
    memo.once(`clusters\0${shared}\0cds\0${sidecar ? `${workloadKey(proxy)}\0${inboundAddressKey(scope.sidecar, proxy)}` : ''}`, () =>
      named(TypeUrl.Cluster, 'name', [...outbound.clusters, ...fallback, ...(sidecar ? buildInboundClusters(snapshot, scope, ports) : [])]),
    ),
  );
  // Load assignments and sidecar routes are the scope's alone: every proxy of the scope gets the same map,
  // so the encoder sorts, hashes and encodes the set once for all of them.
  out.set(TypeUrl.ClusterLoadAssignment, memo.once(`clusters\0${shared}\0map`, () => named(TypeUrl.ClusterLoadAssignment, 'cluster_name', outbound.loadAssignments)));

  if (proxy.role === 'router') {
    const gw = buildGatewayListeners(snapshot, scope, mergeGatewayServers(snapshot, scope), options);
    for (const l of gw.listeners) put(TypeUrl.Listener, 'name', l);
    for (const rc of gw.routeConfigs) put(TypeUrl.RouteConfiguration, 'name', rc);
    addCredentialSecrets(snapshot, proxy, out);
    return out;
  }
  // The outbound listener reads the proxy only through its scope and the Telemetry resources that apply to
  // it (the telemetry filter names no workload): proxies alike in both share it.
  put(TypeUrl.Listener, 'name', memo.once(`outbound-listener\0${shared}\0${telemetrySelectionKey(snapshot, proxy)}`, () => buildOutboundListener(snapshot, scope, options)));
  // The inbound listener reads the proxy only through its namespace, its inbound ports (each with the
  // service its route's span is named by) and the policies that select it (the telemetry filter names no
  // service: inbound clusters carry them). Workloads alike in all three share it.
  const selectors = memo.once('workload-selectors', () => workloadSelectors(snapshot));
  put(TypeUrl.Listener, 'name', memo.once(`inbound-listener\0${inboundKey(snapshot, proxy, ports, selectors)}`, () => buildInboundListener(snapshot, scope, ports, options)));
  put(TypeUrl.Listener, 'name', memo.once('tunnel-listener', () => buildTunnelListener([snapshot.mesh.trustDomain, ...snapshot.mesh.trustDomainAliases])));
  out.set(
    TypeUrl.RouteConfiguration,
    memo.once(`routes\0${shared}`, () => named(TypeUrl.RouteConfiguration, 'name', httpPorts(scope).map((port) => buildSidecarRouteConfig(snapshot, scope, port)))),
  );
  addCredentialSecrets(snapshot, proxy, out);
  return out;
}

/** The `credentialName` Secrets the proxy's listeners and clusters name (see credential-secrets.ts). */
function addCredentialSecrets(snapshot: MeshSnapshot, proxy: ProxyView, out: ProxyResources): void {
  if (!usesCredentials(snapshot)) return;
  const listeners = out.get(TypeUrl.Listener)?.values() ?? [];
  const clusters = out.get(TypeUrl.Cluster)?.values() ?? [];
  const secrets = buildCredentialSecrets(snapshot, proxy, credentialSecretNames([...listeners, ...clusters]));
  if (secrets.length > 0) out.set(TypeUrl.Secret, named(TypeUrl.Secret, 'name', secrets));
}

/** A translated resource with its `@type` set. */
function stamped(typeUrl: string, r: Record<string, unknown>): TypedAny {
  r['@type'] = typeUrl;
  return r as TypedAny;
}

/** Resources of one type by name, each stamped with its `@type`. */
function named(typeUrl: string, key: string, resources: readonly Record<string, unknown>[]): Map<string, TypedAny> {
  const out = new Map<string, TypedAny>();
  for (const r of resources) out.set(String(r[key]), stamped(typeUrl, r));
  return out;
}

/**
 * What a sidecar's translation reads of the proxy besides its scope: its workload name and service
 * account (kept in the key though no builder reads them now), every label (policy and Telemetry
 * selectors, inbound ports) and app ports.
 * Not the pod name, IP or tunnel address: replicas of one Deployment share everything. A builder that
 * starts reading another proxy field must add it here (test/controlplane/translation-memo.test.ts).
 */
export function workloadKey(p: ProxyView): string {
  let k = workloadKeys.get(p);
  if (k === undefined) {
    k = computeWorkloadKey(p);
    workloadKeys.set(p, k);
  }
  return k;
}

/** A connection keeps its ProxyView for its life: its key is computed once. */
const workloadKeys = new WeakMap<ProxyView, string>();

function computeWorkloadKey(p: ProxyView): string {
  const labels = Object.keys(p.labels)
    .sort()
    .map((k) => `${k}=${p.labels[k]}`)
    .join(',');
  const ports = Object.entries(p.appPorts)
    .map(([k, v]) => `${k}:${v}`)
    .join(',');
  return `${p.workloadName}\0${p.serviceAccount}\0${labels}\0${ports}`;
}

/**
 * The kinds whose selection the inbound listener's filters read: mTLS mode per port, the authorization
 * and JWT filters, the telemetry filter. A builder of that listener that starts reading another kind must
 * add it here (test/controlplane/translation-memo.test.ts).
 */
export const INBOUND_POLICY_KINDS: ReadonlySet<string> = new Set(['PeerAuthentication', 'AuthorizationPolicy', 'RequestAuthentication', 'Telemetry']);

/** A policy that picks workloads by `selector.matchLabels` or `targetRef(s)` (validated by its schema). */
type WorkloadSelecting = SelectablePolicy;

/** The snapshot's resources of INBOUND_POLICY_KINDS that pick workloads by label or target reference, in snapshot order. */
export function workloadSelectors(snapshot: MeshSnapshot): WorkloadSelecting[] {
  const out: WorkloadSelecting[] = [];
  for (const r of snapshot.resources) {
    if (!INBOUND_POLICY_KINDS.has(r.kind)) continue;
    const spec = (r as unknown as WorkloadSelecting).spec;
    if (spec.selector?.matchLabels !== undefined || spec.targetRef !== undefined || spec.targetRefs !== undefined) out.push(r as unknown as WorkloadSelecting);
  }
  return out;
}

/**
 * What a sidecar's inbound listener depends on besides the snapshot: its namespace, its inbound ports
 * and their protocols, and which of the workload-selecting resources (`workloadSelectors`) of its own
 * and the root namespace pick it, by label or by `targetRef` to its Gateway API gateway (policies
 * without either apply to the whole namespace, which the key holds), and each
 * port's operation (the span name its route carries: the first service to the port). Not the
 * workload's name, service account, other services or other labels: workloads that differ only there
 * share the listener. A listener builder that starts reading another proxy field must add it here
 * (test/controlplane/translation-memo.test.ts).
 */
export function inboundKey(snapshot: MeshSnapshot, proxy: ProxyView, ports: readonly InboundPort[], selectors: readonly WorkloadSelecting[]): string {
  const root = snapshot.mesh.rootNamespace;
  const picked: number[] = [];
  // The classic Gateways the proxy is an instance of: a targetRef to one of them picks it too.
  const classicGateways = classicGatewaysOf(snapshot.gateways, proxy);
  selectors.forEach((r, i) => {
    if (policySelects(r, { workloadLabels: proxy.labels, namespace: proxy.namespace, rootNamespace: root, trustDomain: snapshot.mesh.trustDomain, port: 0, extensionProviders: [], classicGateways })) picked.push(i);
  });
  return `${proxy.role}\0${proxy.namespace}\0${ports.map((p) => `${p.port}/${p.protocol}/${p.operation ?? ''}`).join(',')}\0${picked.join(',')}`;
}

/**
 * What outbound clusters, their assignments and sidecar route configurations depend on besides the
 * snapshot: the proxy's role, namespace (exportTo, `.` hosts, DestinationRule precedence), Sidecar
 * resource, the labels some config selects on (`labelKeys`: workload-selected DestinationRules,
 * sourceLabels matches, failoverPriority) and locality. Not the pod name, IP, ports, service account
 * or other labels: proxies that differ only there share the result. A builder of these resources that
 * starts reading another proxy field must add it here (test/controlplane/translation-memo.test.ts).
 */
export function scopeKey(snapshot: MeshSnapshot, scope: ProxyScope, labelKeys: ReadonlySet<string>): string {
  const p = scope.proxy;
  const sidecar = scope.sidecar ? `${scope.sidecar.metadata.namespace}/${scope.sidecar.metadata.name}` : '';
  const labels = Object.keys(p.labels)
    .filter((k) => labelKeys.has(k))
    .sort()
    .map((k) => `${k}=${p.labels[k]}`)
    .join(',');
  return `${p.role}\0${p.namespace}\0${sidecar}\0${labels}\0${localityKey(snapshot, p)}`;
}

/**
 * Every label key that a DestinationRule or VirtualService selects proxies by: keys under any
 * `matchLabels` or `sourceLabels`, and the label names of `failoverPriority` entries. Found by walking
 * the specs, so a selector in any nesting (delegates, tcp and tls matches, subsets) counts.
 */
export function selectedLabelKeys(snapshot: MeshSnapshot): Set<string> {
  const keys = new Set<string>();
  const walk = (v: unknown, depth: number): void => {
    if (depth > 32 || !v || typeof v !== 'object') return;
    if (Array.isArray(v)) {
      for (const x of v) walk(x, depth + 1);
      return;
    }
    for (const [k, x] of Object.entries(v)) {
      if ((k === 'matchLabels' || k === 'sourceLabels') && x && typeof x === 'object') for (const l of Object.keys(x)) keys.add(l);
      else if (k === 'failoverPriority' && Array.isArray(x)) for (const e of x) keys.add(String(e).split('=')[0] ?? '');
      else walk(x, depth + 1);
    }
  };
  for (const dr of snapshot.destinationRules) walk(dr.spec, 0);
  for (const vs of snapshot.virtualServiceByKey.values()) walk(vs.spec, 0);
  return keys;
}
