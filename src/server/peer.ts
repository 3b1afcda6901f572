/** A peer connected to the server: its session plus server-side bookkeeping. */

import type { Rights } from '../access/authorization.js';
import type { Identity } from '../access/identity.js';
import { describeIdentity } from '../access/identity.js';
import { LogRateLimiter } from '../access/limits.js';
import type { RouteTable } from '../routing/route-table.js';
import { SubscriberFeed } from '../routing/subscriber-feed.js';
import type { Session } from '../session/session.js';
import type { PeerInfo } from './info.js';

export class ServerPeer {
  readonly connectedAt = new Date();
  /** Invalid UPDATEs received (all counted, the first few logged). */
  invalidUpdates = 0;
  closed = false;
  /** What this peer, as a subscriber, must still be sent (snapshots, backlog). */
  readonly feed: SubscriberFeed<ServerPeer>;
  /** VNIs whose subscription drained but whose SYNCED waits for the server's sync delay. */
  heldSynced: number[] = [];
  /** Routes the peer owns (kept on every ownership change). */
  routesOwned = 0;
  /** Refusal log lines of this peer (rate-limited; the counters are not). */
  readonly refusalLog = new LogRateLimiter();

  constructor(
    readonly id: number,
    readonly session: Session,
    table: RouteTable<ServerPeer>,
    /** Its source address and, on the TLS listener, its certificate. */
    readonly identity: Identity,
    /** What it may announce and subscribe to (the authorisation policy; all without one). */
    public rights: Rights,
    /** The listener it came in on. */
    readonly listener: 'tcp' | 'tls',
  ) {
    this.feed = new SubscriberFeed<ServerPeer>(this, table);
  }

  get address(): string {
    return this.session.remoteAddress;
  }

  /** What the status API reports about this peer; `subscriptions` from the route table. */
  info(subscriptions: Iterable<number>): PeerInfo {
    const s = this.session;
    const helloDone = s.keepaliveSeconds !== undefined;
    return {
      id: this.id,
      address: this.address,
      state: s.state,
      implementation: helloDone
        ? s.features.peer !== undefined
          ? 'tsbond'
          : 'metalbond'
        : undefined,
      features: helloDone ? s.features : undefined,
      paced: s.paced,
      listener: this.listener,
      identity: describeIdentity(this.identity),
      rules: this.rights.rules,
      keepalive: s.keepaliveSeconds,
      connectedSince: this.connectedAt,
      establishedSince: s.establishedAt,
      routesOwned: this.routesOwned,
      subscriptions: [...subscriptions].sort((a, b) => a - b),
      bytesIn: s.stats.bytesIn,
      bytesOut: s.stats.bytesOut,
      messagesIn: s.stats.messagesIn,
      messagesOut: s.stats.messagesOut,
      writes: s.stats.writes,
      queuedBytes: s.queuedBytes,
      socketBytes: s.socketBytes,
      backlogRoutes: this.feed.backlogRoutes,
      behind: this.feed.behind,
      syncing: this.feed.syncingVnis().sort((a, b) => a - b),
      readingPaused: s.isReadingPaused,
      invalidUpdates: this.invalidUpdates,
    };
  }
}
