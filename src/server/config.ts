/** Server configuration with defaults (behaviour.md, Server and Session). */

import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkPacing, type PacingOptions } from '../session/pacing.js';
import { DEFAULT_KEEPALIVE_SECONDS, checkKeepaliveSeconds } from '../session/handshake.js';

export const DEFAULT_LISTEN = '[::1]:4711';

export interface ServerConfig {
  /** Keepalive interval offered to peers, seconds (>= 1). Default 5. */
  readonly keepalive?: number;
  /** Handshake deadline in ms. Default 2.5 x keepalive. */
  readonly helloTimeoutMs?: number;
  /**
   * Soft watermark of a peer's outbound queue in bytes: above it the server stops reading from
   * publishers until the queue drains (TCP back-pressure). Default 4 MiB.
   */
  readonly queueSoftLimitBytes?: number;
  /**
   * Hard bound of a peer's outbound queue in bytes, beyond its initial snapshot: above it the peer
   * is disconnected as a slow consumer. Default 64 MiB.
   */
  readonly maxQueueBytes?: number;
  /**
   * A peer whose queue stays above the soft watermark this long without draining below it is
   * disconnected as a slow consumer. Default: the keepalive interval (so publishers, paused
   * meanwhile, never miss a keepalive deadline).
   */
  readonly slowConsumerTimeoutMs?: number;
  /**
   * Pace writes to every peer so that peers which do not reassemble the TCP stream (Go MetalBond
   * clients reset when they fall 64 KiB behind) are not overrun. Default DEFAULT_PACING (512 KiB/s
   * per peer, 16 KiB bursts); `false` writes as fast as the sockets take it (only for peers that
   * reassemble: tsbond, rustbond).
   */
  readonly pacing?: PacingOptions | false | undefined;
  /** Logger; silent by default. */
  readonly logger?: Logger;
  /** Invalid UPDATEs logged per peer before further ones are only counted. Default 20. */
  readonly invalidUpdateLogLimit?: number;
  /**
   * After a bulk withdrawal (a peer left or unsubscribed) its routes are gone at once; their table
   * entries are freed afterwards, this many per event-loop turn (a few ms of work). Default 16384.
   */
  readonly sweepStep?: number;
  /** Millisecond length of a keepalive second (tests only). Default 1000. */
  readonly secondMs?: number;
}

export interface ResolvedServerConfig {
  readonly keepalive: number;
  readonly helloTimeoutMs: number;
  readonly queueSoftLimitBytes: number;
  readonly maxQueueBytes: number;
  readonly slowConsumerTimeoutMs: number;
  readonly invalidUpdateLogLimit: number;
  readonly sweepStep: number;
  readonly secondMs: number;
  readonly pacing: PacingOptions | undefined;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0)
    throw new InvalidArgumentError(`${name} must be > 0, got ${String(v)}`);
  return v;
}

export function resolveServerConfig(c: ServerConfig): ResolvedServerConfig {
  const keepalive = checkKeepaliveSeconds(c.keepalive ?? DEFAULT_KEEPALIVE_SECONDS);
  const secondMs = positive('secondMs', c.secondMs ?? 1000);
  const soft = positive('queueSoftLimitBytes', c.queueSoftLimitBytes ?? 4 * 1024 * 1024);
  const hard = positive('maxQueueBytes', c.maxQueueBytes ?? 64 * 1024 * 1024);
  if (hard < soft) {
    throw new InvalidArgumentError(
      `maxQueueBytes (${String(hard)}) must be >= queueSoftLimitBytes (${String(soft)})`,
    );
  }
  return {
    keepalive,
    helloTimeoutMs: positive('helloTimeoutMs', c.helloTimeoutMs ?? keepalive * 2.5 * secondMs),
    queueSoftLimitBytes: soft,
    maxQueueBytes: hard,
    slowConsumerTimeoutMs: positive(
      'slowConsumerTimeoutMs',
      c.slowConsumerTimeoutMs ?? keepalive * secondMs,
    ),
    invalidUpdateLogLimit: c.invalidUpdateLogLimit ?? 20,
    sweepStep: Math.ceil(positive('sweepStep', c.sweepStep ?? 16_384)),
    secondMs,
    pacing: checkPacing(c.pacing),
  };
}
