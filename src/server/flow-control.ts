/**
 * Flow control (behaviour.md, Flow control). When a peer's outbound queue passes the soft
 * watermark, the server stops reading from every other peer (TCP back-pressure slows publishers
 * down) until it drains. A peer is disconnected as a slow consumer when its queue, snapshot aside,
 * passes the hard bound, or when it stays congested without any write progress for the stall
 * timeout. Memory stays bounded either way.
 */

import type { Session } from '../session/session.js';
import type { ResolvedServerConfig } from './config.js';
import type { ServerPeer } from './peer.js';

export interface FlowCallbacks {
  slowConsumer(peer: ServerPeer, why: string): void;
  paused(): void;
}

export class FlowControl {
  private readonly congested = new Set<ServerPeer>();
  private readonly progress = new Map<ServerPeer, { bytes: number; at: number }>();
  private timer: NodeJS.Timeout | undefined;
  private throttled = false;

  constructor(
    private readonly config: ResolvedServerConfig,
    private readonly peers: ReadonlyMap<Session, ServerPeer>,
    private readonly cb: FlowCallbacks,
  ) {}

  /** Re-evaluates one peer's queue (after a flush or a drain). */
  check(peer: ServerPeer): void {
    if (peer.closed) return;
    if (peer.liveQueuedBytes() > this.config.maxQueueBytes) {
      this.cb.slowConsumer(peer, `outbound queue above ${String(this.config.maxQueueBytes)} bytes`);
      return;
    }
    // A snapshot still being written does not count: a large one must not stall everyone else.
    const queued = peer.liveQueuedBytes();
    if (queued > this.config.queueSoftLimitBytes) {
      if (this.congested.has(peer)) return;
      this.congested.add(peer);
      this.progress.set(peer, { bytes: peer.session.totalWrittenBytes, at: Date.now() });
      peer.session.setReadingPaused(false);
      if (this.congested.size === 1) this.pauseOthers();
    } else if (this.congested.delete(peer)) {
      this.uncongest(peer);
    }
  }

  /** A peer became established: it is paused too while someone is congested. */
  joined(peer: ServerPeer): void {
    if ((this.throttled || this.congested.size > 0) && !this.congested.has(peer)) {
      peer.session.setReadingPaused(true);
    }
  }

  /**
   * Much was queued in this event-loop turn: stop reading from everyone until the queued frames
   * have been handed to the sockets (the write flush runs first), then re-evaluate every queue.
   */
  throttle(): void {
    if (this.throttled) return;
    this.throttled = true;
    for (const p of this.peers.values())
      if (p.session.established) p.session.setReadingPaused(true);
    setImmediate(() => {
      this.throttled = false;
      for (const p of [...this.peers.values()]) this.check(p);
      if (this.congested.size === 0) {
        for (const p of this.peers.values()) p.session.setReadingPaused(false);
      }
    });
  }

  left(peer: ServerPeer): void {
    if (this.congested.delete(peer)) this.uncongest(peer);
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private uncongest(peer: ServerPeer): void {
    this.progress.delete(peer);
    if (this.congested.size === 0) {
      this.stop();
      if (!this.throttled) for (const p of this.peers.values()) p.session.setReadingPaused(false);
    }
  }

  private pauseOthers(): void {
    this.cb.paused();
    for (const p of this.peers.values()) {
      if (!this.congested.has(p) && p.session.established) p.session.setReadingPaused(true);
    }
    const stallMs = this.config.slowConsumerTimeoutMs;
    this.timer = setInterval(
      () => {
        this.checkStalls(stallMs);
      },
      Math.max(10, stallMs / 4),
    );
    this.timer.unref();
  }

  private checkStalls(stallMs: number): void {
    const now = Date.now();
    for (const peer of [...this.congested]) {
      const p = this.progress.get(peer);
      if (p === undefined) continue;
      const written = peer.session.totalWrittenBytes;
      if (written !== p.bytes) {
        p.bytes = written;
        p.at = now;
      } else if (now - p.at >= stallMs) {
        this.cb.slowConsumer(
          peer,
          `no write progress for ${String(now - p.at)} ms with ${String(peer.session.queuedBytes)} bytes queued`,
        );
      }
    }
  }
}
