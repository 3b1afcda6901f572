/** A peer connected to the server: its session plus server-side bookkeeping. */

import type { RouteTable } from '../routing/route-table.js';
import { SubscriberFeed } from '../routing/subscriber-feed.js';
import type { Session } from '../session/session.js';

export class ServerPeer {
  readonly connectedAt = new Date();
  /** Invalid UPDATEs received (all counted, the first few logged). */
  invalidUpdates = 0;
  closed = false;
  /** What this peer, as a subscriber, must still be sent (snapshots, backlog). */
  readonly feed: SubscriberFeed<ServerPeer>;
  /** VNIs whose subscription drained but whose SYNCED waits for the server's sync delay. */
  heldSynced: number[] = [];

  constructor(
    readonly id: number,
    readonly session: Session,
    table: RouteTable<ServerPeer>,
  ) {
    this.feed = new SubscriberFeed<ServerPeer>(this, table);
  }

  get address(): string {
    return this.session.remoteAddress;
  }
}
