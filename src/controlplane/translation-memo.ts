// The translation work one snapshot shares between proxies (src/translate/proxy-resources.ts's
// TranslationMemo): values by key, dropped as a whole when the snapshot changes.
import type { TranslationMemo } from '../translate/proxy-resources.ts';

export class SnapshotMemo implements TranslationMemo {
  #values: Map<string, unknown>;
  #hits = 0;

  /** `carried`: entries of the previous snapshot's memo that its successor may reuse (see `carry`). */
  constructor(carried?: ReadonlyMap<string, unknown>) {
    this.#values = new Map(carried);
  }

  /** The entries whose key starts with one of `prefixes`, for a next snapshot whose inputs to them are unchanged. */
  carry(prefixes: readonly string[]): Map<string, unknown> {
    const out = new Map<string, unknown>();
    for (const [k, v] of this.#values) if (prefixes.some((p) => k.startsWith(p))) out.set(k, v);
    return out;
  }

  once<T>(key: string, build: () => T): T {
    if (this.#values.has(key)) {
      this.#hits++;
      return this.#values.get(key) as T;
    }
    const value = build();
    this.#values.set(key, value);
    return value;
  }

  /** Distinct values built and how often one was reused (for metrics and tests). */
  get stats(): { entries: number; hits: number } {
    return { entries: this.#values.size, hits: this.#hits };
  }
}
