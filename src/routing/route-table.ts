/**
 * The server's route table: routes with owner sets, subscriptions, and the view rule
 * (behaviour.md, Server). Pure and synchronous; it answers "who must hear what" and never writes.
 *
 * View rule: a subscriber S of VNI v sees exactly the routes of v owned by at least one peer other
 * than S. With O the owner set of a route, an ADD from P (P not in O) changes views only when
 * O was a subset of {S}: for O empty every subscriber but P gains the route, for O = {Q} only Q
 * gains it, otherwise nobody. REMOVE is symmetric. So every decision is O(1) and the result is one
 * of three fan-out shapes (see Delivery).
 *
 * Routes are identified by their canonical key (wire/route-key.ts) and held as one RouteEntry each
 * (the key and its owners, the owner inline when there is one), in their VNI's map and in each
 * owner's index. A peer's index holds the entries themselves, so withdrawing everything a peer owns
 * (disconnect, UNSUBSCRIBE) walks that index without one lookup in the VNI maps: the entries are
 * marked withdrawn at once and taken out of the maps later by sweep(), in bounded steps. That keeps
 * the withdrawal a function of what the peer owned, not of the size of the table.
 */

import { FAMILY_TYPE_COUNT, keyFamilyType } from '../wire/route-key.js';
import { DETACHED, OwnerIndex, RouteEntry, WITHDRAWN, visibleTo } from './owner-index.js';

export { RouteEntry, visibleTo } from './owner-index.js';

/** Fan-out of one change: nobody, every subscriber of the VNI except one peer, or one peer. */
export const DeliveryKind = { NONE: 0, ALL_EXCEPT: 1, ONLY: 2 } as const;
export type DeliveryKind = (typeof DeliveryKind)[keyof typeof DeliveryKind];

export interface Delivery<P> {
  kind: DeliveryKind;
  /** ALL_EXCEPT: the excluded peer (the sender); ONLY: the recipient. */
  peer: P | undefined;
  /** The route's entry (NONE: undefined). */
  entry: RouteEntry<P> | undefined;
  /** The calling peer became an owner (add) or stopped being one (remove). */
  owned: boolean;
}

/** Called once per route a bulk withdrawal takes away from somebody's view. */
export type WithdrawVisitor<P> = (
  vni: number,
  entry: RouteEntry<P>,
  kind: DeliveryKind,
  peer: P | undefined,
) => void;

/**
 * The routes of one VNI. Kept while the VNI has subscribers, even when empty, so that a snapshot
 * cursor (an iterator over `map`) always walks the map new routes go to.
 */
export class VniRoutes<P> {
  readonly map = new Map<string, RouteEntry<P>>();
  /** Entries that are routes (not withdrawn). */
  live = 0;
  /** Changes of the VNI's routes so far (status pages diff it; no per-update work for them). */
  version = 0;
  constructor(readonly vni: number) {}
}

/** Entries of one withdrawn index, to be taken out of their VNI map. */
interface SweepJob<P> {
  readonly routes: VniRoutes<P>;
  readonly entries: RouteEntry<P>[];
  next: number;
}

export class RouteTable<P extends object> {
  private readonly routes = new Map<number, VniRoutes<P>>();
  private readonly owned = new Map<P, Map<number, OwnerIndex<P>>>();
  private readonly subscribers = new Map<number, Set<P>>();
  private readonly subscriptions = new Map<P, Set<number>>();
  private readonly sweeps: SweepJob<P>[] = [];
  private lastRoutes: VniRoutes<P> | undefined;
  private count = 0;
  /** Insertion counter of RouteEntry.seq. */
  private seq = 0;
  /** Routes by keyFamilyType(key), kept on insert and delete. */
  private readonly byFamilyType: number[] = new Array<number>(FAMILY_TYPE_COUNT).fill(0);
  /** Changes of any VNI's routes so far (the sum of every VniRoutes.version, dropped VNIs too). */
  changes = 0;
  /** One-entry cache of index(): consecutive updates mostly come from one peer and VNI. */
  private cachePeer: P | undefined;
  private cacheVni = -1;
  private cacheIndex: OwnerIndex<P> | undefined;
  /** Result object reused by add/remove (valid until the next call). */
  private readonly result: Delivery<P> = {
    kind: DeliveryKind.NONE,
    peer: undefined,
    entry: undefined,
    owned: false,
  };

  /** Number of distinct routes (a route with several owners counts once). */
  get size(): number {
    return this.count;
  }

  /** Whether withdrawn entries wait for sweep(). */
  get sweepPending(): boolean {
    return this.sweeps.length > 0;
  }

