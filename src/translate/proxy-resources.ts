// The output of translation for one proxy: every xDS resource it should have, by type URL and name.
// PROVISIONAL body: the translation owner replaces `buildProxyResources`; keep its signature.
import type { MeshSnapshot } from '../model/snapshot.ts';
import type { ProxyView } from '../model/proxy-view.ts';
import type { TypedAny } from '../xds/any.ts';

/** type URL → resource name → resource (Envoy canonical JSON, see docs/internals.md §2). */
export type ProxyResources = Map<string, Map<string, TypedAny>>;

export function buildProxyResources(snapshot: MeshSnapshot, proxy: ProxyView): ProxyResources {
  void snapshot;
  void proxy;
  return new Map();
}
