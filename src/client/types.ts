/** Public types of the client. */

import type { TlsCredentials } from '../access/tls.js';
import type { MetalBondError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Route, Vni } from '../model/route.js';
import type { PacingOptions } from '../session/pacing.js';
import type { NegotiatedFeatures } from '../session/session.js';
import type { SessionState } from '../session/state.js';

/**
 * Receives route changes, once per (vni, route) across all servers; ECMP next hops are separate
 * calls. A handler may return a promise: the client keeps at most `maxHandlerCalls` of them in
 * flight (and stops reading from its servers while that many are), never overlaps two calls for
 * one route, and reports SYNCED (waitSynced, 'synced') only once the calls before it settled.
 * Exceptions and rejected promises are caught, logged and reported as 'handlerError'.
 */
export interface RouteHandler {
  addRoute(vni: Vni, route: Route): void | Promise<void>;
  removeRoute(vni: Vni, route: Route): void | Promise<void>;
}

export interface ClientOptions {
  /** Keepalive interval offered to servers, seconds (>= 1). Default 5. */
  readonly keepalive?: number;
  /** Reconnect back-off: first retry base (default 1000 ms) and cap (default 10000 ms). */
  readonly backoffMinMs?: number;
  readonly backoffMaxMs?: number;
  /** Handshake (and TCP connect) deadline in ms. Default 2.5 x keepalive. */
  readonly helloTimeoutMs?: number;
  /**
   * tsbond protocol extensions (feature bits, SYNCED, REFUSED). Default true; false: behave as a
   * plain MetalBond client (`--no-extensions`).
   */
  readonly extensions?: boolean;
  /**
   * Towards servers that do not reassemble the TCP stream (Go MetalBond, rustbond, tsbond without
   * extensions): bytes in flight before the client waits for a KEEPALIVE round trip (default
   * 32 KiB; `false`: no window). Go MetalBond servers reset a session whose unread data passes
   * 64 KiB. Never applied to servers that announced REASSEMBLY.
   */
  readonly windowBytes?: number | false;
  /**
   * Towards servers that do not reassemble the TCP stream: pace writes at a fixed rate, for Go
   * MetalBond clients behind them (a rustbond server forwards what it gets in large batches).
   * Default DEFAULT_PACING (512 KiB/s, 16 KiB bursts); `false`: no pacing. Never applied to
   * servers that announced REASSEMBLY.
   */
  readonly pacing?: PacingOptions | false;
  /**
   * Graceful restart: seconds the routes of a lost server session stay (marked stale) waiting for
   * that server to come back and re-send them. Default 60; 0: removed at once (Go's behaviour).
   */
  readonly holdTime?: number;
  /** Most promise-returning handler calls in flight. Default 1024. */
  readonly maxHandlerCalls?: number;
  /**
   * Mutual TLS: our certificate, key and the CA that signs the servers' (docs/security.md). Used for
   * the servers given as `tls://HOST:PORT`; reloadable (TlsCredentials.reload) for new sessions.
   */
  readonly tls?: TlsCredentials;
  /** VNIs to subscribe to from the start (synced as soon as a server is established). */
  readonly subscribe?: readonly Vni[];
  /** Routes to announce from the start. */
  readonly announce?: readonly { readonly vni: Vni; readonly route: Route }[];
  /** Logger; silent by default. */
  readonly logger?: Logger;
  /** Millisecond length of a keepalive second, hold time second and settle times (tests only). */
  readonly secondMs?: number;
}

export type ClientStateKind = 'Disconnected' | 'PartiallyConnected' | 'FullyConnected' | 'Closed';

export interface ClientState {
  readonly kind: ClientStateKind;
  readonly connected: number;
  readonly total: number;
}

