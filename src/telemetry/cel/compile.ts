// CEL expressions as Istio's Telemetry API takes them (access log `filter.expression`, metric
// `tagOverrides` values): parsed once when config arrives, evaluated per stream against Envoy's
// attributes. The evaluator (@marcbachmann/cel-js) loads on the first expression, so a proxy whose
// config has none never pays for it.
import { createRequire } from 'node:module';

type CelModule = typeof import('@marcbachmann/cel-js');

let cel: CelModule | undefined;
function celModule(): CelModule {
  cel ??= createRequire(import.meta.url)('@marcbachmann/cel-js') as CelModule;
  return cel;
}

export class CelExpressionError extends Error {
  readonly code = 'CEL_EXPRESSION';
}

/** A compiled expression: its value for one stream's attributes, or `undefined` when evaluation fails (Envoy's error value). */
export interface CelExpression {
  readonly source: string;
  evaluate(attributes: object): unknown;
}

/** Parses `source`; throws CelExpressionError saying where it does not parse. */
export function compileCel(source: string): CelExpression {
  let run: (context: object) => unknown;
  try {
    run = celModule().parse(source) as (context: object) => unknown;
  } catch (err) {
    throw new CelExpressionError(`invalid CEL expression ${JSON.stringify(source)}: ${firstLine((err as Error).message)}`, { cause: err });
  }
  return {
    source,
    evaluate(attributes: object): unknown {
      try {
        return run(attributes);
      } catch {
        // A missing key, a type mismatch: CEL's error value, which Envoy treats as no match / `unknown`.
        return undefined;
      }
    },
  };
}

/** Envoy's CEL print of a value for a label: strings as they are, numbers in decimal, errors as `unknown`. */
export function celText(v: unknown): string {
  if (v === undefined || v === null) return 'unknown';
  if (typeof v === 'string') return v;
  if (typeof v === 'bigint' || typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v instanceof Uint8Array) return Buffer.from(v).toString('utf8');
  return 'unknown';
}

function firstLine(s: string): string {
  return s.split('\n', 1)[0] ?? s;
}
