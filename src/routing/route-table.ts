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
 * Routes are identified by their canonical key (wire/route-key.ts). Memory per route: the key
 * string, one entry in its VNI's map (owner inline when there is one) and one in the owner's index.
 */

/** Fan-out of one change: nobody, every subscriber of the VNI except one peer, or one peer. */
export const DeliveryKind = { NONE: 0, ALL_EXCEPT: 1, ONLY: 2 } as const;
export type DeliveryKind = (typeof DeliveryKind)[keyof typeof DeliveryKind];

export interface Delivery<P> {
  kind: DeliveryKind;
  /** ALL_EXCEPT: the excluded peer (the sender); ONLY: the recipient. */
  peer: P | undefined;
}

type Owners<P> = P | P[];

export interface Withdrawal<P> {
  readonly vni: number;
  readonly key: string;
  readonly delivery: Delivery<P>;
}

export class RouteTable<P extends object> {
  private readonly routes = new Map<number, Map<string, Owners<P>>>();
  private readonly owned = new Map<P, Map<number, Set<string>>>();
  private readonly subscribers = new Map<number, Set<P>>();
  private readonly subscriptions = new Map<P, Set<number>>();
  private count = 0;
  /** One-entry cache of index(): consecutive updates mostly come from one peer and VNI. */
  private cachePeer: P | undefined;
  private cacheVni = -1;
  private cacheKeys: Set<string> | undefined;
  /** Result object reused by add/remove (valid until the next call). */
  private readonly result: Delivery<P> = { kind: DeliveryKind.NONE, peer: undefined };

  /** Number of distinct routes (a route with several owners counts once). */
  get size(): number {
    return this.count;
  }

  /** `peer` announces `key` in `vni`. The returned object is reused by the next call. */
  add(peer: P, vni: number, key: string): Delivery<P> {
    const r = this.result;
    r.kind = DeliveryKind.NONE;
    r.peer = undefined;
    let vniRoutes = this.routes.get(vni);
    if (vniRoutes === undefined) {
      vniRoutes = new Map();
      this.routes.set(vni, vniRoutes);
    }
    const owners = vniRoutes.get(key);
    if (owners === undefined) {
      vniRoutes.set(key, peer);
      this.count++;
      r.kind = DeliveryKind.ALL_EXCEPT;
      r.peer = peer;
    } else if (Array.isArray(owners)) {
      if (owners.includes(peer)) return r;
      owners.push(peer);
    } else {
      if (owners === peer) return r;
      vniRoutes.set(key, [owners, peer]);
      r.kind = DeliveryKind.ONLY;
      r.peer = owners;
    }
    this.index(peer, vni).add(key);
    return r;
  }

  /** `peer` withdraws `key` in `vni`; a route the peer does not own is ignored (NONE). */
  remove(peer: P, vni: number, key: string): Delivery<P> {
    const r = this.result;
    r.kind = DeliveryKind.NONE;
    r.peer = undefined;
    const vniRoutes = this.routes.get(vni);
    const owners = vniRoutes?.get(key);
    if (vniRoutes === undefined || owners === undefined) return r;
    if (Array.isArray(owners)) {
      const i = owners.indexOf(peer);
      if (i === -1) return r;
      owners.splice(i, 1);
      const last = owners[0];
      if (owners.length === 1 && last !== undefined) {
        vniRoutes.set(key, last);
        r.kind = DeliveryKind.ONLY;
        r.peer = last;
      }
    } else {
      if (owners !== peer) return r;
      vniRoutes.delete(key);
      if (vniRoutes.size === 0) this.routes.delete(vni);
      this.count--;
      r.kind = DeliveryKind.ALL_EXCEPT;
      r.peer = peer;
    }
    const keys = this.index(peer, vni);
    keys.delete(key);
    if (keys.size === 0) {
      const idx = this.owned.get(peer);
      idx?.delete(vni);
      if (idx?.size === 0) this.owned.delete(peer);
      this.cachePeer = undefined;
      this.cacheKeys = undefined;
    }
    return r;
  }

