/**
 * A Map split over 64 Maps by a cheap hash of the key, pure. A Map grows by rehashing all its
 * entries in one step: at a quarter of a million nexthop objects that is tens of milliseconds in
 * one event-loop turn (several maps growing together, over a hundred); here one step rehashes a
 * sixty-fourth.
 */

const SHARDS = 64;

export class ShardedMap<K, V> {
  private readonly shards: Map<K, V>[] = Array.from({ length: SHARDS }, () => new Map<K, V>());
  private count = 0;

  constructor(private readonly shardOf: (key: K) => number) {}

  get size(): number {
    return this.count;
  }

  private shard(key: K): Map<K, V> {
    return this.shards[this.shardOf(key) & (SHARDS - 1)] as Map<K, V>;
  }

  get(key: K): V | undefined {
    return this.shard(key).get(key);
  }

  has(key: K): boolean {
    return this.shard(key).has(key);
  }

  set(key: K, value: V): void {
    const m = this.shard(key);
    const before = m.size;
    m.set(key, value);
    this.count += m.size - before;
  }

  delete(key: K): boolean {
    if (!this.shard(key).delete(key)) return false;
    this.count--;
    return true;
  }

  *values(): IterableIterator<V> {
    for (const m of this.shards) yield* m.values();
  }
}

/** Shard of a number key (consecutive ids spread evenly; any 32-bit id). */
export const numberShard = (n: number): number => n & (SHARDS - 1);

/** Shard of a string key: its last characters (where keys made of addresses differ most). */
export function stringShard(s: string): number {
  let h = 0;
  for (let i = Math.max(0, s.length - 3); i < s.length; i++) h = h * 31 + s.charCodeAt(i);
  return h;
}