  /** `peer` announces `key` in `vni`. The returned object is reused by the next call. */
  add(peer: P, vni: number, key: string): Delivery<P> {
    const r = this.result;
    r.kind = DeliveryKind.NONE;
    r.peer = undefined;
    r.entry = undefined;
    r.owned = true;
    const vr = this.routesOf(vni) ?? this.createVni(vni);
    let e = vr.map.get(key);
    if (e === undefined) {
      e = new RouteEntry<P>(key, peer, 0, ++this.seq);
      vr.map.set(key, e);
      this.gained(vr, r, peer, e);
      this.index(peer, vni).link(e);
      return r;
    }
    const owners = e.owners;
    if (owners === WITHDRAWN) {
      e.owners = peer;
      this.gained(vr, r, peer, e);
      this.index(peer, vni).link(e);
      return r;
    }
    if (Array.isArray(owners)) {
      if (owners.includes(peer)) {
        r.owned = false;
        return r;
      }
      owners.push(peer);
    } else {
      if (owners === peer) {
        r.owned = false;
        return r;
      }
      e.owners = [owners as P, peer];
      r.kind = DeliveryKind.ONLY;
      r.peer = owners as P;
      r.entry = e;
      vr.version++;
      this.changes++;
    }
    this.index(peer, vni).share(e);
    return r;
  }

  /** `peer` withdraws `key` in `vni`; a route the peer does not own is ignored (NONE). */
  remove(peer: P, vni: number, key: string): Delivery<P> {
    const r = this.result;
    r.kind = DeliveryKind.NONE;
    r.peer = undefined;
    r.entry = undefined;
    r.owned = false;
    const vr = this.routesOf(vni);
    const e = vr?.map.get(key);
    if (vr === undefined || e === undefined) return r;
    const owners = e.owners;
    if (Array.isArray(owners)) {
      const i = owners.indexOf(peer);
      if (i === -1) return r;
      r.owned = true;
      if (this.dropOwner(e, owners, i, this.index(peer, vni), vni, r) !== DeliveryKind.NONE) {
        vr.version++;
        this.changes++;
      }
    } else {
      if (owners !== peer) return r;
      r.owned = true;
      this.index(peer, vni).unlink(e);
      vr.map.delete(key);
      e.owners = DETACHED;
      this.lost(vr, r, peer, e);
      if (vr.map.size === 0) this.dropVni(vr);
    }
    return r;
  }

