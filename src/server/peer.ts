/** A peer connected to the server: its session plus server-side bookkeeping. */

import type { Session } from '../session/session.js';

export class ServerPeer {
  readonly connectedAt = new Date();
  /** Invalid UPDATEs received (all counted, the first few logged). */
  invalidUpdates = 0;
  /** Stream position (totalEnqueuedBytes) at the end of the last snapshot queued. */
  snapshotEndMark = 0;
  closed = false;

  constructor(
    readonly id: number,
    readonly session: Session,
  ) {}

  get address(): string {
    return this.session.remoteAddress;
  }

  /** Queued bytes that are not part of a snapshot still being written. */
  liveQueuedBytes(): number {
    const s = this.session;
    const snapshotLeft = Math.max(0, this.snapshotEndMark - s.totalWrittenBytes);
    return Math.max(0, s.queuedBytes - snapshotLeft);
  }
}
