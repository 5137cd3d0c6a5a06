/**
 * A Map that also knows its oldest entries, for tables with a cap that drop the oldest first
 * (half-open connections, evicted connections' sequence numbers). A plain Map cannot do this
 * cheaply: `keys().next()` after many deletes walks the deleted slots V8 keeps at the front, so
 * drop-oldest under churn goes quadratic (300k inserts at a 100k cap: 26 s). Here insertion order
 * lives in a queue of keys with a head index; entries deleted or replaced leave stale keys behind,
 * which are skipped (each at most once) and compacted away.
 */
export class FifoMap<K, V> {
  private readonly map = new Map<K, { v: V; seq: number }>();
  private queue: { k: K; seq: number }[] = [];
  private head = 0;
  private seq = 0;

  get size(): number {
    return this.map.size;
  }

  get(k: K): V | undefined {
    return this.map.get(k)?.v;
  }

  has(k: K): boolean {
    return this.map.has(k);
  }

  /** Set a value; a key set again counts as new (it moves to the back). */
  set(k: K, v: V): void {
    const seq = this.seq++;
    this.map.set(k, { v, seq });
    this.queue.push({ k, seq });
    // entries deleted or replaced leave stale keys: compact when they dominate (amortized O(1))
    if (this.queue.length - this.head > 2 * this.map.size + 1024) this.compact();
  }

  delete(k: K): boolean {
    return this.map.delete(k);
  }

  /** The oldest entry, or undefined. */
  oldest(): [K, V] | undefined {
    this.skipStale();
    const q = this.queue[this.head];
    return q ? [q.k, this.map.get(q.k)!.v] : undefined;
  }

  /** Remove and return the oldest entry. */
  shift(): [K, V] | undefined {
    const o = this.oldest();
    if (o) {
      this.map.delete(o[0]);
      this.head++;
    }
    return o;
  }

  /** Entries, oldest first. */
  *[Symbol.iterator](): IterableIterator<[K, V]> {
    for (let i = this.head; i < this.queue.length; i++) {
      const q = this.queue[i]!;
      const e = this.map.get(q.k);
      if (e && e.seq === q.seq) yield [q.k, e.v];
    }
  }

  clear(): void {
    this.map.clear();
    this.queue = [];
    this.head = 0;
  }

  private skipStale(): void {
    const q = this.queue;
    while (this.head < q.length) {
      const e = this.map.get(q[this.head]!.k);
      if (e && e.seq === q[this.head]!.seq) break;
      this.head++;
    }
    if (this.head > 1024 && this.head * 2 > q.length) this.compact();
  }

  private compact(): void {
    const live: { k: K; seq: number }[] = [];
    for (let i = this.head; i < this.queue.length; i++) {
      const q = this.queue[i]!;
      const e = this.map.get(q.k);
      if (e && e.seq === q.seq) live.push(q);
    }
    this.queue = live;
    this.head = 0;
  }
}
