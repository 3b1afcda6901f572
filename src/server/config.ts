/** Server configuration with defaults (behaviour.md, Server, Session and tsbond extensions). */

import { InvalidArgumentError } from '../errors.js';
import type { Logger } from '../log.js';
import { checkPacing, type PacingOptions } from '../session/pacing.js';
import {
  DEFAULT_KEEPALIVE_SECONDS,
  KEEPALIVE_TIMEOUT_FACTOR,
  checkKeepaliveSeconds,
} from '../session/handshake.js';
import { ALL_FEATURES } from '../wire/messages.js';
import type { AuthorizationPolicy } from '../access/authorization.js';
import { CidrList } from '../access/cidr.js';
import { resolveLimits, type Limits } from '../access/limits.js';
import type { TlsCredentials } from '../access/tls.js';
import { DEFAULT_PORT } from '../net-address.js';
import { INVALID_UPDATE_LOG_LIMIT } from '../model/validate.js';

export const DEFAULT_LISTEN = `[::1]:${String(DEFAULT_PORT)}`;
/** SYNCED is held back this long after the server started (announcers reconnect first). */
export const DEFAULT_SYNC_DELAY_MS = 15_000;
/**
 * Pending connections the kernel queues before accept (capped by net.core.somaxconn). Node's
 * default of 511 overflows when thousands of hypervisors reconnect after a server restart.
 */
export const DEFAULT_LISTEN_BACKLOG = 4096;

export interface ServerConfig {
  /** Keepalive interval offered to peers, seconds (>= 1). Default 5. */
  readonly keepalive?: number;
  /** Handshake deadline in ms. Default 2.5 x keepalive. */
  readonly helloTimeoutMs?: number;
  /**
   * tsbond protocol extensions (feature bits, SYNCED, REFUSED). Default true; false: behave as a
   * plain MetalBond server (`--no-extensions`).
   */
  readonly extensions?: boolean;
  /**
   * Pacing of writes to peers that do not reassemble the TCP stream (Go MetalBond, rustbond, tsbond
   * without extensions; Go clients reset when they fall 64 KiB behind). Default DEFAULT_PACING
   * (512 KiB/s per peer, 16 KiB bursts); `false`: no pacing at all. Peers that announced
   * REASSEMBLY are never paced.
   */
  readonly pacing?: PacingOptions | false | undefined;
  /**
   * SYNCED is held back until the server has been up this long, so that announcers reconnecting
   * after a server restart are in the view first. Default 15000 ms.
   */
  readonly syncDelayMs?: number;
  /**
   * Low watermark of a subscriber's queue (bytes the server holds for it): while more than half of
   * the subscribers are above it, the server stops reading from publishers. Default 1 MiB.
   */
  readonly queueLowWatermarkBytes?: number;
  /**
   * High watermark of a subscriber's queue: above it the subscriber is served from a backlog of
   * route keys instead of a queue of frames until it has caught up. Default 4 MiB.
   */
  readonly queueHighWatermarkBytes?: number;
  /**
   * A subscriber with something to send and no write progress for this long is disconnected.
   * Default 2.5 x keepalive.
   */
  readonly stallTimeoutMs?: number;
  /**
   * Bytes of fan-out queued between two pauses of reading that let the writes go out: bounds what
   * one burst of input queues before any of it is written. Default 4 MiB.
   */
  readonly turnBudgetBytes?: number;
  /**
   * Connections from outside every one of these prefixes (`--allow`) are closed before any reply.
   * Default: everybody.
   */
  readonly allow?: readonly string[];
  /**
   * Per-session limits (routes per peer, per peer and VNI, subscriptions per peer, connections in
   * all); over a limit the UPDATE or SUBSCRIBE is refused (REFUSED to tsbond peers), the session
   * stays. Defaults: DEFAULT_LIMITS.
   */
  readonly limits?: Partial<Limits>;
  /**
   * What each identity may announce and subscribe to (docs/security.md); no rule matching a peer
   * means no right. Default: no policy, everybody may do everything. Replace it with
   * setAuthorization() (a reload).
   */
  readonly authorization?: AuthorizationPolicy | undefined;
  /** A mutual-TLS listener for tsbond peers, beside the plain one (`--tls-listen`). */
  readonly tls?: { readonly listen: string; readonly credentials: TlsCredentials } | undefined;
  /** Listen backlog of both listeners. Default DEFAULT_LISTEN_BACKLOG (4096). */
  readonly listenBacklog?: number;
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
  readonly allow: CidrList | undefined;
  readonly limits: Limits;
  readonly helloTimeoutMs: number;
  /** Feature bits offered (undefined: extensions off). */
  readonly features: number | undefined;
  readonly pacing: PacingOptions | undefined;
  readonly syncDelayMs: number;
  readonly queueLowWatermarkBytes: number;
  readonly queueHighWatermarkBytes: number;
  readonly stallTimeoutMs: number;
  readonly turnBudgetBytes: number;
  readonly invalidUpdateLogLimit: number;
  readonly sweepStep: number;
  readonly listenBacklog: number;
  readonly secondMs: number;
}

function positive(name: string, v: number): number {
  if (!Number.isFinite(v) || v <= 0)
    throw new InvalidArgumentError(`${name} must be > 0, got ${String(v)}`);
  return v;
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0)
    throw new InvalidArgumentError(`${name} must be >= 0, got ${String(v)}`);
  return v;
}

export function resolveServerConfig(c: ServerConfig): ResolvedServerConfig {
  const keepalive = checkKeepaliveSeconds(c.keepalive ?? DEFAULT_KEEPALIVE_SECONDS);
  const secondMs = positive('secondMs', c.secondMs ?? 1000);
  const low = positive('queueLowWatermarkBytes', c.queueLowWatermarkBytes ?? 1024 * 1024);
  const high = positive('queueHighWatermarkBytes', c.queueHighWatermarkBytes ?? 4 * 1024 * 1024);
  if (high < low) {
    throw new InvalidArgumentError(
      `queueHighWatermarkBytes (${String(high)}) must be >= queueLowWatermarkBytes (${String(low)})`,
    );
  }
  const timeoutMs = keepalive * KEEPALIVE_TIMEOUT_FACTOR * secondMs;
  return {
    keepalive,
    allow: c.allow === undefined || c.allow.length === 0 ? undefined : new CidrList(c.allow),
    limits: resolveLimits(c.limits),
    helloTimeoutMs: positive('helloTimeoutMs', c.helloTimeoutMs ?? timeoutMs),
    features: c.extensions === false ? undefined : ALL_FEATURES,
    pacing: checkPacing(c.pacing),
    syncDelayMs: nonNegative('syncDelayMs', c.syncDelayMs ?? DEFAULT_SYNC_DELAY_MS),
    queueLowWatermarkBytes: low,
    queueHighWatermarkBytes: high,
    stallTimeoutMs: positive('stallTimeoutMs', c.stallTimeoutMs ?? timeoutMs),
    turnBudgetBytes: positive('turnBudgetBytes', c.turnBudgetBytes ?? 4 * 1024 * 1024),
    invalidUpdateLogLimit: nonNegative(
      'invalidUpdateLogLimit',
      c.invalidUpdateLogLimit ?? INVALID_UPDATE_LOG_LIMIT,
    ),
    sweepStep: Math.ceil(positive('sweepStep', c.sweepStep ?? 16_384)),
    listenBacklog: Math.ceil(positive('listenBacklog', c.listenBacklog ?? DEFAULT_LISTEN_BACKLOG)),
    secondMs,
  };
}
