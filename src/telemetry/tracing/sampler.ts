// The sampling decision for a new trace: the caller's decision when it sent one, else the first
// per-path rule whose regex finds the request URL, else the default percentage. Random is injected.
import { RE2JS } from 're2js';
import type { Random } from './ids.ts';

export interface SamplingRuleConfig {
  /** RE2 regex searched in the request URL (`http://host/path?query`), as the collector's `http.url` policy. */
  url: string;
  /** 0..100 */
  percentage: number;
}

export class SamplingConfigError extends Error {
  readonly code = 'SAMPLING_CONFIG';
}

interface CompiledRule {
  readonly re: RE2JS;
  readonly fraction: number;
}

export class Sampler {
  readonly #default: number;
  readonly #rules: readonly CompiledRule[];
  readonly #random: Random;

  constructor(defaultPercentage: number, rules: readonly SamplingRuleConfig[], random: Random) {
    this.#default = checkPercentage(defaultPercentage, 'randomSamplingPercentage') / 100;
    this.#rules = rules.map((r, i) => {
      let re: RE2JS;
      try {
        re = RE2JS.compile(r.url);
      } catch (err) {
        throw new SamplingConfigError(`sampling rule ${i}: invalid RE2 regex ${JSON.stringify(r.url)}`, { cause: err });
      }
      return { re, fraction: checkPercentage(r.percentage, `sampling rule ${i} percentage`) / 100 };
    });
    this.#random = random;
  }

  /** Whether per-path rules exist (callers build the URL only then). */
  get hasRules(): boolean {
    return this.#rules.length > 0;
  }

  /** `incoming` is the caller's sampled flag; `url` is needed only when rules exist. */
  decide(incoming: boolean | undefined, url: string): boolean {
    if (incoming !== undefined) return incoming;
    let fraction = this.#default;
    for (const r of this.#rules) {
      if (r.re.matcher(url).find()) {
        fraction = r.fraction;
        break;
      }
    }
    if (fraction >= 1) return true;
    if (fraction <= 0) return false;
    return this.#random() < fraction;
  }
}

function checkPercentage(p: number, what: string): number {
  if (!Number.isFinite(p) || p < 0 || p > 100) throw new SamplingConfigError(`${what} must be within 0..100, got ${p}`);
  return p;
}
