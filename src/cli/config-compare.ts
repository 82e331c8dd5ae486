// `proxy-status PROXY`: what the control plane sent a proxy against what the proxy runs (its admin
// config_dump), per type, as istioctl compares istiod's dump with Envoy's: clusters, listeners and
// routes, without versions and update times, sorted by name; `Clusters Match` or a unified diff.
import { canonicalize } from '../xds/any.ts';
import { envoyJson, structForm } from '../xds/envoy-json.ts';
import { unifiedDiff } from './unified-diff.ts';

type Obj = Record<string, unknown>;
export type ConfigDump = { configs: Obj[] };

export interface TypeComparison {
  /** `Clusters`, `Listeners` or `Routes`, as istioctl words it. */
  type: string;
  match: boolean;
  /** The unified diff, control plane (`---`) to proxy (`+++`); '' when they match. */
  diff: string;
  /** Routes only: when the proxy last loaded a route configuration (ISO). */
  lastLoaded?: string;
}

/** What istioctl compares: the section, its list, and where the resource sits in each entry. */
const compared = [
  { type: 'Clusters', section: 'ClustersConfigDump', list: 'dynamic_active_clusters', path: ['cluster'] },
  { type: 'Listeners', section: 'ListenersConfigDump', list: 'dynamic_listeners', path: ['active_state', 'listener'] },
  { type: 'Routes', section: 'RoutesConfigDump', list: 'dynamic_route_configs', path: ['route_config'] },
] as const;

function entries(dump: ConfigDump, section: string, list: string): Obj[] {
  const s = dump.configs.find((c) => String(c['@type']).endsWith(`.${section}`));
  const items = s?.[list];
  return Array.isArray(items) ? (items as Obj[]) : [];
}

function resourceAt(entry: Obj, path: readonly string[]): Obj | undefined {
  let v: unknown = entry;
  for (const key of path) v = (v as Obj | undefined)?.[key];
  return typeof v === 'object' && v !== null ? (v as Obj) : undefined;
}

/**
 * A resource as its protobuf encoding has it: the control plane's objects (numbers where the wire has
 * 64-bit strings, fields at their default) and the proxy's decoded ones then print alike. Struct values
 * (metadata) may come in either form, plain JSON as the proxy's admin API prints them or protobuf's
 * `{fields}` as the control plane's dump has them: both sides are put in protobuf's form first.
 */
function canonical(resource: Obj): Obj {
  const type = resource['@type'];
  if (typeof type !== 'string') return resource;
  try {
    return canonicalize(type, structForm(type, resource));
  } catch {
    return resource; // not encodable: compared as it is, so the difference still shows
  }
}

/** One side's section as compared: entries without versions or update times, sorted by resource name. */
function comparable(dump: ConfigDump, c: (typeof compared)[number]): string[] {
  const resources = entries(dump, c.section, c.list)
    .map((e) => resourceAt(e, c.path))
    .filter((r): r is Obj => r !== undefined)
    .map(canonical)
    // By name in byte order, as istioctl sorts.
    .sort((a, b) => (String(a['name']) < String(b['name']) ? -1 : String(a['name']) > String(b['name']) ? 1 : 0));
  const wrap = (r: Obj): Obj => (c.path.length === 2 ? { name: r['name'], active_state: { listener: r } } : { [c.path[0]]: r });
  return JSON.stringify(envoyJson({ [c.list]: resources.map(wrap) }), null, 2).split('\n');
}

/** The newest `last_updated` of the proxy's route configurations. */
function lastLoaded(dump: ConfigDump): string | undefined {
  const times = entries(dump, 'RoutesConfigDump', 'dynamic_route_configs')
    .map((e) => Date.parse(String(e['last_updated'])))
    .filter((t) => !Number.isNaN(t));
  return times.length ? new Date(Math.max(...times)).toISOString() : undefined;
}

export function compareConfigDumps(controlPlane: ConfigDump, proxy: ConfigDump): TypeComparison[] {
  return compared.map((c) => {
    // istioctl's context, 7 lines around each change.
    const diff = unifiedDiff(comparable(controlPlane, c), comparable(proxy, c), `Control Plane ${c.type}`, `Proxy ${c.type}`, 7);
    const loaded = c.type === 'Routes' ? lastLoaded(proxy) : undefined;
    return { type: c.type, match: diff === '', diff, ...(loaded ? { lastLoaded: loaded } : {}) };
  });
}

/** istioctl's text: `Clusters Match`, `Listeners Match`, `Routes Match (RDS last loaded at ...)`, or the diff. */
export function renderComparison(types: readonly TypeComparison[]): string {
  let out = '';
  for (const t of types) {
    const loaded = t.lastLoaded ? ` (RDS last loaded at ${new Date(t.lastLoaded).toUTCString()})` : '';
    if (t.type === 'Routes') out += `Routes ${t.match ? 'Match' : "Don't Match"}${loaded}\n`;
    else if (t.match) out += `${t.type} Match\n`;
    if (!t.match) out += `${t.diff}\n`;
  }
  return out;
}
