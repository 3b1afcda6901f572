/**
 * Kernel routes filed by (table, prefix length, prefix text, metric), pure. No key string is built
 * per route: the prefix text a handler call carries (a host route's own address text, whose hash
 * the engine caches) is the key within its (table, length), and a route at a non-default metric
 * (only ever found in the kernel) adds `@metric` to it. Each (table, length) is spread over 16
 * maps by the prefix's last characters: a map grows by rehashing every entry in one step, which at
 * a million routes in one table would stall the event loop for tens of milliseconds.
 */

import type { KernelRouteState } from './route-state.js';

export class RouteMap<V> {
  /** shard(table, prefix length, prefix) -> prefix text (`@metric`) -> value. */
  private readonly byTableLen = new Map<number, Map<string, V>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(table: number, dstLen: number, prefix: string, priority?: number): V | undefined {
    return this.byTableLen.get(shard(table, dstLen, prefix))?.get(innerKey(prefix, priority));
  }

  set(table: number, dstLen: number, prefix: string, priority: number | undefined, v: V): void {
    const k = shard(table, dstLen, prefix);
    let inner = this.byTableLen.get(k);
    if (inner === undefined) {
      inner = new Map();
      this.byTableLen.set(k, inner);
    }
    const before = inner.size;
    inner.set(innerKey(prefix, priority), v);
    this.count += inner.size - before;
  }

  delete(table: number, dstLen: number, prefix: string, priority?: number): boolean {
    const k = shard(table, dstLen, prefix);
    const inner = this.byTableLen.get(k);
    if (inner?.delete(innerKey(prefix, priority)) !== true) return false;
    this.count--;
    if (inner.size === 0) this.byTableLen.delete(k);
    return true;
  }

  *values(): IterableIterator<V> {
    for (const inner of this.byTableLen.values()) yield* inner.values();
  }
}

/** (table, length) and 4 bits of the prefix's last characters (those that differ most). */
function shard(table: number, dstLen: number, prefix: string): number {
  let h = 0;
  for (let i = Math.max(0, prefix.length - 4); i < prefix.length; i++)
    h = h * 31 + prefix.charCodeAt(i);
  return (table * 256 + dstLen) * 16 + (h & 15);
}

function innerKey(prefix: string, priority: number | undefined): string {
  return priority === undefined ? prefix : `${prefix}@${String(priority)}`;
}

/** The installer's kernel routes. */
export class RouteStates extends RouteMap<KernelRouteState> {
  add(s: KernelRouteState): void {
    this.set(s.table, s.dstLen, s.prefix, s.priority, s);
  }

  remove(s: KernelRouteState): void {
    if (this.get(s.table, s.dstLen, s.prefix, s.priority) === s)
      this.delete(s.table, s.dstLen, s.prefix, s.priority);
  }
}
