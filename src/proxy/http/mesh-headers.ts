// Mesh-internal headers are only trusted from a verified mesh peer; from anywhere else they are
// removed before any filter, route or upstream sees the request.
import type { HeaderMap } from './stream.ts';

/** A mesh-internal field: `x-outrigger-*`, `x-envoy-*`, `x-istio-*` (x-istio-attributes) or `x-forwarded-client-cert`. */
export function isMeshHeader(name: string): boolean {
  return name.startsWith('x-outrigger-') || name.startsWith('x-envoy-') || name.startsWith('x-istio-') || name === 'x-forwarded-client-cert';
}

/** From outside the mesh: removes the mesh-internal fields (isMeshHeader). */
export function stripMeshHeaders(headers: HeaderMap, fromMeshPeer: boolean): void {
  if (fromMeshPeer) return;
  for (const name of headers.keys()) {
    if (isMeshHeader(name)) headers.delete(name);
  }
}
