/**
 * Per-session limits and authorisation decisions of the server (behaviour.md, Limits and access),
 * pure: the server passes what it counts, gets back a refusal (to send as REFUSED to peers that
 * negotiated REFUSALS, and to count) or undefined. REMOVE and UNSUBSCRIBE are never refused.
 */

import { InvalidArgumentError } from '../errors.js';
import type { Rights } from './authorization.js';
import { isAllowed, type CidrList } from './cidr.js';

export interface Limits {
  /** Routes one peer may own in all. */
  readonly maxRoutesPerPeer: number;
  /** Routes one peer may own in one VNI. */
  readonly maxRoutesPerPeerPerVni: number;
  /** VNIs one peer may be subscribed to. */
  readonly maxSubscriptionsPerPeer: number;
  /** Connections in all (accepted, not yet closed). */
  readonly maxConnections: number;
}

/** High enough for tens of thousands of hypervisors with their VMs' routes. */
export const DEFAULT_LIMITS: Limits = {
  maxRoutesPerPeer: 1_000_000,
  maxRoutesPerPeerPerVni: 1_000_000,
  maxSubscriptionsPerPeer: 100_000,
  maxConnections: 65_536,
};

export function resolveLimits(l: Partial<Limits> = {}): Limits {
  const out = { ...DEFAULT_LIMITS, ...l };
  for (const [k, v] of Object.entries(out)) {
    if (!Number.isInteger(v) || v < 0)
      throw new InvalidArgumentError(`${k} must be a whole number >= 0, got ${String(v)}`);
  }
  return out;
}

/** Why an operation was refused; `limit` is the stable name to count and log by. */
export type RefusalCause =
  | 'routes-per-peer'
  | 'routes-per-peer-per-vni'
  | 'subscriptions-per-peer'
  | 'announce-not-authorized'
  | 'subscribe-not-authorized';

export interface Refusal {
  /** REFUSED field 1: 1 = UPDATE, 2 = SUBSCRIBE. */
  readonly kind: 1 | 2;
  readonly vni: number;
  readonly cause: RefusalCause;
  /** REFUSED field 3 (at most 200 bytes of UTF-8). */
  readonly reason: string;
}

export const REFUSED_KIND_UPDATE = 1;
export const REFUSED_KIND_SUBSCRIBE = 2;
export const MAX_REASON_BYTES = 200;

/** Cuts `s` to at most `max` bytes of UTF-8 without splitting a character. */
export function truncateUtf8(s: string, max = MAX_REASON_BYTES): string {
  if (Buffer.byteLength(s, 'utf8') <= max) return s;
  let out = '';
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch, 'utf8');
    if (bytes + n > max) break;
    out += ch;
    bytes += n;
  }
  return out;
}

function refusal(kind: 1 | 2, vni: number, cause: RefusalCause, reason: string): Refusal {
  return { kind, vni, cause, reason: truncateUtf8(reason) };
}

/**
 * Decides an ADD that would make the peer own one more route (a duplicate ADD of a route it
 * already owns changes nothing and must not be checked). `owned` / `ownedInVni`: what it owns now.
 */
export function refuseAdd(
  limits: Limits,
  rights: Rights,
  vni: number,
  owned: number,
  ownedInVni: number,
): Refusal | undefined {
  if (!rights.mayAnnounce(vni)) {
    return refusal(
      1,
      vni,
      'announce-not-authorized',
      `not authorized to announce into VNI ${String(vni)}`,
    );
  }
  if (owned >= limits.maxRoutesPerPeer) {
    return refusal(
      1,
      vni,
      'routes-per-peer',
      `limit of ${String(limits.maxRoutesPerPeer)} routes per peer reached`,
    );
  }
  if (ownedInVni >= limits.maxRoutesPerPeerPerVni) {
    return refusal(
      1,
      vni,
      'routes-per-peer-per-vni',
      `limit of ${String(limits.maxRoutesPerPeerPerVni)} routes per peer in VNI ${String(vni)} reached`,
    );
  }
  return undefined;
}

/** Decides a SUBSCRIBE that is not a no-op. `subscriptions`: how many VNIs the peer has now. */
export function refuseSubscribe(
  limits: Limits,
  rights: Rights,
  vni: number,
  subscriptions: number,
): Refusal | undefined {
  if (!rights.maySubscribe(vni)) {
    return refusal(
      2,
      vni,
      'subscribe-not-authorized',
      `not authorized to subscribe to VNI ${String(vni)}`,
    );
  }
  if (subscriptions >= limits.maxSubscriptionsPerPeer) {
    return refusal(
      2,
      vni,
      'subscriptions-per-peer',
      `limit of ${String(limits.maxSubscriptionsPerPeer)} subscriptions per peer reached`,
    );
  }
  return undefined;
}

export type ConnectionRefusal = 'not-allowed' | 'connection-limit';

/**
 * Decides a new connection before anything is sent on it: outside every `--allow` prefix, or the
 * server already holds `maxConnections` (`open` = connections currently open, this one excluded).
 */
export function refuseConnection(
  limits: Limits,
  allow: CidrList | undefined,
  address: string | undefined,
  open: number,
): ConnectionRefusal | undefined {
  if (!isAllowed(allow, address)) return 'not-allowed';
  if (open >= limits.maxConnections) return 'connection-limit';
  return undefined;
}

/**
 * Rate limit for log lines of one kind (counters are never limited): at most `burst` lines, then
 * one per `intervalMs`. `take()` says whether to log now and how many were suppressed since the
 * last line logged (to put in that line).
 */
export class LogRateLimiter {
  private tokens: number;
  private last: number;
  private suppressed = 0;

  constructor(
    private readonly burst = 10,
    private readonly intervalMs = 10_000,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now = Date.now()): { log: boolean; suppressed: number } {
    const refill = Math.floor((now - this.last) / this.intervalMs);
    if (refill > 0) {
      this.tokens = Math.min(this.burst, this.tokens + refill);
      this.last += refill * this.intervalMs;
    }
    if (this.tokens <= 0) {
      this.suppressed++;
      return { log: false, suppressed: this.suppressed };
    }
    this.tokens--;
    const s = this.suppressed;
    this.suppressed = 0;
    return { log: true, suppressed: s };
  }
}
