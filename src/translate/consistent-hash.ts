// DestinationRule consistentHash → the route's hash_policy (the cluster gets RING_HASH or MAGLEV).
import type { ConsistentHashLB } from '../config/types/networking.ts';
import { istioDuration } from './xds-values.ts';

export function translateHashPolicy(ch: ConsistentHashLB | undefined): Record<string, unknown>[] | undefined {
  if (!ch) return undefined;
  if (ch.httpHeaderName) return [{ header: { header_name: ch.httpHeaderName } }];
  if (ch.httpCookie) {
    const ttl = istioDuration(ch.httpCookie.ttl);
    return [
      {
        cookie: {
          name: ch.httpCookie.name,
          ...(ch.httpCookie.path ? { path: ch.httpCookie.path } : {}),
          ...(ttl ? { ttl } : {}),
          // Istio 1.28+: appended to the cookie the proxy generates (Envoy's makeSetCookieValue).
          ...(ch.httpCookie.attributes?.length ? { attributes: ch.httpCookie.attributes.map((a) => ({ name: a.name, ...(a.value ? { value: a.value } : {}) })) } : {}),
        },
      },
    ];
  }
  if (ch.useSourceIp) return [{ connection_properties: { source_ip: true } }];
  if (ch.httpQueryParameterName) return [{ query_parameter: { name: ch.httpQueryParameterName } }];
  return undefined;
}
