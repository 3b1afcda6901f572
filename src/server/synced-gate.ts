/**
 * The server's sync delay (behaviour.md, tsbond extensions): for `delayMs` after the server
 * started, SYNCEDs that are due are held, so that announcers reconnecting after a restart are in
 * the view before any subscriber is told it is in sync; then every held one goes out, later ones
 * at once.
 */

import type { ServerPeer } from './peer.js';

export class SyncedGate {
  private holding: boolean;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    delayMs: number,
    /** Sends SYNCED for `vni` to `peer`. */
    private readonly send: (peer: ServerPeer, vni: number) => void,
    /** The peers connected now (their held SYNCEDs are released with the gate). */
    private readonly peers: () => Iterable<ServerPeer>,
  ) {
    this.holding = delayMs > 0;
    if (this.holding) {
      this.timer = setTimeout(() => {
        this.release();
      }, delayMs);
      this.timer.unref();
    }
  }

  /** A SYNCED for `vni` is due to `peer`: sent now, or held until the delay has passed. */
  due(peer: ServerPeer, vni: number): void {
    if (this.holding) peer.heldSynced.push(vni);
    else this.send(peer, vni);
  }

  /**
   * `peer` unsubscribed from `vni`: a SYNCED held for it goes out now (the subscription ended,
   * nothing more is coming for it). True when there was one.
   */
  withdraw(peer: ServerPeer, vni: number): boolean {
    const i = peer.heldSynced.indexOf(vni);
    if (i === -1) return false;
    peer.heldSynced.splice(i, 1);
    return true;
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private release(): void {
    this.holding = false;
    this.timer = undefined;
    for (const peer of this.peers()) {
      const held = peer.heldSynced;
      if (held.length === 0) continue;
      peer.heldSynced = [];
      for (const vni of held) this.send(peer, vni);
    }
  }
}