  /**
   * Subscribes `peer` to `vni`. Returns the keys of the snapshot (its current view), or undefined
   * when it was already subscribed (a repeated SUBSCRIBE is a no-op).
   */
  subscribe(peer: P, vni: number): string[] | undefined {
    let subs = this.subscriptions.get(peer);
    if (subs === undefined) {
      subs = new Set();
      this.subscriptions.set(peer, subs);
    }
    if (subs.has(vni)) return undefined;
    subs.add(vni);
    let set = this.subscribers.get(vni);
    if (set === undefined) {
      set = new Set();
      this.subscribers.set(vni, set);
    }
    set.add(peer);
    const view: string[] = [];
    const vniRoutes = this.routes.get(vni);
    if (vniRoutes !== undefined) {
      for (const [key, owners] of vniRoutes) {
        if (owners !== peer) view.push(key);
      }
    }
    return view;
  }

  /** Iterates the current view of `peer` in `vni` without materialising it. */
  *view(peer: P, vni: number): Generator<string> {
    const vniRoutes = this.routes.get(vni);
    if (vniRoutes === undefined) return;
    for (const [key, owners] of vniRoutes) if (owners !== peer) yield key;
  }

  /**
   * Unsubscribes `peer` from `vni` and withdraws what it owns there (Go semantics). Returns the
   * withdrawals to distribute, or undefined when it was not subscribed.
   */
  unsubscribe(peer: P, vni: number): Withdrawal<P>[] | undefined {
    const subs = this.subscriptions.get(peer);
    if (subs?.has(vni) !== true) return undefined;
    this.dropSubscription(peer, vni, subs);
    const keys = this.owned.get(peer)?.get(vni);
    return keys === undefined ? [] : this.withdrawKeys(peer, vni, [...keys], []);
  }

  /** Forgets a peer: drops its subscriptions and withdraws everything it owns. */
  removePeer(peer: P): Withdrawal<P>[] {
    const subs = this.subscriptions.get(peer);
    if (subs !== undefined) for (const vni of [...subs]) this.dropSubscription(peer, vni, subs);
    const idx = this.owned.get(peer);
    const out: Withdrawal<P>[] = [];
    if (idx === undefined) return out;
    for (const [vni, keys] of [...idx]) this.withdrawKeys(peer, vni, [...keys], out);
    return out;
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
    const idx = this.owned.get(peer);
    if (idx !== undefined) for (const keys of idx.values()) n += keys.size;
    return n;
  }

  vnis(): IterableIterator<number> {
    return this.routes.keys();
  }

  routeCount(vni: number): number {
    return this.routes.get(vni)?.size ?? 0;
  }

  /** Routes of a VNI with their owners. */
  *entries(vni: number): Generator<[key: string, owners: readonly P[]]> {
    const vniRoutes = this.routes.get(vni);
    if (vniRoutes === undefined) return;
    for (const [key, owners] of vniRoutes) yield [key, Array.isArray(owners) ? owners : [owners]];
  }

  private withdrawKeys(
    peer: P,
    vni: number,
    keys: string[],
    out: Withdrawal<P>[],
  ): Withdrawal<P>[] {
    for (const key of keys) {
      const d = this.remove(peer, vni, key);
      if (d.kind !== DeliveryKind.NONE)
        out.push({ vni, key, delivery: { kind: d.kind, peer: d.peer } });
    }
    return out;
  }

  private dropSubscription(peer: P, vni: number, subs: Set<number>): void {
    subs.delete(vni);
    if (subs.size === 0) this.subscriptions.delete(peer);
    const set = this.subscribers.get(vni);
    if (set !== undefined) {
      set.delete(peer);
      if (set.size === 0) this.subscribers.delete(vni);
    }
  }

  private index(peer: P, vni: number): Set<string> {
    if (this.cachePeer === peer && this.cacheVni === vni && this.cacheKeys !== undefined) {
      return this.cacheKeys;
    }
    let idx = this.owned.get(peer);
    if (idx === undefined) {
      idx = new Map();
      this.owned.set(peer, idx);
    }
    let keys = idx.get(vni);
    if (keys === undefined) {
      keys = new Set();
      idx.set(vni, keys);
    }
    this.cachePeer = peer;
    this.cacheVni = vni;
    this.cacheKeys = keys;
    return keys;
  }
}
