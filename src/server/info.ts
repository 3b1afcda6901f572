/** Read-only views of the server's state, for status pages, metrics and tests. */

import type { Route } from '../model/route.js';
import type { NegotiatedFeatures } from '../session/session.js';
import type { SessionState } from '../session/state.js';

/** What a peer is, as far as the server can tell from its HELLO. */
export type PeerImplementation = 'tsbond' | 'metalbond';

export interface PeerInfo {
  readonly id: number;
  readonly address: string;
  readonly state: SessionState;
  /**
   * 'tsbond' when its HELLO carried tsbond feature bits; 'metalbond' otherwise (Go MetalBond,
   * rustbond, or tsbond with --no-extensions: they look alike on the wire).
   */
  readonly implementation: PeerImplementation | undefined;
  /** Negotiated features (after the HELLOs). */
  readonly features: NegotiatedFeatures | undefined;
  /** Writes to this peer are paced (it does not reassemble the stream). */
  readonly paced: boolean;
  /** The listener it came in on, and (TLS) its certificate's subject and SANs. */
  readonly listener: 'tcp' | 'tls';
  readonly identity: string;
  /** Names of the authorisation rules that grant its rights (empty: no policy, or none matched). */
  readonly rules: readonly string[];
  /** Negotiated keepalive in seconds, once the HELLOs are exchanged. */
  readonly keepalive: number | undefined;
  readonly connectedSince: Date;
  readonly establishedSince: Date | undefined;
  readonly routesOwned: number;
  readonly subscriptions: readonly number[];
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Socket writes: frames are coalesced, so usually far fewer than messagesOut. */
  readonly writes: number;
  /** Outbound bytes the server holds for this peer (not yet handed to its socket). */
  readonly queuedBytes: number;
  /** Bytes handed to the socket, not yet written to the kernel. */
  readonly socketBytes: number;
  /** Routes waiting in its backlog (pending keys plus snapshot routes not yet sent). */
  readonly backlogRoutes: number;
  /** Served from its backlog because it fell behind. */
  readonly behind: boolean;
  /** Subscriptions whose routes have not been complete once yet (snapshot still going). */
  readonly syncing: readonly number[];
  /** Reading paused by flow control. */
  readonly readingPaused: boolean;
  /** Decodable but invalid UPDATEs received (dropped). */
  readonly invalidUpdates: number;
}

export interface RouteInfo {
  readonly vni: number;
  readonly route: Route;
  /** Addresses of the peers announcing it. */
  readonly owners: readonly string[];
}

export interface ServerCounters {
  connectionsAccepted: number;
  updatesAccepted: number;
  /** UPDATE frames encoded for fan-out: one per change, whatever the number of recipients. */
  updatesEncoded: number;
  /** UPDATE frames produced from subscribers' snapshots and backlogs. */
  backlogUpdatesSent: number;
  /** UPDATEs accepted that were REMOVEs (the rest of updatesAccepted are ADDs). */
  removesAccepted: number;
  /** UPDATE frames queued to subscribers (one per recipient), and how many were REMOVEs. */
  updatesSent: number;
  removesSent: number;
  /** Decodable but invalid UPDATEs, dropped alone. */
  invalidUpdates: number;
  /** The same by reason (invalidReasonCode: missing_destination, prefix_length, nat_ports...). */
  invalidUpdatesByReason: Record<string, number>;
  /** Sessions closed for breaking the protocol (framing, version, type, order, payload). */
  protocolErrors: number;
  /** Sessions closed because the handshake or keepalive deadline passed. */
  timeouts: number;
  /** Peers disconnected because they made no write progress for the stall timeout. */
  slowConsumerDisconnects: number;
  /** Times a subscriber fell behind and was served from its backlog. */
  backlogEntered: number;
  /** Times reading from publishers was paused (the server as a whole fell behind). */
  flowControlPauses: number;
  /** Failures inside the server or its event listeners (logged; never a peer's fault). */
  internalErrors: number;
  /** Event listeners that threw (isolated: logged, counted, reported as 'listenerError'). */
  listenerErrors: number;
  /** SYNCED messages sent. */
  syncedSent: number;
  /** Operations refused (REFUSED sent to tsbond peers; dropped alone for the others). */
  refusedUpdates: number;
  refusedSubscriptions: number;
  /** The same by cause (routes-per-peer, subscribe-not-authorized, ...). */
  refusalsByCause: Record<string, number>;
  /** Connections closed before any reply (outside `--allow`, over the connection limit). */
  connectionsRefused: number;
}

export function newServerCounters(): ServerCounters {
  return {
    connectionsAccepted: 0,
    updatesAccepted: 0,
    removesAccepted: 0,
    updatesEncoded: 0,
    updatesSent: 0,
    removesSent: 0,
    backlogUpdatesSent: 0,
    invalidUpdates: 0,
    invalidUpdatesByReason: {},
    protocolErrors: 0,
    timeouts: 0,
    slowConsumerDisconnects: 0,
    backlogEntered: 0,
    flowControlPauses: 0,
    internalErrors: 0,
    listenerErrors: 0,
    syncedSent: 0,
    refusedUpdates: 0,
    refusedSubscriptions: 0,
    refusalsByCause: {},
    connectionsRefused: 0,
  };
}

export type PeerEvent =
  | { readonly type: 'connected'; readonly peer: PeerInfo }
  | { readonly type: 'established'; readonly peer: PeerInfo }
  | {
      readonly type: 'closed';
      readonly peer: PeerInfo;
      readonly reason: string;
      readonly code: string | undefined;
      /** Routes the peer announced and held when it left (all withdrawn from the table). */
      readonly routesWithdrawn: number;
    };

export interface SubscriptionEvent {
  readonly peer: string;
  readonly vni: number;
  readonly subscribed: boolean;
}

/** A change of what a peer announces (emitted only while someone listens). */
export interface RouteEvent {
  readonly action: 'ADD' | 'REMOVE';
  readonly vni: number;
  readonly route: Route;
  readonly peer: string;
}

/** A subscription's routes were complete for the first time (its snapshot drained). */
export interface SnapshotEvent {
  readonly peer: string;
  readonly vni: number;
  /** Routes the snapshot sent. */
  readonly routes: number;
  /** From SUBSCRIBE to the snapshot's last frame queued. */
  readonly durationMs: number;
}

/** Routes of one family and next-hop type. */
export interface RouteKindCount {
  readonly family: 'ipv4' | 'ipv6';
  readonly type: 'standard' | 'nat' | 'loadbalancer_target';
  readonly count: number;
}

export interface ServerEvents {
  peer: [PeerEvent];
  subscription: [SubscriptionEvent];
  route: [RouteEvent];
  snapshot: [SnapshotEvent];
  /** A listener of another event threw; the server went on. */
  listenerError: [error: unknown, event: string];
}
