// The fuzz tests' seeded randomness and budget: a fixed seed and case count for CI, overridden locally with
// OUTRIGGER_FUZZ_SEED and OUTRIGGER_FUZZ_CASES to hunt longer. A failing case prints its seed and index;
// OUTRIGGER_FUZZ_ONLY=<index> replays that one case, OUTRIGGER_FUZZ_VERBOSE=1 prints outcome counts, and
// OUTRIGGER_FUZZ_TRACE=<file> (HTTP/1.1) appends each index before it runs, to find a case that hangs the process.

/** mulberry32: small, fast and reproducible from one 32-bit seed. */
export class Rng {
  #s: number;
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  next(): number {
    this.#s = (this.#s + 0x6d2b79f5) >>> 0;
    let t = this.#s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(list: readonly T[]): T {
    return list[this.int(list.length)] as T;
  }
}

function envInt(name: string, fallback: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

/** The seed and case count of one fuzz target: `cases` in CI, OUTRIGGER_FUZZ_CASES when set. */
export function fuzzBudget(cases: number, seed = 20261127): { seed: number; cases: number } {
  return { seed: envInt('OUTRIGGER_FUZZ_SEED', seed), cases: envInt('OUTRIGGER_FUZZ_CASES', cases) };
}

/** A per-case generator: case i of a run is reproducible alone from the run's seed. */
export function caseRng(seed: number, i: number): Rng {
  return new Rng((seed ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
}

/** Bytes shown escaped, for a failure message a human can paste back into a test. */
export function showBytes(b: Buffer, max = 600): string {
  const s = JSON.stringify(b.subarray(0, max).toString('latin1'));
  return b.length > max ? `${s}… (${b.length} bytes)` : s;
}