export interface ServerStatus {
  readonly index: number;
  readonly address: string;
  readonly state: SessionState;
  /** Negotiated keepalive of the current session. */
  readonly keepalive: number | undefined;
  /** Negotiated features of the current session. */
  readonly features: NegotiatedFeatures | undefined;
  /** 'tsbond' when the server answered with feature bits, else 'metalbond' (Go, rustbond). */
  readonly implementation: 'tsbond' | 'metalbond' | undefined;
  /** Traffic of the current session. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  readonly messagesIn: number;
  readonly messagesOut: number;
  /** Bytes queued for this server, not yet handed to the socket. */
  readonly queuedBytes: number;
  /** Last KEEPALIVE round trip, ms. */
  readonly keepaliveRttMs: number | undefined;
  readonly establishedSince: Date | undefined;
  /** Routes this server carries in its current session. */
  readonly routes: number;
  /** Routes of its lost sessions held for the hold time (graceful restart). */
  readonly staleRoutes: number;
  /** When the hold time of the stale routes ends. */
  readonly holdEndsAt: Date | undefined;
  /** Subscriptions this server has synced in its current session. */
  readonly synced: readonly Vni[];
  /** Subscriptions this server refused (REFUSED) in its current session. */
  readonly refusedSubscriptions: readonly Vni[];
  /** Announcements this server refused in its current session, with the reason. */
  readonly refusedRoutes: readonly {
    readonly vni: Vni;
    readonly route: Route;
    readonly reason: string;
  }[];
  readonly connects: number;
  /** Decodable but invalid UPDATEs this server sent (dropped). */
  readonly invalidUpdates: number;
  /** Our own routes this server sent back to us (Go and rustbond snapshots do), ignored. */
  readonly echoesIgnored: number;
  readonly lastError: string | undefined;
}

/** A received route as the client holds it. */
export interface ReceivedRoute {
  readonly vni: Vni;
  readonly route: Route;
  /** Held only by stale copies of lost sessions (graceful restart). */
  readonly stale: boolean;
  /** Addresses of the servers carrying it (fresh or stale). */
  readonly servers: readonly string[];
  /** Addresses of the servers that carry it only as a stale copy of a lost session. */
  readonly staleFor: readonly string[];
}

export interface ClientCounters {
  /** Decodable but invalid UPDATEs received, over all servers (dropped). */
  invalidUpdates: number;
  /** Handler calls that threw or rejected. */
  handlerErrors: number;
  /** Event listeners that threw (isolated). */
  listenerErrors: number;
  /** Sessions closed because of a failure inside the client (never the server's fault). */
  internalErrors: number;
  /** REFUSED messages received, and by kind. */
  refusals: number;
  refusedUpdates: number;
  refusedSubscriptions: number;
  /** Valid UPDATEs received (all servers), and how many were REMOVEs. */
  updatesReceived: number;
  removesReceived: number;
  /** UPDATEs sent (announcements, withdrawals, re-announcements; per server), of them REMOVEs. */
  updatesSent: number;
  removesSent: number;
  /** Handler calls made, by action. */
  routesAdded: number;
  routesRemoved: number;
}

export interface ServerStateEvent {
  readonly server: string;
  readonly state: SessionState;
  readonly previous: SessionState;
  readonly error: MetalBondError | undefined;
}

export interface RouteChangeEvent {
  readonly action: 'add' | 'remove';
  readonly vni: Vni;
  readonly route: Route;
}

/** A server has sent a subscription's routes completely (since the current subscription). */
export interface SyncedEvent {
  readonly server: string;
  readonly vni: Vni;
  /** 'marker': SYNCED from a tsbond server; 'settle': the settle rule (Go, rustbond). */
  readonly via: 'marker' | 'settle';
}

/**
 * Graceful restart: a server's session was lost and its routes went stale (`vni` undefined: all
 * of them), the server re-sent stale routes ('confirmed'), or stale routes were dropped because the
 * server re-synced without them, the hold time ended, or the VNI was unsubscribed ('expired').
 */
export interface StaleRoutesEvent {
  readonly server: string;
  readonly kind: 'stale' | 'confirmed' | 'expired';
  readonly vni: Vni | undefined;
  readonly routes: number;
}

/** A server refused an announcement or a subscription (tsbond servers with REFUSALS). */
export interface RefusedEvent {
  readonly server: string;
  readonly kind: 'UPDATE' | 'SUBSCRIBE';
  readonly vni: Vni;
  readonly reason: string;
  /** The refused route (kind UPDATE). */
  readonly route: Route | undefined;
}

export interface ClientEvents {
  state: [ClientState];
  server: [ServerStateEvent];
  /** Every handler call, as it is made. */
  route: [RouteChangeEvent];
  synced: [SyncedEvent];
  staleRoutes: [StaleRoutesEvent];
  refused: [RefusedEvent];
  /** Round trip of a KEEPALIVE to a server, in ms. */
  keepaliveRtt: [{ readonly server: string; readonly ms: number }];
  /** A handler call threw or rejected. */
  handlerError: [error: unknown, change: RouteChangeEvent];
  /** A listener of another event threw; the client went on. */
  listenerError: [error: unknown, event: string];
}
