// Telemetry (telemetry.istio.io v1alpha1/v1): tracing, metrics and access logging per workload.
import * as z from 'zod';
import { CelExpressionError, compileCel } from '../../telemetry/cel/compile.ts';
import { bool, duration, issueCode, labelSelector, obj, oneOf, str, targetRef, withRules } from './common.ts';

/** A CEL expression (access-log filter, metric tag value): Istio rejects one that does not parse. */
const celExpression = z.string().superRefine((text, ctx) => {
  try {
    compileCel(text);
  } catch (err) {
    if (!(err instanceof CelExpressionError)) throw err;
    ctx.addIssue({ code: 'custom', message: `must be a valid CEL expression: ${err.message}`, ...issueCode('OR1024') });
  }
});

const providerRef = obj({ name: z.string().min(1) });
const mode = z.enum(['CLIENT_AND_SERVER', 'CLIENT', 'SERVER']);

const customTag = withRules(
  obj({
    literal: obj({ value: str }).optional(),
    environment: obj({ name: str, defaultValue: str.optional() }).optional(),
    header: obj({ name: str, defaultValue: str.optional() }).optional(),
  }),
  oneOf(['literal', 'environment', 'header'], true),
);

const tracing = obj({
  match: obj({ mode: mode.optional() }).optional(),
  providers: z.array(providerRef).optional(),
  randomSamplingPercentage: z.number().min(0).max(100).optional(),
  disableSpanReporting: bool.optional(),
  customTags: z.record(z.string(), customTag).optional(),
  useRequestIdForTraceSampling: bool.optional(),
});

const metricNames = ['ALL_METRICS', 'REQUEST_COUNT', 'REQUEST_DURATION', 'REQUEST_SIZE', 'RESPONSE_SIZE', 'TCP_OPENED_CONNECTIONS', 'TCP_CLOSED_CONNECTIONS', 'TCP_SENT_BYTES', 'TCP_RECEIVED_BYTES', 'GRPC_REQUEST_MESSAGES', 'GRPC_RESPONSE_MESSAGES'] as const;

const metrics = obj({
  providers: z.array(providerRef).optional(),
  overrides: z
    .array(
      obj({
        match: withRules(obj({ metric: z.enum(metricNames).optional(), customMetric: str.optional(), mode: mode.optional() }), oneOf(['metric', 'customMetric'])).optional(),
        disabled: bool.optional(),
        tagOverrides: z.record(z.string(), obj({ operation: z.enum(['UPSERT', 'REMOVE']).optional(), value: celExpression.optional() })).optional(),
      }),
    )
    .optional(),
  reportingInterval: duration.optional(),
});

const accessLogging = obj({
  match: obj({ mode: mode.optional() }).optional(),
  providers: z.array(providerRef).optional(),
  disabled: bool.optional(),
  filter: obj({ expression: celExpression }).optional(),
});

export const telemetrySpec = withRules(
  obj({
    selector: labelSelector.optional(),
    targetRef: targetRef.optional(),
    targetRefs: z.array(targetRef).optional(),
    tracing: z.array(tracing).optional(),
    metrics: z.array(metrics).optional(),
    accessLogging: z.array(accessLogging).optional(),
  }),
  oneOf(['selector', 'targetRef', 'targetRefs']),
);

