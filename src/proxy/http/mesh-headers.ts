// Mesh-internal headers are only trusted from a verified mesh peer; from anywhere else they are
// removed before any filter, route or upstream sees the request.
import type { HeaderMap } from './stream.ts';

/** From outside the mesh: removes `x-outrigger-*`, `x-envoy-*`, `x-istio-*` and `x-forwarded-client-cert`. */
export function stripMeshHeaders(headers: HeaderMap, fromMeshPeer: boolean): void {
  if (fromMeshPeer) return;
  for (const name of headers.keys()) {
    if (name.startsWith('x-outrigger-') || name.startsWith('x-envoy-') || name.startsWith('x-istio-') || name === 'x-forwarded-client-cert') {
      headers.delete(name);
    }
  }
}
