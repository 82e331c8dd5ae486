// The effective server-side mTLS mode of a workload port from PeerAuthentication, as Istio computes it:
// workload (selector, outside the root namespace) > namespace > mesh (root namespace, no selector);
// UNSET inherits; port level overrides the workload policy; among conflicting policies at one level
// the oldest wins. Pure.
import type { PeerAuthentication } from '../config/resource.ts';
import type { MutualTLSMode } from '../config/types/security.ts';

export type EffectiveMtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface MtlsTarget {
  namespace: string;
  labels: Readonly<Record<string, string>>;
  /** The workload (container) port; omit for the workload-wide mode. */
  port?: number;
}

export interface EffectiveMtls {
  mode: EffectiveMtlsMode;
  /** `Kind namespace/name` of the policy that decided, or `default` (Istio's PERMISSIVE default). */
  decidedBy: string;
  level: 'default' | 'mesh' | 'namespace' | 'workload' | 'port';
}

function hasSelector(pa: PeerAuthentication): boolean {
  return Object.keys(pa.spec.selector?.matchLabels ?? {}).length > 0;
}

function selects(pa: PeerAuthentication, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(pa.spec.selector?.matchLabels ?? {}).every(([k, v]) => labels[k] === v);
}

/** Oldest first: lower resourceVersion (creation order in a store), then input order (files), then name. */
function oldest(list: readonly { pa: PeerAuthentication; index: number }[]): PeerAuthentication | undefined {
  const version = (pa: PeerAuthentication) => Number(pa.metadata.resourceVersion ?? '0') || 0;
  return [...list].sort((a, b) => version(a.pa) - version(b.pa) || a.index - b.index || a.pa.metadata.name.localeCompare(b.pa.metadata.name))[0]?.pa;
}

function set(mode: MutualTLSMode | undefined): mode is EffectiveMtlsMode {
  return mode !== undefined && mode !== 'UNSET';
}

const key = (pa: PeerAuthentication) => `PeerAuthentication ${pa.metadata.namespace}/${pa.metadata.name}`;

export function effectiveMtls(
  policies: readonly PeerAuthentication[],
  target: MtlsTarget,
  rootNamespace = 'istio-system',
): EffectiveMtls {
  const indexed = policies.map((pa, index) => ({ pa, index }));
  const mesh = oldest(indexed.filter(({ pa }) => pa.metadata.namespace === rootNamespace && !hasSelector(pa)));
  const namespace =
    target.namespace === rootNamespace
      ? undefined
      : oldest(indexed.filter(({ pa }) => pa.metadata.namespace === target.namespace && !hasSelector(pa)));
  // As Istio's ComposePeerAuthentication: a policy with a selector is workload-level only outside the
  // root namespace ("the one with selector and not in root namespace"); one in the root namespace is
  // neither mesh- nor workload-level, and applies to nothing.
  const workload = oldest(
    indexed.filter(
      ({ pa }) => pa.metadata.namespace === target.namespace && pa.metadata.namespace !== rootNamespace && hasSelector(pa) && selects(pa, target.labels),
    ),
  );
  let result: EffectiveMtls = { mode: 'PERMISSIVE', decidedBy: 'default', level: 'default' };
  if (mesh && set(mesh.spec.mtls?.mode)) result = { mode: mesh.spec.mtls.mode, decidedBy: key(mesh), level: 'mesh' };
  if (namespace && set(namespace.spec.mtls?.mode)) {
    result = { mode: namespace.spec.mtls.mode, decidedBy: key(namespace), level: 'namespace' };
  }
  if (workload && set(workload.spec.mtls?.mode)) {
    result = { mode: workload.spec.mtls.mode, decidedBy: key(workload), level: 'workload' };
  }
  // Port-level settings only count on a policy with a selector (Istio ignores them elsewhere).
  if (workload && target.port !== undefined) {
    const portMode = workload.spec.portLevelMtls?.[String(target.port)]?.mode;
    if (set(portMode)) result = { mode: portMode, decidedBy: key(workload), level: 'port' };
  }
  return result;
}

/** Whether a plaintext client may reach the port. */
export function acceptsPlaintext(mode: EffectiveMtlsMode): boolean {
  return mode !== 'STRICT';
}

/** Whether a mesh mTLS client may reach the port (DISABLE serves plaintext only). */
export function acceptsMtls(mode: EffectiveMtlsMode): boolean {
  return mode !== 'DISABLE';
}
