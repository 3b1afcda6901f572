/**
 * Fan-out: turns the route table's decisions into frames on the subscribers' queues. Each change
 * is encoded once (or forwarded as received) into a shared arena; consecutive frames for the same
 * recipients form a run, queued to each recipient as one range. A received chunk is bracketed by
 * begin() and end(): end() queues the pending run, so nothing refers to the chunk afterwards.
 *
 * Subscribers that keep up get the run's bytes as they are. Subscribers with something pending (a
 * snapshot cursor, or a backlog because they fell behind) get it frame by frame through their
 * SubscriberFeed, which decides what goes out now; their backlog is produced when their socket has
 * room (produce()).
 */

import type { RouteEntry } from '../routing/owner-index.js';
import { DeliveryKind, type RouteTable } from '../routing/route-table.js';
import type { FeedDone } from '../routing/subscriber-feed.js';
import { frameSizeAt } from '../wire/frames.js';
import { HEADER_SIZE } from '../wire/messages.js';
import { updateFrameSize } from '../wire/route-key.js';
import { FrameArena } from './arena.js';
import type { ServerPeer } from './peer.js';

export interface FanOutCounters {
  /** UPDATE frames encoded for fan-out: one per change, whatever the number of recipients. */
  updatesEncoded: number;
  /** UPDATE frames produced from subscribers' snapshots and backlogs. */
  backlogUpdatesSent: number;
  /** UPDATE frames queued to subscribers, one per recipient (snapshots and backlogs included). */
  updatesSent: number;
  /** ...of which REMOVEs. */
  removesSent: number;
}

export class FanOut {
  private readonly arena = new FrameArena();
  /** The pending run: frames [runStart, runEnd) of runBuf, for vni's subscribers but runExcept. */
  private runBuf: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  private runVni = 0;
  private runExcept: ServerPeer | undefined;
  /** The entry of each frame of the run, in order (for subscribers fed frame by frame). */
  private readonly runEntries: RouteEntry<ServerPeer>[] = [];
  /** REMOVEs in the run. */
  private runRemoves = 0;
  /** Bytes queued since the last reset (the server's per-turn throttle). */
  turnBytes = 0;

  constructor(
    private readonly table: RouteTable<ServerPeer>,
    private readonly counters: FanOutCounters,
    /** Queue size above which a subscriber is fed from its backlog. */
    private readonly highWatermark: number,
    /** Called once when a subscriber's queue passes the high watermark. */
    private readonly fellBehind: (peer: ServerPeer) => void,
  ) {}

  /** A received chunk starts; nothing may be pending from an earlier one. */
  begin(): void {
    this.end();
  }

  /** Queues the pending run to its recipients. Ends every chunk, and precedes any other queueing. */
  end(): void {
    const src = this.runBuf;
    if (src === undefined) return;
    this.runBuf = undefined;
    const entries = this.runEntries;
    const subs = this.table.subscribersOf(this.runVni);
    if (subs === undefined || subs.size === 0) {
      entries.length = 0;
      this.runRemoves = 0;
      return;
    }
    const arena = this.arena;
    let buf = src;
    let start = this.runStart;
    let end = this.runEnd;
    if (buf !== arena.buf) {
      // Frames of a received chunk: one copy for the whole run (the chunk is not kept).
      start = arena.copy(buf, start, end);
      buf = arena.buf;
      end = arena.pos;
    }
    const except = this.runExcept;
    const frames = entries.length;
    let bytes = 0;
    const high = this.highWatermark;
    const c = this.counters;
    const removes = this.runRemoves;
    this.runRemoves = 0;
    for (const s of subs) {
      if (s === except) continue;
      if (!s.feed.filtering) {
        s.session.send(buf, frames, start, end);
        bytes += end - start;
        c.updatesSent += frames;
        c.removesSent += removes;
        if (s.session.queuedBytes > high) this.fellBehind(s);
      } else {
        bytes += this.sendFiltered(s, this.runVni, buf, start, entries);
      }
    }
    this.turnBytes += bytes;
    entries.length = 0;
  }

