// The translation work one snapshot shares between proxies (src/translate/proxy-resources.ts's
// TranslationMemo): values by key, dropped as a whole when the snapshot changes.
import type { TranslationMemo } from '../translate/proxy-resources.ts';

export class SnapshotMemo implements TranslationMemo {
  #values = new Map<string, unknown>();
  #hits = 0;

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
