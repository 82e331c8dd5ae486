// Envoy's FractionalPercent: numerator over HUNDRED / TEN_THOUSAND / MILLION, decided with one
// injected draw in [0, 1) so tests are deterministic.
import type { EnvoyFractionalPercent } from './envoy-types.ts';
import { RouteConfigError } from './errors.ts';

const denominators: Record<string, number> = { HUNDRED: 100, TEN_THOUSAND: 10_000, MILLION: 1_000_000 };

export class Fraction {
  readonly numerator: number;
  readonly denominator: number;
  constructor(numerator: number, denominator: number) {
    this.numerator = numerator;
    this.denominator = denominator;
  }
  /** True when the draw falls inside the fraction: floor(draw × denominator) < numerator. */
  sample(draw: number): boolean {
    if (this.numerator >= this.denominator) return true;
    return Math.floor(draw * this.denominator) < this.numerator;
  }
  get percent(): number {
    return (this.numerator / this.denominator) * 100;
  }
}

export const ALWAYS = new Fraction(1, 1);

export function compileFraction(p: EnvoyFractionalPercent | undefined, path: string): Fraction {
  if (!p) return new Fraction(0, 100);
  const denominator = denominators[p.denominator ?? 'HUNDRED'];
  if (denominator === undefined) throw new RouteConfigError(`${path}.denominator`, `unknown denominator ${String(p.denominator)}`);
  return new Fraction(p.numerator ?? 0, denominator);
}
