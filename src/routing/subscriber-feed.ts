/**
 * What one subscriber must still be sent (behaviour.md, Flow control). Pure: the server shell asks
 * it, per change of the subscriber's view, whether the change's frame goes out now, and, when the
 * subscriber's socket has room, for the next frames of its backlog.
 *
 * A subscriber that keeps up gets every change as a live frame. Two things put changes into a
 * backlog of route keys instead:
 *
 * - A new subscription is a snapshot: a cursor walks the VNI's route map (an iterator over it, no
 *   copy) as the socket drains, sending an ADD for every route in view. Changes to routes the
 *   cursor has not reached are not sent (the cursor sends their state when it gets there); changes
 *   to routes it has passed go out live like any other. Map order is insertion order and entries
 *   carry increasing sequence numbers (RouteEntry.seq), so "passed" is `entry.seq <= cursorSeq`.
 * - A subscriber whose queue of frames is past the high watermark is `behind`: its changes are
 *   recorded as keys, each with the visibility it was last sent, and sent later as the difference
 *   between that and the current view (ADD, REMOVE or nothing). A route added and removed in the
 *   meantime is never sent; memory is one map entry per distinct route that changed.
 *
 * A key in the pending map is authoritative: no live frame and no cursor ADD is sent for it until it
 * is drained, and the pending map of a VNI drains only once its cursor is done (so the key's
 * current entry is always passed when it is drained). The final view is therefore exact, with no
 * duplicate ADD and no REMOVE of something not sent (model-tested in test/unit/subscriber-feed).
 */

import { visibleTo, type RouteEntry } from './owner-index.js';
import type { RouteTable, VniRoutes } from './route-table.js';

/** Writes one UPDATE frame for `key`; returns whether more frames may follow now. */
export type FrameWriter = (key: string, remove: boolean) => boolean;

/** One subscribed VNI whose subscriber has something pending. */
class VniFeed<P extends object> {
  /** Snapshot cursor over `routes.map` (undefined: done). */
  cursor: Iterator<RouteEntry<P>> | undefined;
  /** Entries with seq <= cursorSeq were visited. */
  cursorSeq = 0;
  /** Entries visited (to estimate what is left). */
  visited = 0;
  /** Snapshot ADDs written. */
  sent = 0;
  /** Keys changed while behind (or during the snapshot), with the visibility last sent. */
  pending: Map<string, boolean> | undefined;
  /** The subscription has not drained once yet (SYNCED owed, when `marker`). */
  syncing = true;

  constructor(
    readonly vni: number,
    public routes: VniRoutes<P> | undefined,
    /** A SYNCED is owed once the subscription drained. */
    readonly marker: boolean,
    readonly subscribedAt: number,
  ) {
    this.cursor = routes?.map.values();
  }

  get busy(): boolean {
    return this.cursor !== undefined || (this.pending !== undefined && this.pending.size > 0);
  }
}

export interface FeedDone {
  readonly vni: number;
  /** Snapshot ADDs written (undefined: not a subscription's snapshot). */
  readonly sent: number;
  /** A SYNCED is owed for this subscription. */
  readonly marker: boolean;
  /** Time given to subscribed() (the server's clock). */
  readonly subscribedAt: number;
}

export class SubscriberFeed<P extends object> {
  /** Recording changes as keys instead of sending frames (set by the shell's watermarks). */
  behind = false;
  private readonly feeds = new Map<number, VniFeed<P>>();
  /** Feeds with a cursor or pending keys. */
  private busyFeeds = 0;

  constructor(
    readonly peer: P,
    private readonly table: RouteTable<P>,
  ) {}

  /** Whether changes must go through change() (otherwise every change is sent live). */
  get filtering(): boolean {
    return this.behind || this.busyFeeds > 0;
  }

  /** Whether there is backlog to produce (cursors or pending keys). */
  get hasBacklog(): boolean {
    return this.busyFeeds > 0;
  }

  /** Keys pending plus snapshot routes not visited yet (an estimate while routes change). */
  get backlogRoutes(): number {
    let n = 0;
    for (const f of this.feeds.values()) {
      n += f.pending?.size ?? 0;
      if (f.cursor !== undefined && f.routes !== undefined) {
        n += Math.max(0, f.routes.map.size - f.visited);
      }
    }
    return n;
  }

