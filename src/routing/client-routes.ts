/**
 * The client's view of received routes across several servers (pure, no I/O).
 *
 * - HA dedup: a route is held while at least one server carries it; the handler gets addRoute when
 *   the first server reports it and removeRoute when the last one no longer carries it.
 * - Graceful restart: what a server carried when its session was lost stays, marked stale for that
 *   server, until that server re-sent it (fresh again, no handler call), re-synced the VNI without
 *   it, or the hold time ended (the connection decides when; see client/connection.ts). A route is
 *   removed only when no server carries it fresh or stale.
 * - Loop prevention (Go #177): a received route whose (vni, destination) we announce ourselves is
 *   held back while we announce it, and handed over when we withdraw our last announcement there.
 *   Routes already handed over when we start announcing the destination are taken back.
 *
 * Servers are numbered 0..31 (a bit each). Invariant: the handler holds exactly the routes with a
 * fresh or stale origin whose destination we do not announce. Every change that alters what the
 * handler must hold calls the sink, in order.
 *
 * Memory and time per route are what a 1,000,000-route subscription makes them: one map entry per
 * route (route key -> bit mask of the servers carrying it fresh, a small integer, no object), the
 * key string itself, nothing per server. Stale copies (rare: only after a lost session) are kept in
 * a second map; the index by destination (for loop prevention) exists once we announce something.
 */

import type { Vni } from '../model/route.js';
import {
  destinationHash,
  destinationKeyLength,
  destinationKeyOf,
  FAMILY_TYPE_COUNT,
  keyFamilyType,
  vniOfKey,
} from '../wire/route-key.js';

/** Most servers a client can use (one bit each in a route's origin masks). */
export const MAX_SERVERS = 32;

/** Receives the handler calls, in order. */
export type HandlerSink = (action: 'add' | 'remove', vni: Vni, key: string) => void;

export interface HeldRoute {
  readonly vni: Vni;
  readonly key: string;
  /** Servers carrying it in their current session (bit mask). */
  readonly fresh: number;
  /** Servers carrying it only as a stale copy of a lost session (bit mask). */
  readonly stale: number;
}

/**
 * What add() found. NEW: the handler was told (unless held back); CONFIRMED: it was stale for that
 * server and is fresh again; KNOWN: another server carries it too; DUPLICATE: that server had
 * already sent it in this session (Go servers send duplicate ADDs). Only NEW calls the handler.
 */
export const AddResult = { NEW: 0, CONFIRMED: 1, KNOWN: 2, DUPLICATE: 3 } as const;
export type AddResult = (typeof AddResult)[keyof typeof AddResult];

export class ClientRoutes {
  /** Route key -> servers carrying it fresh (bit mask; 0: held by stale copies only). */
  private readonly fresh = new Map<string, number>();
  /** Route key -> servers holding a stale copy (only routes that have one). */
  private readonly staleOf = new Map<string, number>();
  /** Routes carried fresh, per server. */
  private readonly freshPerServer: number[] = new Array<number>(MAX_SERVERS).fill(0);
  /**
   * Route keys by destinationHash() of their destination (one key alone, or several: ECMP, or
   * another destination with the same hash); built at the first announce(). Integer keys: about
   * twice as fast as indexing by the destination string, and no string per route.
   */
  private byDest: Map<number, string | string[]> | undefined;
  private readonly announcedDests = new Map<string, number>();
  /** destinationHash() of the announced destinations, with how many share it (a pre-filter). */
  private readonly announcedHashes = new Map<number, number>();
  /** Routes with no fresh origin. */
  private staleCount = 0;
  /** Routes the handler holds per VNI, and handler calls per VNI so far (kept per call). */
  private readonly heldPerVni = new Map<Vni, number>();
  private readonly versionPerVni = new Map<Vni, number>();
  private readonly heldKinds: number[] = new Array<number>(FAMILY_TYPE_COUNT).fill(0);
  /** Handler calls so far. */
  changes = 0;

  constructor(private readonly sink: HandlerSink) {}

  /** Routes the handler holds in `vni` (a count, no scan). */
  heldCount(vni: Vni): number {
    return this.heldPerVni.get(vni) ?? 0;
  }

  /** VNIs in which the handler holds routes, ascending. */
  heldVnis(): Vni[] {
    return [...this.heldPerVni.keys()].sort((a, b) => a - b);
  }

  /** Handler calls per VNI so far (status pages diff it). */
  versions(): ReadonlyMap<Vni, number> {
    return this.versionPerVni;
  }

