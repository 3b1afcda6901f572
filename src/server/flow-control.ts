/**
 * Flow control (behaviour.md, Flow control): a slow subscriber never slows the others, and
 * overload never loses an update.
 *
 * - A subscriber whose queue passes the high watermark is served from its backlog of route keys
 *   (SubscriberFeed.behind) until it has caught up: its memory stays bounded and the others go on
 *   at full speed.
 * - When the server as a whole cannot keep up — more than half of the subscribers above the low
 *   watermark at once, or too much queued in one burst of input — it stops reading from every
 *   peer (TCP back-pressure slows the publishers down) until the queues drain.
 * - A peer with something to send and no write progress for the stall timeout is disconnected.
 *
 * Time comes from an injected clock; the stall check runs on a timer only while some peer waits.
 */

import type { ResolvedServerConfig } from './config.js';
import type { ServerPeer } from './peer.js';

export interface FlowCallbacks {
  /** Cut `peer`: it made no write progress for the stall timeout. */
  stalled(peer: ServerPeer, why: string): void;
  /** Reading from publishers was paused (`why`: 'majority' or 'burst'). */
  paused(why: 'majority' | 'burst'): void;
  /** `peer` fell behind (now fed from its backlog). */
  behind(peer: ServerPeer): void;
}

export interface FlowPeers {
  /** Every connected peer. */
  all(): Iterable<ServerPeer>;
  /** Number of peers with at least one subscription. */
  subscriberCount(): number;
}

interface Progress {
  bytes: number;
  at: number;
}

export class FlowControl {
  /** Subscribers whose queue is above the low watermark. */
  private readonly aboveLow = new Set<ServerPeer>();
  /** Peers with something to send, and their last write progress. */
  private readonly waiting = new Map<ServerPeer, Progress>();
  private majority = false;
  private throttled = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ResolvedServerConfig,
    private readonly peers: FlowPeers,
    private readonly cb: FlowCallbacks,
    private readonly now: () => number = Date.now,
    private readonly defer: (f: () => void) => void = setImmediate,
  ) {}

  /** Whether reading from publishers is paused. */
  get paused(): boolean {
    return this.majority || this.throttled;
  }

  /** Re-evaluates one peer (after a flush, or when its socket drained). */
  check(peer: ServerPeer): void {
    if (peer.closed) return;
    const session = peer.session;
    const feed = peer.feed;
    const queued = session.queuedBytes;
    const c = this.config;
    if (!feed.behind && queued > c.queueHighWatermarkBytes) {
      this.fellBehind(peer);
    } else if (feed.behind && queued < c.queueLowWatermarkBytes && !feed.hasBacklog) {
      feed.behind = false;
    }
    if (queued > c.queueLowWatermarkBytes) this.aboveLow.add(peer);
    else this.aboveLow.delete(peer);
    this.evaluate();
    if (queued > 0 || session.socketBytes > 0 || feed.hasBacklog) {
      if (!this.waiting.has(peer)) {
        this.waiting.set(peer, { bytes: session.totalWrittenBytes, at: this.now() });
        this.armTimer();
      }
    } else {
      this.waiting.delete(peer);
    }
  }

  /**
   * `peer`'s queue passed the high watermark (seen by the fan-out as it queues, or here): it is
   * served from its backlog of route keys until it has caught up.
   */
  fellBehind(peer: ServerPeer): void {
    if (peer.feed.behind) return;
    peer.feed.behind = true;
    // Its queue must not pin the shared fan-out buffers while it drains slowly.
    peer.session.consolidateQueue();
    this.cb.behind(peer);
  }

  /** A peer became established: paused too while reading is paused. */
  joined(peer: ServerPeer): void {
    if (this.paused) peer.session.setReadingPaused(true);
  }

  left(peer: ServerPeer): void {
    this.waiting.delete(peer);
    if (this.aboveLow.delete(peer)) this.evaluate();
  }

  /**
   * Much was queued since the last throttle: stop reading from everyone until the queued frames
   * have been handed to the sockets (the write flush runs first), then re-evaluate.
   */
  throttle(): void {
    if (this.throttled) return;
    this.throttled = true;
    this.cb.paused('burst');
    this.setReading(false);
    this.defer(() => {
      this.throttled = false;
      for (const p of [...this.peers.all()]) this.check(p);
      if (!this.paused) this.setReading(true);
    });
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The majority rule: pause while more than half of the subscribers are above the low mark. */
  private evaluate(): void {
    const majority = this.aboveLow.size * 2 > this.peers.subscriberCount();
    if (majority === this.majority) return;
    this.majority = majority;
    if (majority) {
      this.cb.paused('majority');
      this.setReading(false);
    } else if (!this.throttled) {
      this.setReading(true);
    }
  }

  private setReading(on: boolean): void {
    for (const p of this.peers.all()) if (p.session.established) p.session.setReadingPaused(!on);
  }

  private armTimer(): void {
    if (this.timer !== undefined) return;
    const stallMs = this.config.stallTimeoutMs;
    this.timer = setInterval(
      () => {
        this.checkStalls(stallMs);
      },
      Math.max(10, Math.min(1000, stallMs / 4)),
    );
    this.timer.unref();
  }

  private checkStalls(stallMs: number): void {
    const now = this.now();
    for (const [peer, p] of [...this.waiting]) {
      const written = peer.session.totalWrittenBytes;
      if (written !== p.bytes) {
        p.bytes = written;
        p.at = now;
      } else if (now - p.at >= stallMs) {
        this.waiting.delete(peer);
        this.cb.stalled(
          peer,
          `no write progress for ${String(now - p.at)} ms with ${String(peer.session.queuedBytes + peer.session.socketBytes)} bytes queued and ${String(peer.feed.backlogRoutes)} routes in backlog`,
        );
      }
    }
    if (this.waiting.size === 0) this.stop();
  }
}
