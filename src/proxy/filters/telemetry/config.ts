// Reads and validates the `istio.stats` TypedStruct into a TelemetryFilterConfig; every problem is
// reported with its field path, and any problem NACKs the listener.
import { z } from 'zod';
import type { TelemetryFilterConfig, TelemetryWorkloadConfig } from '../../../telemetry/filter-config.ts';
import { readTypedStruct, type TypedAny } from '../../../xds/any.ts';
import { OutriggerExtension } from '../../../xds/type-urls.ts';
import { FilterConfigError } from '../../http/filter.ts';

const percentage = z.number().min(0).max(100);
const nonEmpty = z.string().min(1);

const customTag = z.union([
  z.strictObject({ literal: z.strictObject({ value: z.string() }) }),
  z.strictObject({ environment: z.strictObject({ name: nonEmpty, default_value: z.string().optional() }) }),
  z.strictObject({ header: z.strictObject({ name: nonEmpty, default_value: z.string().optional() }) }),
]);

const schema = z.strictObject({
  reporter: z.enum(['source', 'destination']),
  workload: z
    .strictObject({
      workload: z.string(),
      namespace: z.string(),
      labels: z.record(z.string(), z.string()),
      principal: z.string().optional(),
      cluster: z.string().optional(),
    })
    .optional(),
  services: z
    .array(z.strictObject({ host: nonEmpty, name: z.string(), namespace: z.string(), ports: z.array(z.number().int()).optional() }))
    .optional(),
  metrics: z.boolean(),
  tracing: z
    .strictObject({
      sampling: percentage,
      rules: z.array(z.strictObject({ url: nonEmpty, percentage })).optional(),
      custom_tags: z.record(z.string(), customTag).optional(),
      provider: z
        .strictObject({
          name: nonEmpty,
          kind: z.enum(['opentelemetry', 'zipkin']),
          service: nonEmpty,
          port: z.number().int().min(1).max(65535),
          path: z.string().startsWith('/').optional(),
        })
        .optional(),
      disable_span_reporting: z.boolean().optional(),
      max_path_tag_length: z.number().int().min(1).optional(),
    })
    .optional(),
  access_log: z
    .strictObject({
      path: nonEmpty,
      encoding: z.enum(['TEXT', 'JSON']),
      format: z.string().optional(),
      json_format: z.record(z.string(), z.string()).optional(),
    })
    .optional(),
});

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
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new FilterConfigError(`istio.stats: ${problems.join('; ')}`);
  }
  const workload = parsed.data.workload ?? local;
  if (!workload) throw new FilterConfigError('istio.stats: no workload in the config, and the proxy node metadata names none (WORKLOAD_NAME, NAMESPACE)');
  return { ...parsed.data, workload } as TelemetryFilterConfig;
}
