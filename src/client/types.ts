/** Public types of the client. */

import type { MetalBondError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Route, Vni } from '../model/route.js';
import type { PacingOptions } from '../session/pacing.js';
import type { SessionState } from '../session/state.js';

/**
 * Receives route changes. Called synchronously, once per (vni, route) across all servers; ECMP
 * next hops are separate calls. Exceptions (and rejected promises) are caught and logged.
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
   * Bytes in flight to a server before the client waits for a KEEPALIVE round trip (default
   * 32 KiB; `false`: no window). Go MetalBond servers reset a session whose unread data passes
   * 64 KiB; the window keeps any server, however slow its reader, from being overrun.
   */
  readonly windowBytes?: number | false;
  /**
   * Also pace writes at a fixed rate, for Go MetalBond clients behind the servers (a rustbond
   * server forwards what it gets in large batches). Default DEFAULT_PACING (512 KiB/s, 16 KiB
   * bursts); `false`: no pacing.
   */
  readonly pacing?: PacingOptions | false;
  /** VNIs to subscribe to from the start (synced as soon as a server is established). */
  readonly subscribe?: readonly Vni[];
  /** Routes to announce from the start. */
  readonly announce?: readonly { readonly vni: Vni; readonly route: Route }[];
  /** Logger; silent by default. */
  readonly logger?: Logger;
  /** Millisecond length of a keepalive second (tests only). Default 1000. */
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
  readonly establishedSince: Date | undefined;
  /** Routes this server currently reports. */
  readonly routes: number;
  readonly connects: number;
  /** Our own routes this server sent back to us (Go and rustbond snapshots do), ignored. */
  readonly echoesIgnored: number;
  readonly lastError: string | undefined;
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

export interface ClientEvents {
  state: [ClientState];
  server: [ServerStateEvent];
  /** Every handler call, as it is made. */
  route: [RouteChangeEvent];
  /** A handler call threw or rejected. */
  handlerError: [error: unknown, change: RouteChangeEvent];
}
