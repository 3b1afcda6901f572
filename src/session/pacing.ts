/**
 * Write pacing (token bucket). Go MetalBond peers do not reassemble TCP reads: a peer that falls
 * 64 KiB behind resets its session. Pacing keeps what we send to such a peer at a rate it can
 * read, in bursts that stay well below 64 KiB. Pure: time comes from the caller.
 */

import { InvalidArgumentError } from '../errors.js';
import { MAX_FRAME_SIZE } from '../wire/messages.js';

export interface PacingOptions {
  /** Sustained rate in bytes per second. */
  readonly bytesPerSecond: number;
  /** Most bytes sent at once after an idle period. */
  readonly burstBytes: number;
}

/**
 * Default pacing: 512 KiB/s in bursts of at most 16 KiB. Measured here: a Go MetalBond v0.5.0
 * client resets at 2 MB/s, keeps up with 1 MB/s most of the time but not on a loaded machine,
 * and reads a 30,000-route snapshot at 500 KB/s (docs/interop.md).
 */
export const DEFAULT_PACING: PacingOptions = { bytesPerSecond: 512 * 1024, burstBytes: 16 * 1024 };

/** Validates pacing options: a positive rate, a burst of at least one largest frame. */
export function checkPacing(p: PacingOptions | false | undefined): PacingOptions | undefined {
  if (p === false) return undefined;
  if (p === undefined) return DEFAULT_PACING;
  if (!(p.bytesPerSecond > 0)) {
    throw new InvalidArgumentError(
      `pacing.bytesPerSecond must be > 0, got ${String(p.bytesPerSecond)}`,
    );
  }
  if (!(p.burstBytes >= MAX_FRAME_SIZE)) {
    throw new InvalidArgumentError(
      `pacing.burstBytes must be >= ${String(MAX_FRAME_SIZE)} (one largest frame), got ${String(p.burstBytes)}`,
    );
  }
  return p;
}

export class Pacer {
  private tokens: number;
  private last: number;

  constructor(
    readonly options: PacingOptions,
    now: number,
  ) {
    this.tokens = options.burstBytes;
    this.last = now;
  }

  /** Bytes that may be sent now. */
  available(now: number): number {
    const elapsed = Math.max(0, now - this.last);
    this.last = now;
    this.tokens = Math.min(
      this.options.burstBytes,
      this.tokens + (elapsed * this.options.bytesPerSecond) / 1000,
    );
    return Math.floor(this.tokens);
  }

  consume(bytes: number): void {
    this.tokens -= bytes;
  }

  /** Milliseconds until `bytes` may be sent. */
  delayFor(bytes: number): number {
    const missing = Math.min(bytes, this.options.burstBytes) - this.tokens;
    return missing <= 0 ? 0 : Math.ceil((missing * 1000) / this.options.bytesPerSecond);
  }
}
