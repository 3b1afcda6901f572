/**
 * When a server has sent a subscription's routes completely (behaviour.md, tsbond extensions).
 * Pure: the connection feeds it what it sends and receives, and asks it with the current time.
 *
 * - With SYNC_MARKER, every SUBSCRIBE is answered in stream order by exactly one SYNCED, or by a
 *   REFUSED of kind SUBSCRIBE. A VNI is synced when every SUBSCRIBE sent for it is answered and the
 *   last answer is a SYNCED for a subscription still current.
 * - Without it (Go MetalBond, rustbond, tsbond without extensions) the settle rule applies: no
 *   UPDATE of any VNI for `quietMs` (2 s), and at least `afterMs` (15 s) since the session was
 *   established, or the hold time since the previous session was lost has ended.
 */

import type { Vni } from '../model/route.js';

/** Settle rule: no UPDATE for this long... */
export const SETTLE_QUIET_MS = 2000;
/** ...and the session established at least this long (or the hold time ended). */
export const SETTLE_AFTER_MS = 15_000;

export class SyncTracker {
  /** SUBSCRIBEs sent whose SYNCED or REFUSED has not arrived, per VNI. */
  private readonly unanswered = new Map<Vni, number>();
  /** Current subscriptions of the session. */
  private readonly current = new Set<Vni>();
  /** Current subscriptions synced. */
  readonly synced = new Set<Vni>();
  /** Current subscriptions refused by the server. */
  readonly refused = new Set<Vni>();
  private lastUpdateAt: number;

  constructor(
    /** The session negotiated SYNC_MARKER. */
    readonly marker: boolean,
    private readonly establishedAt: number,
    /** When the hold time of the previous session's routes ends (0: none pending). */
    private readonly holdEndsAt: number,
    private readonly quietMs = SETTLE_QUIET_MS,
    private readonly afterMs = SETTLE_AFTER_MS,
  ) {
    this.lastUpdateAt = establishedAt;
  }

  subscribed(vni: Vni): void {
    this.current.add(vni);
    this.synced.delete(vni);
    this.refused.delete(vni);
    if (this.marker) this.unanswered.set(vni, (this.unanswered.get(vni) ?? 0) + 1);
  }

  unsubscribed(vni: Vni): void {
    this.current.delete(vni);
    this.synced.delete(vni);
    this.refused.delete(vni);
  }

  /** An UPDATE arrived. */
  update(now: number): void {
    this.lastUpdateAt = now;
  }

  /** SYNCED arrived; returns whether `vni` is synced by it. */
  syncedMarker(vni: Vni): boolean {
    if (!this.answer(vni)) return false;
    this.synced.add(vni);
    return true;
  }

  /** A REFUSED of a SUBSCRIBE arrived; returns whether it refused a current subscription. */
  refusedSubscribe(vni: Vni): boolean {
    if (!this.answer(vni)) return false;
    this.refused.add(vni);
    return true;
  }

  /** Settle rule (no marker): the VNIs that are synced as of `now` and were not before. */
  settle(now: number): Vni[] {
    if (this.marker || now - this.lastUpdateAt < this.quietMs) return [];
    if (now - this.establishedAt < this.afterMs && (this.holdEndsAt === 0 || now < this.holdEndsAt))
      return [];
    const out: Vni[] = [];
    for (const v of this.current) {
      if (!this.synced.has(v)) {
        this.synced.add(v);
        out.push(v);
      }
    }
    return out;
  }

  /** Milliseconds until settle() can next report something (undefined: nothing to wait for). */
  nextSettleIn(now: number): number | undefined {
    if (this.marker || [...this.current].every((v) => this.synced.has(v))) return undefined;
    const quiet = this.lastUpdateAt + this.quietMs;
    const after = Math.min(
      this.establishedAt + this.afterMs,
      this.holdEndsAt === 0 ? Infinity : this.holdEndsAt,
    );
    return Math.max(0, Math.max(quiet, after) - now);
  }

  /** One answer for `vni`: whether it is the answer to the current subscription. */
  private answer(vni: Vni): boolean {
    const n = this.unanswered.get(vni) ?? 0;
    if (n === 0) return false; // not ours to count (a server bug): ignored
    if (n === 1) this.unanswered.delete(vni);
    else this.unanswered.set(vni, n - 1);
    return n === 1 && this.current.has(vni);
  }
}
