// Reads and validates the `istio.stats` TypedStruct into a TelemetryFilterConfig; every problem is
// reported with its field path, and any problem NACKs the listener.
import type { TelemetryFilterConfig, TelemetryWorkloadConfig } from '../../../telemetry/filter-config.ts';
import { readTypedStruct, type TypedAny } from '../../../xds/any.ts';
import { OutriggerExtension } from '../../../xds/type-urls.ts';
import { FilterConfigError } from '../../http/filter.ts';

// A hand-written checker rather than a schema library: the proxy needs only this one, and zod would
// cost every sidecar about 15 MB resident. Each check adds `path: problem` for what is wrong.
type Check = (value: unknown, at: string, problems: string[]) => void;

const where = (at: string) => at || '(root)';
const join = (at: string, key: string | number) => (at ? `${at}.${key}` : String(key));

const string =
  (o: { nonEmpty?: boolean; startsWith?: string } = {}): Check =>
  (v, at, p) => {
    if (typeof v !== 'string') p.push(`${where(at)}: expected a string`);
    else if (o.nonEmpty && v === '') p.push(`${where(at)}: must not be empty`);
    else if (o.startsWith !== undefined && !v.startsWith(o.startsWith)) p.push(`${where(at)}: must start with "${o.startsWith}"`);
  };

const number =
  (o: { int?: boolean; min?: number; max?: number } = {}): Check =>
  (v, at, p) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) p.push(`${where(at)}: expected a number`);
    else if (o.int && !Number.isSafeInteger(v)) p.push(`${where(at)}: expected an integer`);
    else if (o.min !== undefined && v < o.min) p.push(`${where(at)}: must be at least ${o.min}`);
    else if (o.max !== undefined && v > o.max) p.push(`${where(at)}: must be at most ${o.max}`);
  };

const boolean: Check = (v, at, p) => {
  if (typeof v !== 'boolean') p.push(`${where(at)}: expected a boolean`);
};

const oneOf =
  (...values: string[]): Check =>
  (v, at, p) => {
    if (typeof v !== 'string' || !values.includes(v)) p.push(`${where(at)}: expected one of ${values.map((x) => `"${x}"`).join(', ')}`);
  };

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const arrayOf =
  (item: Check): Check =>
  (v, at, p) => {
    if (!Array.isArray(v)) p.push(`${where(at)}: expected an array`);
    else for (const [i, x] of v.entries()) item(x, join(at, i), p);
  };

/** One item, or a list of them (a repeated field whose single item may stand alone). */
const oneOrMany =
  (item: Check): Check =>
  (v, at, p) =>
    Array.isArray(v) ? arrayOf(item)(v, at, p) : item(v, at, p);

const recordOf =
  (item: Check): Check =>
  (v, at, p) => {
    if (!isObject(v)) p.push(`${where(at)}: expected an object`);
    else for (const [k, x] of Object.entries(v)) item(x, join(at, k), p);
  };

/** An object with these fields and no others; `optional` fields may be absent. */
const object =
  (required: Record<string, Check>, optional: Record<string, Check> = {}): Check =>
  (v, at, p) => {
    // Own fields only, on both sides: never one inherited from Object.prototype (`constructor`, `toString`).
    if (!isObject(v)) return void p.push(`${where(at)}: expected an object`);
    for (const [k, check] of Object.entries(required)) {
      if (!Object.hasOwn(v, k) || v[k] === undefined) p.push(`${join(at, k)}: required`);
      else check(v[k], join(at, k), p);
    }
    for (const [k, check] of Object.entries(optional)) if (Object.hasOwn(v, k) && v[k] !== undefined) check(v[k], join(at, k), p);
    for (const k of Object.keys(v)) if (!Object.hasOwn(required, k) && !Object.hasOwn(optional, k)) p.push(`${join(at, k)}: unknown field`);
  };

/** An object with exactly one of these fields. */
const exactlyOne =
  (variants: Record<string, Check>): Check =>
  (v, at, p) => {
    const keys = isObject(v) ? Object.keys(v) : [];
    const [key] = keys;
    if (keys.length !== 1 || key === undefined || !Object.hasOwn(variants, key)) return void p.push(`${where(at)}: expected exactly one of ${Object.keys(variants).join(', ')}`);
    variants[key]?.((v as Record<string, unknown>)[key], join(at, key), p);
  };

