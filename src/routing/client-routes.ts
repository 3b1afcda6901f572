/**
 * The client's view of received routes across several servers (pure, no I/O).
 *
 * - HA dedup: a route is known while at least one server reports it; the handler gets addRoute
 *   when the first server reports it and removeRoute when the last one withdraws it or goes away.
 * - Loop prevention (Go #177): a received route whose (vni, destination) we announce ourselves is
 *   held back while we announce it, and handed over when we withdraw our last announcement there.
 *   Routes already handed over when we start announcing the destination are taken back.
 *
 * Invariant: the handler holds exactly the received routes with >= 1 origin whose destination we
 * do not announce. Every method returns the handler calls that keep it true, in order.
 */

import type { Route, Vni } from '../model/route.js';

export interface HandlerCall {
  readonly action: 'add' | 'remove';
  readonly vni: Vni;
  readonly route: Route;
}

interface Entry {
  readonly vni: Vni;
  readonly route: Route;
  readonly dest: string;
  readonly origins: Set<number>;
}

export class ClientRoutes {
  private readonly entries = new Map<string, Entry>();
  private readonly byDest = new Map<string, Set<string>>();
  private readonly announcedDests = new Map<string, number>();

  /** Server `origin` reports route `key`; returns the handler calls (none if it was known). */
  addOrigin(origin: number, key: string, vni: Vni, route: Route, dest: string): HandlerCall[] {
    let e = this.entries.get(key);
    if (e === undefined) {
      e = { vni, route, dest, origins: new Set([origin]) };
      this.entries.set(key, e);
      let keys = this.byDest.get(dest);
      if (keys === undefined) {
        keys = new Set();
        this.byDest.set(dest, keys);
      }
      keys.add(key);
      return this.announcedDests.has(dest) ? [] : [{ action: 'add', vni, route }];
    }
    e.origins.add(origin);
    return [];
  }

  /** Server `origin` no longer reports `key`. */
  removeOrigin(origin: number, key: string): HandlerCall[] {
    const e = this.entries.get(key);
    if (e?.origins.delete(origin) !== true || e.origins.size > 0) return [];
    this.entries.delete(key);
    const keys = this.byDest.get(e.dest);
    keys?.delete(key);
    if (keys?.size === 0) this.byDest.delete(e.dest);
    return this.announcedDests.has(e.dest)
      ? []
      : [{ action: 'remove', vni: e.vni, route: e.route }];
  }

  /** Everything server `origin` reported is gone (it disconnected). */
  removeServer(origin: number, keys: Iterable<string>): HandlerCall[] {
    const calls: HandlerCall[] = [];
    for (const key of keys) for (const c of this.removeOrigin(origin, key)) calls.push(c);
    return calls;
  }

  /** We start announcing a route to `dest` (count per next hop). */
  announce(dest: string): HandlerCall[] {
    const n = this.announcedDests.get(dest) ?? 0;
    this.announcedDests.set(dest, n + 1);
    return n === 0 ? this.callsFor(dest, 'remove') : [];
  }

  /** We withdraw one of our routes to `dest`; the last one releases held-back routes. */
  withdraw(dest: string): HandlerCall[] {
    const n = this.announcedDests.get(dest) ?? 0;
    if (n <= 1) {
      this.announcedDests.delete(dest);
      return n === 1 ? this.callsFor(dest, 'add') : [];
    }
    this.announcedDests.set(dest, n - 1);
    return [];
  }

  /** Routes the handler currently holds (optionally of one VNI). */
  delivered(vni?: Vni): { vni: Vni; route: Route }[] {
    const out: { vni: Vni; route: Route }[] = [];
    for (const e of this.entries.values()) {
      if ((vni === undefined || e.vni === vni) && !this.announcedDests.has(e.dest)) {
        out.push({ vni: e.vni, route: e.route });
      }
    }
    return out;
  }

  /** Received routes held back by loop prevention. */
  heldBack(): { vni: Vni; route: Route }[] {
    const out: { vni: Vni; route: Route }[] = [];
    for (const e of this.entries.values()) {
      if (this.announcedDests.has(e.dest)) out.push({ vni: e.vni, route: e.route });
    }
    return out;
  }

  /** Servers currently reporting `key`. */
  origins(key: string): ReadonlySet<number> | undefined {
    return this.entries.get(key)?.origins;
  }

  get size(): number {
    return this.entries.size;
  }

  private callsFor(dest: string, action: 'add' | 'remove'): HandlerCall[] {
    const calls: HandlerCall[] = [];
    for (const key of this.byDest.get(dest) ?? []) {
      const e = this.entries.get(key);
      if (e !== undefined) calls.push({ action, vni: e.vni, route: e.route });
    }
    return calls;
  }
}
