/**
 * Which tables still hold the routes found in the kernel at start, pure. A table is released
 * (reconciled) once every VNI mapped to it has re-synced, or when the hold time ends: a route
 * found in a shared table cannot be told apart by VNI.
 */

import type { Vni } from '../model/route.js';

export class StartupHold {
  private readonly held = new Set<number>();
  private readonly synced = new Set<Vni>();
  private readonly vnisOfTable = new Map<number, Vni[]>();

  constructor(
    private readonly tables: ReadonlyMap<Vni, number>,
    hold: boolean,
  ) {
    for (const [vni, table] of tables) {
      const list = this.vnisOfTable.get(table) ?? [];
      list.push(vni);
      this.vnisOfTable.set(table, list);
      if (hold) this.held.add(table);
    }
  }

  isHeld(table: number): boolean {
    return this.held.has(table);
  }

  get anyHeld(): boolean {
    return this.held.size > 0;
  }

  /** Records a re-synced VNI; returns the table it releases, if any. */
  vniSynced(vni: Vni): number | undefined {
    const table = this.tables.get(vni);
    if (table === undefined) return undefined;
    this.synced.add(vni);
    if (!this.held.has(table)) return undefined;
    const all = this.vnisOfTable.get(table) ?? [];
    if (!all.every((v) => this.synced.has(v))) return undefined;
    this.held.delete(table);
    return table;
  }

  /** Releases every table still held (hold time over, or cleanup); returns them. */
  releaseAll(): number[] {
    const out = [...this.held];
    this.held.clear();
    return out;
  }
}
