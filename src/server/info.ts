/** Read-only views of the server's state, for status pages, metrics and tests. */

import type { Route } from '../model/route.js';
import type { SessionState } from '../session/state.js';

export interface PeerInfo {
  readonly id: number;
  readonly address: string;
  readonly state: SessionState;
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
  /** Outbound bytes not yet handed to the kernel. */
  readonly queuedBytes: number;
  /** Reading paused by flow control. */
  readonly readingPaused: boolean;
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
  /** Decodable but invalid UPDATEs, dropped alone. */
  invalidUpdates: number;
  /** Sessions closed for breaking the protocol (framing, version, type, order, payload). */
  protocolErrors: number;
  /** Sessions closed because the handshake or keepalive deadline passed. */
  timeouts: number;
  /** Peers disconnected because they did not read what they were sent. */
  slowConsumerDisconnects: number;
  /** Times reading from publishers was paused because a subscriber's queue was full. */
  flowControlPauses: number;
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

export interface ServerEvents {
  peer: [PeerEvent];
  subscription: [SubscriptionEvent];
  route: [RouteEvent];
}