  /** Routes the handler holds by keyFamilyType() index (a copy). */
  kindCounts(): number[] {
    return [...this.heldKinds];
  }

  /** Routes held (fresh or stale), held back ones included. */
  get size(): number {
    return this.fresh.size;
  }

  /** Routes held only by stale copies. */
  get stale(): number {
    return this.staleCount;
  }

  /** Routes server `origin` carries in its current session. */
  freshCount(origin: number): number {
    return this.freshPerServer[origin] ?? 0;
  }

  /** Server `origin` reports `key` (of `vni`) in its current session. */
  add(origin: number, key: string, vni: Vni): AddResult {
    const bit = 1 << origin;
    const m = this.fresh.get(key);
    if (m === undefined) {
      this.fresh.set(key, bit);
      this.freshPerServer[origin] = (this.freshPerServer[origin] ?? 0) + 1;
      if (this.byDest === undefined) {
        this.call('add', vni, key); // nothing announced yet
      } else {
        const length = destinationKeyLength(key);
        const h = destinationHash(key, length);
        index(this.byDest, h, key);
        if (!this.announcedHashes.has(h) || !this.announcedDests.has(key.slice(0, length)))
          this.call('add', vni, key);
      }
      return AddResult.NEW;
    }
    if ((m & bit) !== 0) return AddResult.DUPLICATE;
    this.fresh.set(key, m | bit);
    this.freshPerServer[origin] = (this.freshPerServer[origin] ?? 0) + 1;
    if (m === 0) this.staleCount--;
    const s = this.staleOf.get(key);
    if (s === undefined || (s & bit) === 0) return AddResult.KNOWN;
    this.setStale(key, s & ~bit);
    return AddResult.CONFIRMED;
  }

  /**
   * Server `origin` no longer carries `key` in its current session (it sent REMOVE). Returns
   * whether it did carry it.
   */
  removeFresh(origin: number, key: string): boolean {
    const m = this.fresh.get(key);
    const bit = 1 << origin;
    if (m === undefined || (m & bit) === 0) return false;
    this.freshPerServer[origin] = (this.freshPerServer[origin] ?? 0) - 1;
    const left = m & ~bit;
    if (left !== 0) {
      this.fresh.set(key, left);
    } else if (this.staleOf.has(key)) {
      this.fresh.set(key, 0);
      this.staleCount++;
    } else {
      this.forget(key);
    }
    return true;
  }

  /**
   * Server `origin` no longer carries, in its current session, anything of `vni` (we unsubscribed):
   * its fresh routes there are removed. Returns how many.
   */
  removeFreshVni(origin: number, vni: Vni): number {
    const bit = 1 << origin;
    const keys: string[] = [];
    for (const [key, m] of this.fresh) if ((m & bit) !== 0 && vniOfKey(key) === vni) keys.push(key);
    for (const key of keys) this.removeFresh(origin, key);
    return keys.length;
  }

  /**
   * The session of server `origin` was lost: every route it carried becomes a stale copy of that
   * server; `each` is told each one (in table order). Returns how many.
   */
  sessionLost(origin: number, each: (key: string, vni: Vni) => void): number {
    const bit = 1 << origin;
    let n = 0;
    for (const [key, m] of this.fresh) {
      if ((m & bit) === 0) continue;
      n++;
      const left = m & ~bit;
      this.fresh.set(key, left);
      this.setStale(key, (this.staleOf.get(key) ?? 0) | bit);
      if (left === 0) this.staleCount++;
      each(key, vniOfKey(key));
    }
    this.freshPerServer[origin] = 0;
    return n;
  }

  /** Server `origin`'s stale copy of `key` is dropped (re-synced without it, or expired). */
  dropStale(origin: number, key: string): void {
    const s = this.staleOf.get(key);
    const bit = 1 << origin;
    if (s === undefined || (s & bit) === 0) return;
    this.setStale(key, s & ~bit);
    if (this.fresh.get(key) !== 0 || (s & ~bit) !== 0) return;
    this.staleCount--;
    this.forget(key);
  }

  /** We start announcing a route to `dest` (count per next hop). */
  announce(dest: string): void {
    const n = this.announcedDests.get(dest) ?? 0;
    this.announcedDests.set(dest, n + 1);
    if (n > 0) return;
    const h = destinationHash(dest, dest.length);
    this.announcedHashes.set(h, (this.announcedHashes.get(h) ?? 0) + 1);
    this.callsFor(dest, 'remove');
  }

