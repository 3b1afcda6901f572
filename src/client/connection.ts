/**
 * The client's link to one server: connect, handshake (via Session), desired-state sync on every
 * ESTABLISHED, the routes of the current session (fresh) and of lost ones (stale, graceful
 * restart), when the server has synced a subscription, reconnect with back-off.
 */

import { connect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

import { clientTlsOptions, type TlsCredentials } from '../access/tls.js';

import { IoError, type MetalBondError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Route, Vni } from '../model/route.js';
import {
  INVALID_UPDATE_LOG_LIMIT,
  canonicalPayloadRoute,
  fieldsInvalidReason,
  fieldsRoute,
  fieldsRouteKey,
} from '../model/validate.js';
import type { HostPort } from '../net-address.js';
import { AddResult } from '../routing/client-routes.js';
import { KEEPALIVE_TIMEOUT_FACTOR } from '../session/handshake.js';
import type { PacingOptions } from '../session/pacing.js';
import { Session, type SessionHandler, type SessionStats } from '../session/session.js';
import { SessionState } from '../session/state.js';
import { canonicalUpdateKeyStart, fastResult, latin1 } from '../wire/canonical-fast.js';
import { UpdateFields } from '../wire/decode.js';
import { encodeSubscribe, encodeUnsubscribe } from '../wire/encode.js';
import { HEADER_SIZE, RefusedKind, WireAction, type RefusedMessage } from '../wire/messages.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { SyncTracker } from './sync-tracker.js';

export type SyncVia = 'marker' | 'settle';

export interface ConnectionHost {
  readonly subscriptions: ReadonlySet<Vni>;
  readonly counters: {
    invalidUpdates: number;
    updatesReceived: number;
    removesReceived: number;
    updatesSent: number;
    removesSent: number;
  };
  /** The handler is saturated: sessions must not read (see HandlerQueue). */
  readonly readingHeld: boolean;
  /** ADD frames of every route we announce. */
  announcementFrames(): Iterable<Buffer>;
  /** Whether we announce the route with this key ourselves. */
  isAnnounced(key: string): boolean;
  /** A route the server reports in its current session (conn.frameRoute() is its route). */
  routeAdded(conn: ServerConnection, key: string, vni: Vni): AddResult;
  /** The server withdrew a route of its current session; whether it had sent it. */
  routeRemoved(conn: ServerConnection, key: string): boolean;
  /** The server's routes of the current session in `vni` are forgotten (we unsubscribed). */
  vniRemoved(conn: ServerConnection, vni: Vni): void;
  /** Routes the server carries in its current session. */
  routesOf(conn: ServerConnection): number;
  /**
   * The session was lost: every route the server carried becomes stale for it (`each` is told
   * each one); returns how many.
   */
  sessionLost(conn: ServerConnection, each: (key: string, vni: Vni) => void): number;
  /** The server's stale copy of a route is dropped (re-synced without it, or expired). */
  staleDropped(conn: ServerConnection, key: string): void;
  synced(conn: ServerConnection, vni: Vni, via: SyncVia): void;
  refused(conn: ServerConnection, m: RefusedMessage): void;
  staleRoutes(
    conn: ServerConnection,
    kind: 'stale' | 'confirmed' | 'expired',
    vni: Vni | undefined,
    routes: number,
  ): void;
  keepaliveRtt(conn: ServerConnection, ms: number): void;
  /** A session ended: its traffic goes to the totals. */
  sessionEnded(conn: ServerConnection, stats: SessionStats): void;
  stateChanged(conn: ServerConnection, state: SessionState, previous: SessionState): void;
}

export interface ConnectionOptions {
  readonly keepaliveSeconds: number;
  readonly helloTimeoutMs: number | undefined;
  readonly backoff: BackoffOptions;
  readonly logger: Logger;
  readonly secondMs: number;
  /** Feature bits offered (undefined: extensions off). */
  readonly features: number | undefined;
  readonly pacing: PacingOptions | undefined;
  readonly windowBytes: number | undefined;
  /** Graceful restart: how long a lost session's routes stay (0: removed at once). */
  readonly holdTimeMs: number;
  readonly settleQuietMs: number;
  readonly settleAfterMs: number;
  /** Mutual TLS to this server (a `tls://` address), with these credentials. */
  readonly tls: TlsCredentials | undefined;
}

export class ServerConnection implements SessionHandler {
  state: SessionState = SessionState.CONNECTING;
  lastError: MetalBondError | undefined;
  /** Routes of lost sessions not re-sent yet, per VNI. */
  readonly stale = new Map<Vni, Set<string>>();
  /** VNIs subscribed on the current session (never SUBSCRIBE twice on one session). */
  readonly sessionSubscriptions = new Set<Vni>();
  /** When the current session's subscriptions are synced; undefined between sessions. */
  sync: SyncTracker | undefined;
  /** Refused announcements of the current session: key -> reason. */
  readonly refusedRoutes = new Map<string, string>();
  session: Session | undefined;
  connects = 0;
  invalidUpdates = 0;
  refusals = 0;
  /** Our own routes echoed back by the server, ignored. */
  echoes = 0;
  /** When the stale routes' hold time ends (0: none pending). */
  holdEndsAt = 0;
  /** Last KEEPALIVE round trip, ms. */
  lastRttMs: number | undefined;
  private staleCount = 0;
  /** Stale routes re-sent per VNI since the session was lost (for the 'confirmed' report). */
  private readonly confirmed = new Map<Vni, number>();
  private socket: Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private holdTimer: NodeJS.Timeout | undefined;
  private settleTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly backoff: Backoff;
  private readonly fields = new UpdateFields();
  /** The UPDATE being handled, when canonical: its buffer and where its key starts. */
  private frameBuf: Buffer | undefined;
  private frameKeyStart = 0;
  readonly log: Logger;

  constructor(
    readonly index: number,
    readonly address: string,
    private readonly target: HostPort,
    private readonly host: ConnectionHost,
    private readonly options: ConnectionOptions,
  ) {
    this.backoff = new Backoff(options.backoff);
    this.log = options.logger.child({ server: address });
  }

  get established(): boolean {
    return this.state === SessionState.ESTABLISHED;
  }

  /** Routes the server carries in the current session. */
  routesOf(): number {
    return this.host.routesOf(this);
  }

  /** Routes of lost sessions not re-sent or dropped yet. */
  get staleRoutes(): number {
    return this.staleCount;
  }

  start(): void {
    if (this.closing) return;
    this.setState(SessionState.CONNECTING);
    const { host, port } = this.target;
    const tls = this.options.tls;
    const socket =
      tls === undefined
        ? connect({ host, port, noDelay: true })
        : tlsConnect(clientTlsOptions(tls.context, host, port));
    this.socket = socket;
    const timeoutMs =
      this.options.helloTimeoutMs ??
      this.options.keepaliveSeconds * KEEPALIVE_TIMEOUT_FACTOR * this.options.secondMs;
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error(`connect timed out after ${String(timeoutMs)} ms`));
    });
    const onError = (err: Error): void => {
      this.retry(new IoError(`cannot connect to ${this.address}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    // Over TLS the session starts once the handshake verified the server's certificate.
    socket.once(tls === undefined ? 'connect' : 'secureConnect', () => {
      socket.setTimeout(0);
      socket.off('error', onError);
      this.connects++;
      const o = this.options;
      const session = new Session(socket, this, {
        role: 'client',
        keepaliveSeconds: o.keepaliveSeconds,
        helloTimeoutMs: o.helloTimeoutMs,
        logger: this.log,
        secondMs: o.secondMs,
        features: o.features,
        pacing: o.pacing,
        ackWindowBytes: o.windowBytes,
      });
      this.session = session;
      session.on('state', (s) => {
        if (s !== SessionState.CLOSED && s !== SessionState.ESTABLISHED) this.setState(s);
      });
      session.start();
    });
  }

  /** Subscribes on the current session if established and not yet subscribed there. */
  subscribe(vni: Vni): void {
    const s = this.session;
    if (s === undefined || !this.established || this.sessionSubscriptions.has(vni)) return;
    this.sessionSubscriptions.add(vni);
    this.sync?.subscribed(vni);
    s.send(encodeSubscribe(vni));
    this.scheduleSettle();
  }

  /**
   * Unsubscribes on the current session, re-sends `reannounce` (our ADDs in that VNI, which the
   * server withdraws on UNSUBSCRIBE) and forgets what this server sent for the VNI, stale included.
   */
  unsubscribe(vni: Vni, reannounce: readonly Buffer[]): void {
    const s = this.session;
    if (s !== undefined && this.established && this.sessionSubscriptions.delete(vni)) {
      this.sync?.unsubscribed(vni);
      s.send(encodeUnsubscribe(vni));
      for (const frame of reannounce) {
        s.send(frame);
        this.countSent(frame);
      }
    }
    this.host.vniRemoved(this, vni);
    this.dropStale(vni, 'unsubscribe');
  }

  /** Sends an UPDATE frame if established (otherwise the next sync carries our state). */
  sendUpdate(frame: Buffer): void {
    if (this.session !== undefined && this.established) {
      this.session.send(frame);
      this.countSent(frame);
    }
  }

  private countSent(frame: Buffer): void {
    const c = this.host.counters;
    c.updatesSent++;
    // A REMOVE's payload starts with the action field (08 01).
    if (frame[HEADER_SIZE] === 0x08 && frame[HEADER_SIZE + 1] === 0x01) c.removesSent++;
  }

  /** Handler saturation: stop or resume reading from the server. */
  holdReading(held: boolean): void {
    if (this.established) this.session?.setReadingPaused(held);
  }

  close(): void {
    this.closing = true;
    for (const t of [this.retryTimer, this.holdTimer, this.settleTimer]) clearTimeout(t);
    this.retryTimer = this.holdTimer = this.settleTimer = undefined;
    const s = this.session;
    this.session = undefined;
    s?.close();
    this.socket?.destroy();
    this.setState(SessionState.CLOSED);
  }

  // ---- SessionHandler ----

  onEstablished(session: Session): void {
    this.backoff.reset();
    this.lastError = undefined;
    this.refusedRoutes.clear();
    const now = Date.now();
    const o = this.options;
    this.sync = new SyncTracker(
      session.features.syncMarker,
      now,
      this.holdEndsAt,
      o.settleQuietMs,
      o.settleAfterMs,
    );
    // Desired state: all subscriptions first, then all announcements, nothing earlier.
    for (const vni of this.host.subscriptions) {
      this.sessionSubscriptions.add(vni);
      this.sync.subscribed(vni);
      session.send(encodeSubscribe(vni));
    }
    let n = 0;
    for (const frame of this.host.announcementFrames()) {
      session.send(frame);
      this.countSent(frame);
      n++;
    }
    if (this.host.readingHeld) session.setReadingPaused(true);
    const f = session.features;
    this.log.info(
      {
        keepalive: session.keepaliveSeconds,
        features: f.peer,
        syncMarker: f.syncMarker,
        paced: session.paced,
        subscriptions: this.host.subscriptions.size,
        announcements: n,
        staleRoutes: this.staleCount,
      },
      'server established',
    );
    this.setState(SessionState.ESTABLISHED);
    this.scheduleSettle();
  }

  onUpdate(_session: Session, buf: Buffer, start: number, end: number): void {
    // Canonical payloads (what Go, rustbond and tsbond servers send) are validated in one pass and
    // their key is the payload itself; anything else takes the general decoder.
    let key: string;
    let vni: Vni;
    let remove: boolean;
    const keyStart = canonicalUpdateKeyStart(buf, start, end);
    if (keyStart >= 0) {
      vni = fastResult.vni;
      remove = fastResult.action === WireAction.REMOVE;
      key = latin1(buf, keyStart, end);
      this.frameBuf = buf;
      this.frameKeyStart = keyStart;
    } else {
      const f = this.fields.parse(buf, start, end);
      const reason = fieldsInvalidReason(f);
      if (reason !== undefined) {
        this.host.counters.invalidUpdates++;
        if (++this.invalidUpdates <= INVALID_UPDATE_LOG_LIMIT)
          this.log.warn({ reason }, 'invalid UPDATE from server dropped');
        return;
      }
      vni = f.vni;
      remove = f.action === WireAction.REMOVE;
      key = fieldsRouteKey(f);
      this.frameBuf = undefined;
    }
    // Frames of a VNI we unsubscribed may still be in flight: ignored.
    if (!this.sessionSubscriptions.has(vni)) return;
    this.sync?.update(Date.now());
    const counters = this.host.counters;
    counters.updatesReceived++;
    if (remove) {
      counters.removesReceived++;
      this.host.routeRemoved(this, key);
    } else if (this.host.isAnnounced(key)) {
      // Our own route echoed back (Go and rustbond servers do in snapshots): never ours to install,
      // and no REMOVE would ever come for it once we withdraw.
      this.echoes++;
    } else if (this.host.routeAdded(this, key, vni) === AddResult.CONFIRMED) {
      // (A duplicate ADD from this server, which Go servers send, changes nothing.)
      this.stale.get(vni)?.delete(key);
      this.staleCount--;
      this.confirmed.set(vni, (this.confirmed.get(vni) ?? 0) + 1);
    }
  }

  /**
   * The route of the UPDATE being handled (valid only during routeAdded(), whose `key` it is):
   * read from the frame, which is cheaper than from the key.
   */
  frameRoute(): Route {
    const b = this.frameBuf;
    return b !== undefined
      ? canonicalPayloadRoute(b, this.frameKeyStart)
      : fieldsRoute(this.fields);
  }

  onSynced(_session: Session, vni: Vni): void {
    if (this.sync?.syncedMarker(vni) === true) this.resynced(vni, 'marker');
  }

  onRefused(_session: Session, m: RefusedMessage): void {
    this.refusals++;
    if (m.kind === RefusedKind.SUBSCRIBE) {
      if (this.sync?.refusedSubscribe(m.vni) !== true) return;
    } else if (m.kind === RefusedKind.UPDATE && m.update !== undefined) {
      const f = this.fields.parse(m.update);
      if (fieldsInvalidReason(f) === undefined) this.refusedRoutes.set(fieldsRouteKey(f), m.reason);
    }
    this.host.refused(this, m);
  }

  onKeepaliveRtt(_session: Session, ms: number): void {
    this.lastRttMs = ms;
    this.host.keepaliveRtt(this, ms);
  }

  onClose(session: Session, error: MetalBondError | undefined): void {
    if (this.session === session) this.session = undefined;
    this.host.sessionEnded(this, session.stats);
    this.sessionSubscriptions.clear();
    this.sync = undefined;
    clearTimeout(this.settleTimer);
    this.settleTimer = undefined;
    if (this.closing) {
      // Client shutdown: the handler keeps what it holds (documented), nothing to hand over.
      this.stale.clear();
      this.staleCount = 0;
      return;
    }
    this.sessionLost();
    this.retry(error ?? new IoError('connection closed'));
  }

  // ---- graceful restart ----

  /** What the lost session carried becomes stale, for the hold time (0: dropped at once). */
  private sessionLost(): void {
    const n = this.host.sessionLost(this, (key, vni) => {
      let set = this.stale.get(vni);
      if (set === undefined) {
        set = new Set();
        this.stale.set(vni, set);
      }
      set.add(key);
    });
    this.staleCount += n;
    this.confirmed.clear();
    if (n > 0) this.host.staleRoutes(this, 'stale', undefined, n);
    const hold = this.options.holdTimeMs;
    if (hold === 0) {
      this.dropAllStale();
      return;
    }
    if (this.staleCount === 0) return;
    clearTimeout(this.holdTimer);
    this.holdEndsAt = Date.now() + hold;
    this.holdTimer = setTimeout(() => {
      this.holdTimer = undefined;
      this.holdEndsAt = 0;
      this.dropAllStale();
    }, hold);
    this.holdTimer.unref();
  }

  /** The server has sent `vni` completely: what it did not re-send is dropped. */
  private resynced(vni: Vni, via: 'marker' | 'settle'): void {
    const confirmed = this.confirmed.get(vni) ?? 0;
    this.confirmed.delete(vni);
    if (confirmed > 0) this.host.staleRoutes(this, 'confirmed', vni, confirmed);
    this.dropStale(vni, 'resync');
    this.host.synced(this, vni, via);
  }

  private dropStale(vni: Vni, why: 'resync' | 'unsubscribe' | 'hold time'): void {
    const set = this.stale.get(vni);
    if (set === undefined) return;
    this.stale.delete(vni);
    this.staleCount -= set.size;
    for (const key of set) this.host.staleDropped(this, key);
    if (set.size > 0) {
      this.log.info({ vni, routes: set.size, why }, 'stale routes dropped');
      this.host.staleRoutes(this, 'expired', vni, set.size);
    }
    if (this.staleCount === 0) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
      this.holdEndsAt = 0;
    }
  }

  private dropAllStale(): void {
    for (const vni of [...this.stale.keys()]) this.dropStale(vni, 'hold time');
  }

  /** Settle rule (servers without SYNC_MARKER): checks again when it can next apply. */
  private scheduleSettle(): void {
    const sync = this.sync;
    if (sync === undefined || this.settleTimer !== undefined) return;
    const wait = sync.nextSettleIn(Date.now());
    if (wait === undefined) return;
    this.settleTimer = setTimeout(() => {
      this.settleTimer = undefined;
      if (this.sync !== sync) return;
      for (const vni of sync.settle(Date.now())) this.resynced(vni, 'settle');
      this.scheduleSettle();
    }, wait + 1);
    this.settleTimer.unref();
  }

  private retry(error: MetalBondError): void {
    if (this.closing) return;
    this.lastError = error;
    this.socket?.destroy();
    this.socket = undefined;
    const delay = this.backoff.next();
    this.log.warn(
      { err: error.message, code: error.code, retryInMs: delay },
      'server connection lost',
    );
    this.setState(SessionState.RETRY);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.start();
    }, delay);
  }

  private setState(next: SessionState): void {
    const prev = this.state;
    if (prev === next) return;
    this.state = next;
    if (!this.closing || next === SessionState.CLOSED) this.host.stateChanged(this, next, prev);
  }
}