  /**
   * One change decided by the table. `src[srcStart, srcEnd)` is the received frame when it can be
   * forwarded as is (canonical; valid during this call only); undefined: the frame is encoded from
   * the entry's key.
   */
  deliver(
    vni: number,
    e: RouteEntry<ServerPeer>,
    remove: boolean,
    kind: DeliveryKind,
    peer: ServerPeer | undefined,
    src: Buffer | undefined,
    srcStart: number,
    srcEnd: number,
  ): void {
    if (kind === DeliveryKind.ALL_EXCEPT) {
      const subs = this.table.subscribersOf(vni);
      if (subs === undefined || (subs.size === 1 && peer !== undefined && subs.has(peer))) return;
      this.counters.updatesEncoded++;
      let buf: Buffer;
      let start: number;
      let end: number;
      if (src !== undefined) {
        buf = src;
        start = srcStart;
        end = srcEnd;
      } else {
        start = this.arena.writeUpdate(e.key, remove);
        buf = this.arena.buf;
        end = this.arena.pos;
      }
      if (
        this.runBuf === buf &&
        this.runEnd === start &&
        this.runVni === vni &&
        this.runExcept === peer
      ) {
        this.runEnd = end;
      } else {
        this.end();
        this.runBuf = buf;
        this.runStart = start;
        this.runEnd = end;
        this.runVni = vni;
        this.runExcept = peer;
      }
      this.runEntries.push(e);
      if (remove) this.runRemoves++;
    } else if (
      kind === DeliveryKind.ONLY &&
      peer !== undefined &&
      this.table.isSubscribed(peer, vni)
    ) {
      this.end();
      if (peer.feed.filtering && !peer.feed.change(vni, e, remove)) {
        peer.session.requestFlush();
        return;
      }
      this.counters.updatesEncoded++;
      const arena = this.arena;
      const start =
        src === undefined ? arena.writeUpdate(e.key, remove) : arena.copy(src, srcStart, srcEnd);
      peer.session.send(arena.buf, 1, start, arena.pos);
      this.turnBytes += arena.pos - start;
      this.counters.updatesSent++;
      if (remove) this.counters.removesSent++;
      if (!peer.feed.behind && peer.session.queuedBytes > this.highWatermark) this.fellBehind(peer);
    }
  }

  /**
   * Produces backlog frames (snapshot cursor, pending keys) for `peer`, about `room` bytes, with a
   * SYNCED (or whatever `done` queues) in stream order after each subscription that drained.
   * Returns whether backlog is left.
   */
  produce(peer: ServerPeer, room: number, done: (d: FeedDone) => void): boolean {
    this.end();
    const arena = this.arena;
    const session = peer.session;
    let start = arena.pos;
    let frames = 0;
    let bytes = 0;
    let produced = 0;
    let removes = 0;
    const queue = (): void => {
      if (frames > 0) session.send(arena.buf, frames, start, arena.pos);
      produced += frames;
      frames = 0;
      start = arena.pos;
    };
    const more = peer.feed.produce(
      (key, remove) => {
        const size = updateFrameSize(key, remove);
        if (!arena.fits(size)) queue(); // the frames so far stay in the arena being replaced
        const at = arena.writeUpdate(key, remove);
        if (frames === 0) start = at;
        frames++;
        if (remove) removes++;
        bytes += size;
        return bytes < room;
      },
      (d) => {
        queue();
        done(d);
      },
    );
    queue();
    const c = this.counters;
    c.backlogUpdatesSent += produced;
    c.updatesSent += produced;
    c.removesSent += removes;
    return more;
  }

  /** Sends the frames of a run that `s`'s feed lets through; returns the bytes queued. */
  private sendFiltered(
    s: ServerPeer,
    vni: number,
    buf: Buffer,
    start: number,
    entries: readonly RouteEntry<ServerPeer>[],
  ): number {
    const feed = s.feed;
    let pos = start;
    let bytes = 0;
    let held = false;
    for (const e of entries) {
      const size = frameSizeAt(buf, pos);
      const remove = isRemove(buf, pos);
      if (feed.change(vni, e, remove)) {
        s.session.send(buf, 1, pos, pos + size);
        bytes += size;
        this.counters.updatesSent++;
        if (remove) this.counters.removesSent++;
        if (!feed.behind && s.session.queuedBytes > this.highWatermark) this.fellBehind(s);
      } else {
        held = true;
      }
      pos += size;
    }
    if (held) s.session.requestFlush();
    return bytes;
  }
}

/** Whether the UPDATE frame at `pos` is a REMOVE (its payload starts with action = 1). */
function isRemove(buf: Buffer, pos: number): boolean {
  return buf[pos + HEADER_SIZE] === 0x08 && buf[pos + HEADER_SIZE + 1] === 0x01;
}