  /**
   * Subscribes `peer` to `vni`; false when it was already subscribed (a repeated SUBSCRIBE is a
   * no-op). The snapshot is walked with routesFor(vni).map's iterator (see SubscriberFeed).
   */
  subscribe(peer: P, vni: number): boolean {
    let subs = this.subscriptions.get(peer);
    if (subs === undefined) {
      subs = new Set();
      this.subscriptions.set(peer, subs);
    }
    if (subs.has(vni)) return false;
    subs.add(vni);
    let set = this.subscribers.get(vni);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(vni, set);
    }
    set.add(peer);
    if (!this.routes.has(vni)) this.createVni(vni);
    return true;
  }

  /** The routes of `vni` (kept while it has subscribers), if any. */
  routesFor(vni: number): VniRoutes<P> | undefined {
    return this.routes.get(vni);
  }

  /** Whether `key` of `vni` is in the view of subscriber `peer`. */
  isVisible(peer: P, vni: number, key: string): boolean {
    const e = this.routesOf(vni)?.map.get(key);
    return e !== undefined && visibleTo(e, peer);
  }

  /**
   * Unsubscribes `peer` from `vni` and withdraws what it owns there (Go semantics), calling
   * `visit` for every change of somebody's view. Returns the number of routes the peer owned
   * there, or undefined when it was not subscribed.
   */
  unsubscribe(peer: P, vni: number, visit: WithdrawVisitor<P>): number | undefined {
    const subs = this.subscriptions.get(peer);
    if (subs?.has(vni) !== true) return undefined;
    this.dropSubscription(peer, vni, subs);
    return this.withdrawIn(peer, vni, visit);
  }

  /**
   * Withdraws everything `peer` owns in `vni` (as if it sent a REMOVE for each), calling `visit` for
   * every change of somebody's view. Returns the number of routes it owned there.
   */
  withdrawIn(peer: P, vni: number, visit: WithdrawVisitor<P>): number {
    const idx = this.owned.get(peer)?.get(vni);
    if (idx === undefined) return 0;
    this.dropIndex(peer, vni);
    return this.withdrawIndex(peer, vni, idx, visit);
  }

  /** Routes `peer` owns in `vni` (O(1)). */
  ownedIn(peer: P, vni: number): number {
    return this.owned.get(peer)?.get(vni)?.size ?? 0;
  }

  /** VNIs in which `peer` owns routes. */
  ownedVnis(peer: P): number[] {
    return [...(this.owned.get(peer)?.keys() ?? [])];
  }

  /** Whether `peer` owns `key` in `vni`. */
  owns(peer: P, vni: number, key: string): boolean {
    const o = this.routesOf(vni)?.map.get(key)?.owners;
    return o === peer || (Array.isArray(o) && o.includes(peer));
  }

  /**
   * Forgets a peer: drops its subscriptions and withdraws everything it owns, calling `visit`
   * for every change of somebody's view. Returns the number of routes the peer owned.
   */
  removePeer(peer: P, visit: WithdrawVisitor<P>): number {
    const subs = this.subscriptions.get(peer);
    if (subs !== undefined) for (const vni of [...subs]) this.dropSubscription(peer, vni, subs);
    const byVni = this.owned.get(peer);
    if (byVni === undefined) return 0;
    this.owned.delete(peer);
    this.forgetCache();
    let n = 0;
    for (const [vni, idx] of byVni) n += this.withdrawIndex(peer, vni, idx, visit);
    return n;
  }

  /**
   * Takes up to `budget` withdrawn entries out of their VNI maps (work left by unsubscribe and
   * removePeer). Returns whether more is pending. Needed only to give the memory back: until
   * then a withdrawn entry is invisible to every query.
   */
  sweep(budget: number): boolean {
    let left = budget;
    while (left > 0 && this.sweeps.length > 0) {
      const job = this.sweeps[0] as SweepJob<P>;
      const vr = job.routes;
      const entries = job.entries;
      const stop = Math.min(entries.length, job.next + left);
      for (let i = job.next; i < stop; i++) {
        const e = entries[i] as RouteEntry<P>;
        if (e.owners === WITHDRAWN) {
          vr.map.delete(e.key);
          e.owners = DETACHED;
        }
      }
      left -= stop - job.next;
      job.next = stop;
      if (stop < entries.length) return true;
      this.sweeps.shift();
      if (vr.map.size === 0 && this.routes.get(vr.vni) === vr) this.dropVni(vr);
    }
    return this.sweeps.length > 0;
  }

  subscribersOf(vni: number): ReadonlySet<P> | undefined {
    return this.subscribers.get(vni);
  }

  subscriptionsOf(peer: P): ReadonlySet<number> {
    return this.subscriptions.get(peer) ?? new Set();
  }

  isSubscribed(peer: P, vni: number): boolean {
    return this.subscriptions.get(peer)?.has(vni) === true;
  }

  /** Number of routes `peer` owns. */
  ownedCount(peer: P): number {
    let n = 0;
    const byVni = this.owned.get(peer);
    if (byVni !== undefined) for (const idx of byVni.values()) n += idx.size;
    return n;
  }

  /** VNIs that hold at least one route. */
  *vnis(): Generator<number> {
    for (const [vni, vr] of this.routes) if (vr.live > 0) yield vni;
  }

  routeCount(vni: number): number {
    return this.routes.get(vni)?.live ?? 0;
  }

  /** Routes by keyFamilyType() index (a copy; kept on insert and delete, no scan). */
  familyTypeCounts(): number[] {
    return [...this.byFamilyType];
  }

  /** The change counter (VniRoutes.version) of every VNI that has one. */
  versions(): Map<number, number> {
    const out = new Map<number, number>();
    for (const [vni, vr] of this.routes) out.set(vni, vr.version);
    return out;
  }

  /** Routes of a VNI with their owners. */
  *entries(vni: number): Generator<[key: string, owners: readonly P[]]> {
    const vr = this.routes.get(vni);
    if (vr === undefined) return;
    for (const e of vr.map.values()) {
      const o = e.owners;
      if (Array.isArray(o)) yield [e.key, o];
      else if (typeof o === 'object') yield [e.key, [o]];
    }
  }

  /** Withdraws every entry of `peer`'s (already detached) index of `vni`. */
  private withdrawIndex(
    peer: P,
    vni: number,
    idx: OwnerIndex<P>,
    visit: WithdrawVisitor<P>,
  ): number {
    const vr = this.routes.get(vni);
    if (vr === undefined) return 0;
    const r = this.result;
    const owned = idx.size;
    let withdrawn = 0;
    for (const e of idx.primary) {
      const owners = e.owners;
      if (Array.isArray(owners)) {
        if (this.dropOwner(e, owners, 0, undefined, vni, r) !== DeliveryKind.NONE) {
          vr.version++; // the last owner left gains the route
          this.changes++;
        }
      } else {
        e.owners = WITHDRAWN;
        this.lost(vr, r, peer, e);
        withdrawn++;
      }
      if (r.kind !== DeliveryKind.NONE) visit(vni, e, r.kind, r.peer);
    }
    if (idx.shared !== undefined) {
      for (const e of idx.shared) {
        const owners = e.owners as P[];
        this.dropOwner(e, owners, owners.indexOf(peer), undefined, vni, r);
        if (r.kind !== DeliveryKind.NONE) {
          vr.version++;
          this.changes++;
          visit(vni, e, r.kind, r.peer);
        }
      }
    }
    // The primary array is not touched again (the index is detached): it becomes the sweep list.
    if (withdrawn > 0) this.sweeps.push({ routes: vr, entries: idx.primary, next: 0 });
    return owned;
  }

  /**
   * Removes owners[i] from a route that has several, and the entry from that owner's index `idx`
   * (undefined: a detached index, left as it is). A primary owner hands the primary place to the
   * next one; the last one left gets the route (ONLY).
   */
  private dropOwner(
    e: RouteEntry<P>,
    owners: P[],
    i: number,
    idx: OwnerIndex<P> | undefined,
    vni: number,
    r: Delivery<P>,
  ): DeliveryKind {
    r.kind = DeliveryKind.NONE;
    r.peer = undefined;
    r.entry = undefined;
    owners.splice(i, 1);
    const first = owners[0] as P;
    if (i === 0) {
      idx?.unlink(e);
      const next = this.index(first, vni);
      next.unshare(e);
      next.link(e);
    } else {
      idx?.unshare(e);
    }
    if (owners.length === 1) {
      e.owners = first;
      r.kind = DeliveryKind.ONLY;
      r.peer = first;
      r.entry = e;
    }
    return r.kind;
  }

  /** A route appeared in `vr` (announced by `peer`). */
  private gained(vr: VniRoutes<P>, r: Delivery<P>, peer: P, e: RouteEntry<P>): void {
    vr.live++;
    vr.version++;
    this.changes++;
    this.count++;
    this.countKind(e.key, 1);
    r.kind = DeliveryKind.ALL_EXCEPT;
    r.peer = peer;
    r.entry = e;
  }

  /** A route left `vr` (its last owner `peer` withdrew it). */
  private lost(vr: VniRoutes<P>, r: Delivery<P>, peer: P, e: RouteEntry<P>): void {
    vr.live--;
    vr.version++;
    this.changes++;
    this.count--;
    this.countKind(e.key, -1);
    r.kind = DeliveryKind.ALL_EXCEPT;
    r.peer = peer;
    r.entry = e;
  }

  private countKind(key: string, d: number): void {
    const i = keyFamilyType(key);
    this.byFamilyType[i] = (this.byFamilyType[i] ?? 0) + d;
  }

  private createVni(vni: number): VniRoutes<P> {
    const vr = new VniRoutes<P>(vni);
    this.routes.set(vni, vr);
    return vr;
  }

  /** routes.get(vni) with a one-entry cache (consecutive updates are mostly for one VNI). */
  private routesOf(vni: number): VniRoutes<P> | undefined {
    const last = this.lastRoutes;
    if (last?.vni === vni) return last;
    const vr = this.routes.get(vni);
    if (vr !== undefined) this.lastRoutes = vr;
    return vr;
  }

  /** Forgets an empty VNI map, unless somebody subscribes to the VNI (cursors walk its map). */
  private dropVni(vr: VniRoutes<P>): void {
    if (this.subscribers.has(vr.vni)) return;
    this.routes.delete(vr.vni);
    if (this.lastRoutes === vr) this.lastRoutes = undefined;
  }

  private dropSubscription(peer: P, vni: number, subs: Set<number>): void {
    subs.delete(vni);
    if (subs.size === 0) this.subscriptions.delete(peer);
    const set = this.subscribers.get(vni);
    if (set !== undefined) {
      set.delete(peer);
      if (set.size === 0) {
        this.subscribers.delete(vni);
        const vr = this.routes.get(vni);
        if (vr?.map.size === 0) this.dropVni(vr);
      }
    }
  }

  private dropIndex(peer: P, vni: number): void {
    const byVni = this.owned.get(peer);
    byVni?.delete(vni);
    if (byVni?.size === 0) this.owned.delete(peer);
    this.forgetCache();
  }

  private forgetCache(): void {
    this.cachePeer = undefined;
    this.cacheIndex = undefined;
  }

  private index(peer: P, vni: number): OwnerIndex<P> {
    if (this.cachePeer === peer && this.cacheVni === vni && this.cacheIndex !== undefined) {
      return this.cacheIndex;
    }
    let byVni = this.owned.get(peer);
    if (byVni === undefined) {
      byVni = new Map();
      this.owned.set(peer, byVni);
    }
    let idx = byVni.get(vni);
    if (idx === undefined) {
      idx = new OwnerIndex();
      byVni.set(vni, idx);
    }
    this.cachePeer = peer;
    this.cacheVni = vni;
    this.cacheIndex = idx;
    return idx;
  }
}
