// A fixed-capacity ring buffer: the newest `capacity` items, oldest first, without shifting arrays.

export class Ring<T> {
  readonly capacity: number;
  #items: (T | undefined)[];
  #next = 0;
  #size = 0;

  constructor(capacity: number) {
    if (!(capacity >= 1)) throw Object.assign(new Error(`ring capacity must be at least 1, got ${capacity}`), { code: 'DASHBOARD_BAD_CAPACITY' });
    this.capacity = Math.floor(capacity);
    this.#items = new Array<T | undefined>(this.capacity);
  }

  get size(): number {
    return this.#size;
  }

  push(item: T): void {
    this.#items[this.#next] = item;
    this.#next = (this.#next + 1) % this.capacity;
    if (this.#size < this.capacity) this.#size++;
  }

  /** Item `i` counted from the oldest (0) to the newest (size - 1). */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.#size) return undefined;
    return this.#items[(this.#next - this.#size + i + this.capacity) % this.capacity];
  }

  newest(): T | undefined {
    return this.at(this.#size - 1);
  }

  toArray(): T[] {
    const out: T[] = [];
    for (let i = 0; i < this.#size; i++) out.push(this.at(i) as T);
    return out;
  }
}
