/** Handshake rules shared by both roles (behaviour.md, Session). Pure. */

import { InvalidArgumentError, ProtocolError } from '../errors.js';
import type { HelloMessage } from '../wire/messages.js';

export const DEFAULT_KEEPALIVE_SECONDS = 5;
/** Keepalive timeout and HELLO timeout are this multiple of the interval. */
export const KEEPALIVE_TIMEOUT_FACTOR = 2.5;

/** Refuses a HELLO that announces a keepalive below 1 s (it crashes or deadlocks Go peers). */
export function checkHello(m: HelloMessage): void {
  if (m.keepaliveInterval < 1) {
    throw new ProtocolError(`HELLO with keepalive interval ${String(m.keepaliveInterval)} (< 1)`);
  }
}

/** Negotiated interval: the smaller of ours and the peer's. */
export function negotiateKeepalive(own: number, peer: number): number {
  return Math.min(own, peer);
}

/** Validates a configured keepalive interval in seconds (never send K < 1). */
export function checkKeepaliveSeconds(k: number): number {
  if (!Number.isInteger(k) || k < 1 || k > 0xffffffff) {
    throw new InvalidArgumentError(
      `keepalive must be a whole number of seconds >= 1, got ${String(k)}`,
    );
  }
  return k;
}
