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
 */

import type { Vni } from '../model/route.js';
import { FAMILY_TYPE_COUNT, keyFamilyType } from '../wire/route-key.js';

/** Most servers a client can use (one bit each in a route's origin masks). */
export const MAX_SERVERS = 32;

/** Receives the handler calls, in order. */
export type HandlerSink = (action: 'add' | 'remove', vni: Vni, key: string) => void;

interface Entry {
  readonly vni: Vni;
  /** destinationKeyOf(key). */
  readonly dest: string;
  /** Servers carrying it in their current session. */
  fresh: number;
  /** Servers that carried it in a lost session and have not re-sent or dropped it yet. */
  stale: number;
}

export interface HeldRoute {
  readonly vni: Vni;
  readonly key: string;
  /** Servers carrying it in their current session (bit mask). */
  readonly fresh: number;
  /** Servers carrying it only as a stale copy of a lost session (bit mask). */
  readonly stale: number;
}

/** What add() found. */
export const AddResult = { NEW: 0, CONFIRMED: 1, KNOWN: 2 } as const;
export type AddResult = (typeof AddResult)[keyof typeof AddResult];

export class ClientRoutes {
  private readonly entries = new Map<string, Entry>();
  /** Keys per destination (one key alone, or several for ECMP). */
  private readonly byDest = new Map<string, string | string[]>();
  private readonly announcedDests = new Map<string, number>();
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

  get size(): number {
    return this.entries.size;
  }

  /** Routes held only by stale copies. */
  get stale(): number {
    return this.staleCount;
  }

  /**
   * Server `origin` reports `key` in its current session. NEW: the handler was told (unless held
   * back); CONFIRMED: it was stale for that server and is fresh again; KNOWN: nothing changed.
   */
  add(origin: number, key: string, vni: Vni, dest: string): AddResult {
    const bit = 1 << origin;
    const e = this.entries.get(key);
    if (e === undefined) {
      this.entries.set(key, { vni, dest, fresh: bit, stale: 0 });
      this.index(dest, key);
      if (!this.announcedDests.has(dest)) this.call('add', vni, key);
      return AddResult.NEW;
    }
    const wasStale = e.fresh === 0;
    e.fresh |= bit;
    if (wasStale) this.staleCount--;
    if ((e.stale & bit) !== 0) {
      e.stale &= ~bit;
      return AddResult.CONFIRMED;
    }
    return AddResult.KNOWN;
  }

  /** Server `origin` no longer carries `key` in its current session (it sent REMOVE). */
  removeFresh(origin: number, key: string): void {
    const e = this.entries.get(key);
    const bit = 1 << origin;
    if (e === undefined || (e.fresh & bit) === 0) return;
    e.fresh &= ~bit;
    if (e.fresh !== 0) return;
    if (e.stale !== 0) this.staleCount++;
    else this.forget(key, e);
  }

  /** The session of server `origin` was lost: its copy of `key` becomes stale. */
  markStale(origin: number, key: string): void {
    const e = this.entries.get(key);
    const bit = 1 << origin;
    if (e === undefined || (e.fresh & bit) === 0) return;
    e.fresh &= ~bit;
    e.stale |= bit;
    if (e.fresh === 0) this.staleCount++;
  }

  /** Server `origin`'s stale copy of `key` is dropped (re-synced without it, or expired). */
  dropStale(origin: number, key: string): void {
    const e = this.entries.get(key);
    const bit = 1 << origin;
    if (e === undefined || (e.stale & bit) === 0) return;
    e.stale &= ~bit;
    if (e.fresh !== 0 || e.stale !== 0) return;
    this.staleCount--;
    this.forget(key, e);
  }

  /** We start announcing a route to `dest` (count per next hop). */
  announce(dest: string): void {
    const n = this.announcedDests.get(dest) ?? 0;
    this.announcedDests.set(dest, n + 1);
    if (n === 0) this.callsFor(dest, 'remove');
  }

  /** We withdraw one of our routes to `dest`; the last one releases held-back routes. */
  withdraw(dest: string): void {
    const n = this.announcedDests.get(dest) ?? 0;
    if (n <= 1) {
      this.announcedDests.delete(dest);
      if (n === 1) this.callsFor(dest, 'add');
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
    const e = this.entries.get(key);
    return e === undefined ? 0 : e.fresh | e.stale;
  }

  /** Whether `key` is held only by stale copies. */
  isStale(key: string): boolean {
    return this.entries.get(key)?.fresh === 0;
  }

  private *select(vni: Vni | undefined, heldBack: boolean): Generator<HeldRoute> {
    for (const [key, e] of this.entries) {
      if ((vni === undefined || e.vni === vni) && this.announcedDests.has(e.dest) === heldBack) {
        yield { vni: e.vni, key, fresh: e.fresh, stale: e.stale };
      }
    }
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
  private forget(key: string, e: Entry): void {
    this.entries.delete(key);
    this.unindex(e.dest, key);
    if (!this.announcedDests.has(e.dest)) this.call('remove', e.vni, key);
  }

  private index(dest: string, key: string): void {
    const cur = this.byDest.get(dest);
    if (cur === undefined) this.byDest.set(dest, key);
    else if (typeof cur === 'string') this.byDest.set(dest, [cur, key]);
    else cur.push(key);
  }

  private unindex(dest: string, key: string): void {
    const cur = this.byDest.get(dest);
    if (cur === key) {
      this.byDest.delete(dest);
    } else if (Array.isArray(cur)) {
      const i = cur.indexOf(key);
      if (i !== -1) cur.splice(i, 1);
      if (cur.length === 1) this.byDest.set(dest, cur[0] as string);
    }
  }

  private callsFor(dest: string, action: 'add' | 'remove'): void {
    const cur = this.byDest.get(dest);
    if (cur === undefined) return;
    for (const key of typeof cur === 'string' ? [cur] : [...cur]) {
      const e = this.entries.get(key);
      if (e !== undefined) this.call(action, e.vni, key);
    }
  }
}