const percentage = number({ min: 0, max: 100 });
const nonEmpty = string({ nonEmpty: true });
const named = object({ name: nonEmpty }, { default_value: string() });

const customTag = exactlyOne({ literal: object({ value: string() }), environment: named, header: named });

const headerFields = object({ name: nonEmpty }, { value: string(), env_name: nonEmpty });
/** RFC 9110's token: what node:http and node:http2 accept as a header name. */
const headerToken = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
/** What no header value may hold (RFC 9110 §5.5): node:http refuses it on every export, so it is refused here, once. */
const headerValueBreak = /[\r\n\0]/;
/**
 * HTTP/2's connection-specific fields (RFC 9113 §8.2.2), which node:http2 refuses on every call: the
 * export would fail each time, silently. Hop-by-hop in HTTP/1.1, they are no request's to set there either.
 */
const connectionSpecific = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

/** An export request header: a name and exactly one of a value and an environment variable's name. */
const exportHeader: Check = (v, at, p) => {
  headerFields(v, at, p);
  if (!isObject(v)) return;
  const name = typeof v['name'] === 'string' ? v['name'].toLowerCase() : '';
  if (name !== '' && !headerToken.test(name)) p.push(`${join(at, 'name')}: not a valid header name`);
  // TE is allowed as `trailers` alone, as the gRPC call sends it anyway.
  else if (connectionSpecific.has(name) || (name === 'te' && v['value'] !== 'trailers')) p.push(`${join(at, 'name')}: a connection-specific header (RFC 9113 §8.2.2), not sent with spans`);
  if (typeof v['value'] === 'string' && headerValueBreak.test(v['value'])) p.push(`${join(at, 'value')}: not a valid header value (CR, LF or NUL)`);
  if (Object.hasOwn(v, 'value') === Object.hasOwn(v, 'env_name')) p.push(`${where(at)}: expected exactly one of value, env_name`);
};

const schema = object(
  { reporter: oneOf('source', 'destination'), metrics: boolean },
  {
    workload: object(
      { workload: string(), namespace: string(), labels: recordOf(string()) },
      { principal: string(), cluster: string() },
    ),
    disable_host_header_fallback: boolean,
    metric_overrides: arrayOf(object({ name: nonEmpty }, { drop: boolean, tags_to_remove: arrayOf(nonEmpty), dimensions: recordOf(nonEmpty) })),
    services: arrayOf(object({ host: nonEmpty, name: string(), namespace: string() }, { ports: arrayOf(number({ int: true })) })),
    tracing: object(
      { sampling: percentage },
      {
        rules: arrayOf(object({ url: nonEmpty, percentage })),
        custom_tags: recordOf(customTag),
        provider: object(
          { name: nonEmpty, kind: oneOf('opentelemetry', 'zipkin'), service: nonEmpty, port: number({ int: true, min: 1, max: 65535 }) },
          {
            protocol: oneOf('grpc', 'http'),
            path: string({ startsWith: '/' }),
            timeout_ms: number({ min: 1 }),
            headers: arrayOf(exportHeader),
          },
        ),
        max_path_tag_length: number({ int: true, min: 1 }),
      },
    ),
    access_log: oneOrMany(object({ path: nonEmpty, encoding: oneOf('TEXT', 'JSON') }, { format: string(), json_format: recordOf(string()), filter: nonEmpty })),
  },
);

/**
 * The filter config from its TypedStruct; throws FilterConfigError listing every bad field. Without a
 * `workload` in the config, the proxy's own (`local`, from its node) is used.
 */
export function parseTelemetryConfig(config: TypedAny, local?: TelemetryWorkloadConfig): TelemetryFilterConfig {
  let raw: Record<string, unknown>;
  try {
    raw = readTypedStruct(config, OutriggerExtension.Telemetry);
  } catch (err) {
    throw new FilterConfigError(`istio.stats: ${(err as Error).message}`, { cause: err });
  }
  const problems: string[] = [];
  schema(raw, '', problems);
  if (problems.length) throw new FilterConfigError(`istio.stats: ${problems.join('; ')}`);
  const parsed = raw as Omit<TelemetryFilterConfig, 'workload'> & { workload?: TelemetryWorkloadConfig };
  const workload = parsed.workload ?? local;
  if (!workload) throw new FilterConfigError('istio.stats: no workload in the config, and the proxy node metadata names none (WORKLOAD_NAME, NAMESPACE)');
  return { ...parsed, workload };
}
