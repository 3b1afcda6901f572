/**
 * Keepalive and liveness timers of one session. Time is read from a clock function, timers are
 * lazily re-armed (no timer reset per received frame).
 */

export interface KeepaliveCallbacks {
  /** Send a KEEPALIVE now (client role only). */
  sendKeepalive(): void;
  /** Nothing received for the timeout, or the handshake did not complete in time. */
  expired(kind: 'keepalive' | 'hello', afterMs: number): void;
}

export class KeepaliveManager {
  private lastRx: number;
  private rxTimer: NodeJS.Timeout | undefined;
  private txTimer: NodeJS.Timeout | undefined;
  private timeoutMs = 0;
  private paused = false;
  private stopped = false;

  constructor(
    private readonly cb: KeepaliveCallbacks,
    private readonly now: () => number = Date.now,
  ) {
    this.lastRx = now();
  }

  /** Starts the handshake deadline. */
  startHello(timeoutMs: number): void {
    this.clearRx();
    this.rxTimer = setTimeout(() => {
      this.rxTimer = undefined;
      if (!this.stopped) this.cb.expired('hello', timeoutMs);
    }, timeoutMs);
    this.rxTimer.unref();
  }

  /**
   * Switches to the established regime: the session expires when nothing is received for
   * `timeoutMs`; with `sendEveryMs`, a KEEPALIVE is sent at that period.
   */
  startEstablished(timeoutMs: number, sendEveryMs?: number): void {
    this.clearRx();
    this.timeoutMs = timeoutMs;
    this.lastRx = this.now();
    this.armRx(timeoutMs);
    if (sendEveryMs !== undefined) {
      this.txTimer = setInterval(() => {
        this.cb.sendKeepalive();
      }, sendEveryMs);
      this.txTimer.unref();
    }
  }

  /** Something was received. */
  touch(): void {
    this.lastRx = this.now();
  }

  /** Reading is paused by us (flow control): the peer's silence is then not its fault. */
  setPaused(paused: boolean): void {
    this.paused = paused;
    if (!paused) this.lastRx = this.now();
  }

  stop(): void {
    this.stopped = true;
    this.clearRx();
    if (this.txTimer !== undefined) clearInterval(this.txTimer);
    this.txTimer = undefined;
  }

  private clearRx(): void {
    if (this.rxTimer !== undefined) clearTimeout(this.rxTimer);
    this.rxTimer = undefined;
  }

  private armRx(delay: number): void {
    this.rxTimer = setTimeout(
      () => {
        this.rxTimer = undefined;
        if (this.stopped) return;
        const silent = this.now() - this.lastRx;
        if (this.paused) {
          this.armRx(this.timeoutMs);
        } else if (silent >= this.timeoutMs) {
          this.cb.expired('keepalive', silent);
        } else {
          this.armRx(this.timeoutMs - silent);
        }
      },
      Math.max(1, delay),
    );
    this.rxTimer.unref();
  }
}