  /** We withdraw one of our routes to `dest`; the last one releases held-back routes. */
  withdraw(dest: string): void {
    const n = this.announcedDests.get(dest) ?? 0;
    if (n <= 1) {
      this.announcedDests.delete(dest);
      if (n === 1) {
        const h = destinationHash(dest, dest.length);
        const k = this.announcedHashes.get(h) ?? 0;
        if (k <= 1) this.announcedHashes.delete(h);
        else this.announcedHashes.set(h, k - 1);
        this.callsFor(dest, 'add');
      }
      return;
    }
    this.announcedDests.set(dest, n - 1);
  }

  /** Routes the handler currently holds (optionally of one VNI), lazily. */
  delivered(vni?: Vni): Generator<HeldRoute> {
    return this.select(vni, false);
  }

  /** Received routes held back by loop prevention, lazily. */
  heldBack(vni?: Vni): Generator<HeldRoute> {
    return this.select(vni, true);
  }

  /** Servers currently carrying `key` (bit mask, fresh or stale). */
  origins(key: string): number {
    const m = this.fresh.get(key);
    return m === undefined ? 0 : m | (this.staleOf.get(key) ?? 0);
  }

  /** Whether `key` is held only by stale copies. */
  isStale(key: string): boolean {
    return this.fresh.get(key) === 0;
  }

  private *select(vni: Vni | undefined, heldBack: boolean): Generator<HeldRoute> {
    const announced = this.announcedDests;
    for (const [key, m] of this.fresh) {
      const v = vniOfKey(key);
      if (vni !== undefined && v !== vni) continue;
      if ((announced.size > 0 && announced.has(destinationKeyOf(key))) !== heldBack) continue;
      yield { vni: v, key, fresh: m, stale: this.staleOf.get(key) ?? 0 };
    }
  }

  private setStale(key: string, s: number): void {
    if (s === 0) this.staleOf.delete(key);
    else this.staleOf.set(key, s);
  }

  /** One handler call: the counts kept per call, then the sink. */
  private call(action: 'add' | 'remove', vni: Vni, key: string): void {
    const d = action === 'add' ? 1 : -1;
    const n = (this.heldPerVni.get(vni) ?? 0) + d;
    if (n === 0) this.heldPerVni.delete(vni);
    else this.heldPerVni.set(vni, n);
    this.versionPerVni.set(vni, (this.versionPerVni.get(vni) ?? 0) + 1);
    const k = keyFamilyType(key);
    this.heldKinds[k] = (this.heldKinds[k] ?? 0) + d;
    this.changes++;
    this.sink(action, vni, key);
  }

  /** Nobody carries the route any more, fresh or stale. */
  private forget(key: string): void {
    this.fresh.delete(key);
    if (this.byDest !== undefined) unindex(this.byDest, key);
    if (this.announcedDests.size === 0 || !this.announcedDests.has(destinationKeyOf(key)))
      this.call('remove', vniOfKey(key), key);
  }

  /** The index by destination, built on first use and kept from then on. */
  private destIndex(): Map<number, string | string[]> {
    if (this.byDest !== undefined) return this.byDest;
    const byDest = new Map<number, string | string[]>();
    for (const key of this.fresh.keys()) index(byDest, hashOfKey(key), key);
    this.byDest = byDest;
    return byDest;
  }

  private callsFor(dest: string, action: 'add' | 'remove'): void {
    const cur = this.destIndex().get(destinationHash(dest, dest.length));
    if (cur === undefined) return;
    for (const key of typeof cur === 'string' ? [cur] : [...cur]) {
      // The bucket may hold other destinations with the same hash.
      if (destinationKeyLength(key) !== dest.length || !key.startsWith(dest)) continue;
      if (this.fresh.has(key)) this.call(action, vniOfKey(key), key);
    }
  }
}

function hashOfKey(key: string): number {
  return destinationHash(key, destinationKeyLength(key));
}

function index(byDest: Map<number, string | string[]>, h: number, key: string): void {
  const cur = byDest.get(h);
  if (cur === undefined) byDest.set(h, key);
  else if (typeof cur === 'string') byDest.set(h, [cur, key]);
  else cur.push(key);
}

function unindex(byDest: Map<number, string | string[]>, key: string): void {
  const h = hashOfKey(key);
  const cur = byDest.get(h);
  if (cur === key) {
    byDest.delete(h);
  } else if (Array.isArray(cur)) {
    const i = cur.indexOf(key);
    if (i !== -1) cur.splice(i, 1);
    if (cur.length === 1) byDest.set(h, cur[0] as string);
  }
}
