/**
 * Fan-out publishing inside a load-generator worker: each publisher writes its pre-built batches
 * (announce, then withdraw) paced (a share of the total rate, phased so the publishers' batches
 * spread evenly) or unpaced (whole pairs as fast as write() takes them, honouring 'drain').
 */

import type { FanoutFrames } from './frames.js';
import { nowMs, type RawConn } from './raw-conn.js';

/** Bytes per socket write when unpaced (whole announce+withdraw pairs). */
const UNPACED_WRITE_BYTES = 32 * 1024;
const PACED_TICK_MS = 5;

export class Publisher {
  sentAdds = 0;
  sentRemoves = 0;
  done = false;
  private next = 0;
  private waitingDrain = false;

  /**
   * @param phase 0..1: paced, this client's batches are offset by this fraction of its batch
   *   period, so the clients' batches are spread evenly instead of all falling due together.
   */
  constructor(
    readonly c: RawConn,
    readonly f: FanoutFrames,
    readonly phase: number,
    /** Stop after this many updates (whole batches; 0 = no limit). */
    readonly limit: number,
    private readonly run: Publishing,
  ) {}

  private limited(extra: number): boolean {
    return this.limit > 0 && this.sent + extra > this.limit;
  }

  get sent(): number {
    return this.sentAdds + this.sentRemoves;
  }

  /** Writes blocks [next, next + n) (clamped to the buffer end); returns write()'s result. */
  private writeBlocks(n: number): boolean {
    const from = this.next;
    const to = Math.min(from + n, this.f.blocks);
    const start = this.f.blockStart[from] ?? 0;
    const end = this.f.blockStart[to] ?? 0;
    for (let b = from; b < to; b++) {
      if (b % 2 === 0) this.sentAdds += this.f.batch;
      else this.sentRemoves += this.f.batch;
    }
    this.next = to === this.f.blocks ? 0 : to;
    return this.c.socket.write(this.f.buf.subarray(start, end));
  }

  /** Unpaced: write whole pairs as fast as the socket takes them (respecting back-pressure). */
  pump = (): void => {
    if (this.done) return;
    if (!this.c.alive || this.run.stopping) {
      this.finish();
      return;
    }
    const pairBytes = (this.f.blockStart[2] ?? 0) - (this.f.blockStart[0] ?? 0);
    let pairs = Math.max(1, Math.floor(UNPACED_WRITE_BYTES / Math.max(1, pairBytes)));
    if (this.limit > 0) {
      pairs = Math.min(pairs, Math.floor((this.limit - this.sent) / (2 * this.f.batch)));
      if (pairs <= 0) {
        this.finish();
        return;
      }
    }
    if (this.writeBlocks(2 * pairs)) setImmediate(this.pump);
    else {
      this.c.socket.once('drain', this.pump);
    }
  };

  /** Paced: called every tick with the number of updates due by now. */
  tick(due: number): void {
    if (this.done) return;
    if (!this.c.alive) {
      this.finish();
      return;
    }
    const batch = this.f.batch;
    if (this.run.stopping) {
      // Finish the batch in progress (its withdrawals; write() queues them even under
      // back-pressure), then stop.
      if (this.next % 2 === 1) this.writeBlocks(1);
      this.finish();
      return;
    }
    if (this.waitingDrain) return;
    while (this.sent + batch <= due + this.phase * batch) {
      // A new batch only when its withdrawal fits the limit too.
      if (this.next % 2 === 0 && this.limited(2 * batch)) return;
      if (!this.writeBlocks(1)) {
        this.waitingDrain = true;
        this.c.socket.once('drain', () => {
          this.waitingDrain = false;
        });
        return;
      }
    }
  }

  finish(): void {
    if (this.done) return;
    this.done = true;
    this.c.socket.off('drain', this.pump);
    this.run.checkStopped();
  }
}

/** The fan-out publishers of one worker process: prepared, started and stopped together. */
export class Publishing {
  publishers: Publisher[] = [];
  stopping = false;
  private pacer: NodeJS.Timeout | undefined;
  private stopWaiter: (() => void) | undefined;

  /** Resolves a pending stop() once every publisher is done (or its connection is gone). */
  checkStopped(): void {
    if (this.stopWaiter !== undefined && this.publishers.every((p) => p.done || !p.c.alive)) {
      const w = this.stopWaiter;
      this.stopWaiter = undefined;
      w();
    }
  }

  start(ratePerClient: number): void {
    this.stopping = false;
    const t0 = nowMs();
    if (ratePerClient <= 0) {
      for (const p of this.publishers) setImmediate(p.pump);
      return;
    }
    this.pacer = setInterval(() => {
      const due = ((nowMs() - t0) / 1000) * ratePerClient;
      for (const p of this.publishers) p.tick(due);
    }, PACED_TICK_MS);
  }

  /**
   * Stops publishing now: no new batch is started. Unpaced publishers only ever write whole
   * announce+withdraw pairs, so one waiting for 'drain' is done (what it wrote is queued and will
   * be delivered); paced ones write the withdrawals of a half-done batch first.
   */
  async stop(): Promise<void> {
    this.stopping = true;
    for (const p of this.publishers) {
      if (this.pacer !== undefined) p.tick(0);
      else p.finish();
    }
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        // A publisher stuck on back-pressure for this long is reported as is.
        this.stopWaiter = undefined;
        resolve();
      }, 30_000);
      this.stopWaiter = () => {
        clearTimeout(t);
        resolve();
      };
      this.checkStopped();
    });
    if (this.pacer !== undefined) clearInterval(this.pacer);
    this.pacer = undefined;
  }
}
