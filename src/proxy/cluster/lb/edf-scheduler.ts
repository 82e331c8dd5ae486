// Earliest-deadline-first scheduling, as Envoy's EdfScheduler: each item's next deadline is the current
// time plus 1/weight, so over time each item is picked in proportion to its weight. First deadlines sit
// half a period in (0.5/weight), so light items are not all queued behind a burst of the heaviest.
// Weights are read again each time an item is re-queued, so they may change (slow start, active requests).

interface Entry<T> {
  item: T;
  deadline: number;
  /** Insertion order breaks ties, so equal weights rotate in a stable order. */
  order: number;
}

export class EdfScheduler<T> {
  #heap: Entry<T>[] = [];
  #time = 0;
  #order = 0;
  #weight: (item: T) => number;

  constructor(items: readonly T[], weight: (item: T) => number) {
    this.#weight = weight;
    for (const item of items) this.#push(item, 0.5);
  }

  get size(): number {
    return this.#heap.length;
  }

  /** The item with the earliest deadline, re-queued with its current weight; null when empty. */
  pick(): T | null {
    const top = this.#heap[0];
    if (!top) return null;
    this.#time = top.deadline;
    this.#popTop();
    this.#push(top.item, 1);
    return top.item;
  }

  #push(item: T, periods: number): void {
    const w = this.#weight(item);
    // A zero or negative weight takes no traffic; it is left out until the scheduler is rebuilt.
    if (!(w > 0)) return;
    const e: Entry<T> = { item, deadline: this.#time + periods / w, order: this.#order++ };
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!less(e, h[parent]!)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  #popTop(): void {
    const h = this.#heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && less(h[r]!, h[l]!) ? r : l;
      if (!less(h[c]!, last)) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
  }
}

function less<T>(a: Entry<T>, b: Entry<T>): boolean {
  return a.deadline < b.deadline || (a.deadline === b.deadline && a.order < b.order);
}