  /** VNIs whose subscription has not drained once yet. */
  syncingVnis(): number[] {
    const out: number[] = [];
    for (const f of this.feeds.values()) if (f.syncing) out.push(f.vni);
    return out;
  }

  /**
   * A new subscription of `vni` (the table already has it): its snapshot becomes the backlog.
   * `marker`: a SYNCED is owed when it has drained once (reported by produce()).
   */
  subscribed(vni: number, marker: boolean, now: number): void {
    const f = new VniFeed(vni, this.table.routesFor(vni), marker, now);
    this.setFeed(f);
  }

  /**
   * The subscription of `vni` ended: whatever is pending for it is dropped. Returns the pending
   * subscription's FeedDone when it had not drained yet (its SYNCED is still owed).
   */
  unsubscribed(vni: number): FeedDone | undefined {
    const f = this.feeds.get(vni);
    if (f === undefined) return undefined;
    if (f.busy) this.busyFeeds--;
    this.feeds.delete(vni);
    return f.syncing ? f : undefined;
  }

  /**
   * A change of this subscriber's view of `vni` (an ADD, or a REMOVE when `remove`) concerning
   * entry `e`. Returns true when its frame is to be sent now.
   */
  change(vni: number, e: RouteEntry<P>, remove: boolean): boolean {
    const f = this.feeds.get(vni);
    if (f !== undefined) {
      const pending = f.pending;
      const last = pending?.get(e.key);
      if (last !== undefined) {
        // Back to what was last sent (an ADD and its REMOVE while behind): nothing is owed for the
        // key any more, so it leaves the backlog at once, which keeps the backlog as small as the
        // routes really changed. Not while a snapshot cursor or an owed SYNCED depends on it.
        if (last === !remove && f.cursor === undefined && !f.syncing) {
          pending?.delete(e.key);
          if (!f.busy) this.busyFeeds--;
        }
        return false;
      }
      if (f.cursor !== undefined && e.seq > f.cursorSeq) return false;
    }
    if (!this.behind) return true;
    let feed = f;
    if (feed === undefined) {
      feed = new VniFeed<P>(vni, undefined, false, 0);
      feed.syncing = false;
      this.feeds.set(vni, feed);
    }
    if (!feed.busy) this.busyFeeds++;
    // Last sent: the state before this change (a REMOVE takes away what was visible).
    (feed.pending ??= new Map()).set(e.key, remove);
    return false;
  }

  /**
   * Writes backlog frames while `write` accepts them. Calls `done` for each subscription that has
   * drained for the first time (in stream order: after its last backlog frame). Returns whether
   * backlog is left.
   */
  produce(write: FrameWriter, done: (d: FeedDone) => void): boolean {
    for (const f of [...this.feeds.values()]) {
      if (!f.busy) continue;
      if (!this.drain(f, write)) return true;
      this.busyFeeds--;
      if (f.syncing) {
        f.syncing = false;
        done(f);
      }
      this.feeds.delete(f.vni);
    }
    return false;
  }

  /** Walks the cursor, then the pending keys, of one feed; false when `write` wants a pause. */
  private drain(f: VniFeed<P>, write: FrameWriter): boolean {
    const peer = this.peer;
    let cursor = f.cursor;
    if (cursor !== undefined) {
      const routes = this.table.routesFor(f.vni);
      if (routes !== f.routes && routes !== undefined) {
        // The map was replaced (it emptied while nobody subscribed): every entry of the new one
        // is newer than what was visited, so walking it from the start is right.
        f.routes = routes;
        cursor = f.cursor = routes.map.values();
      }
      const pending = f.pending;
      for (;;) {
        const r = cursor.next();
        if (r.done === true) break;
        const e = r.value;
        f.cursorSeq = e.seq;
        f.visited++;
        if (pending?.has(e.key) === true || !visibleTo(e, peer)) continue;
        f.sent++;
        if (!write(e.key, false)) return false;
      }
      f.cursor = undefined;
    }
    const pending = f.pending;
    if (pending !== undefined) {
      for (const [key, sent] of pending) {
        pending.delete(key);
        const now = this.table.isVisible(peer, f.vni, key);
        if (now !== sent && !write(key, !now) && pending.size > 0) return false;
      }
    }
    return true;
  }

  private setFeed(f: VniFeed<P>): void {
    const old = this.feeds.get(f.vni);
    if (old?.busy === true) this.busyFeeds--;
    this.feeds.set(f.vni, f);
    if (f.busy) this.busyFeeds++;
  }
}
