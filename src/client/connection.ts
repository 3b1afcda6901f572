/**
 * The client's link to one server: connect, handshake (via Session), desired-state sync on every
 * ESTABLISHED, received routes of the current session, reconnect with back-off.
 */

import { connect, type Socket } from 'node:net';

import { IoError, type MetalBondError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Route, Vni } from '../model/route.js';
import { fieldsInvalidReason, fieldsRoute, fieldsRouteKey } from '../model/validate.js';
import type { HostPort } from '../net-address.js';
import { Session, type SessionHandler } from '../session/session.js';
import { SessionState } from '../session/state.js';
import { UpdateFields } from '../wire/decode.js';
import { encodeSubscribe, encodeUnsubscribe } from '../wire/encode.js';
import { WireAction } from '../wire/messages.js';
import type { PacingOptions } from '../session/pacing.js';
import { Backoff, type BackoffOptions } from './backoff.js';

export interface ConnectionHost {
  readonly subscriptions: ReadonlySet<Vni>;
  /** ADD frames of every route we announce. */
  announcementFrames(): Iterable<Buffer>;
  /** Whether we announce the route with this key ourselves. */
  isAnnounced(key: string): boolean;
  routeAdded(conn: ServerConnection, key: string, vni: Vni, route: Route): void;
  routeRemoved(conn: ServerConnection, key: string): void;
  stateChanged(conn: ServerConnection, state: SessionState, previous: SessionState): void;
}

export interface ConnectionOptions {
  readonly keepaliveSeconds: number;
  readonly helloTimeoutMs: number | undefined;
  readonly backoff: BackoffOptions;
  readonly logger: Logger;
  readonly secondMs: number;
  readonly pacing: PacingOptions | undefined;
  readonly windowBytes: number | undefined;
}

export class ServerConnection implements SessionHandler {
  state: SessionState = SessionState.CONNECTING;
  lastError: MetalBondError | undefined;
  /** Routes received on the current session: key -> VNI. */
  readonly received = new Map<string, Vni>();
  /** VNIs subscribed on the current session (never SUBSCRIBE twice on one session). */
  readonly sessionSubscriptions = new Set<Vni>();
  session: Session | undefined;
  connects = 0;
  invalidUpdates = 0;
  /** Our own routes echoed back by the server, ignored. */
  echoes = 0;
  private socket: Socket | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly backoff: Backoff;
  private readonly fields = new UpdateFields();
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

  start(): void {
    if (this.closing) return;
    this.setState(SessionState.CONNECTING);
    const socket = connect({ host: this.target.host, port: this.target.port, noDelay: true });
    this.socket = socket;
    const timeoutMs =
      this.options.helloTimeoutMs ?? this.options.keepaliveSeconds * 2.5 * this.options.secondMs;
    socket.setTimeout(timeoutMs, () => {
      socket.destroy(new Error(`connect timed out after ${String(timeoutMs)} ms`));
    });
    const onError = (err: Error): void => {
      this.retry(new IoError(`cannot connect to ${this.address}: ${err.message}`, { cause: err }));
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.setTimeout(0);
      socket.off('error', onError);
      this.connects++;
      const session = new Session(socket, this, {
        role: 'client',
        keepaliveSeconds: this.options.keepaliveSeconds,
        helloTimeoutMs: this.options.helloTimeoutMs,
        logger: this.log,
        secondMs: this.options.secondMs,
        pacing: this.options.pacing,
        ackWindowBytes: this.options.windowBytes,
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
    if (this.session === undefined || !this.established || this.sessionSubscriptions.has(vni))
      return;
    this.sessionSubscriptions.add(vni);
    this.session.send(encodeSubscribe(vni));
  }

  /**
   * Unsubscribes on the current session, re-sends `reannounce` (our ADDs in that VNI, which the
   * server withdraws on UNSUBSCRIBE) and forgets what this server sent for the VNI.
   */
  unsubscribe(vni: Vni, reannounce: readonly Buffer[]): void {
    if (this.session !== undefined && this.established && this.sessionSubscriptions.delete(vni)) {
      this.session.send(encodeUnsubscribe(vni));
      for (const frame of reannounce) this.session.send(frame);
    }
    for (const [key, v] of [...this.received]) {
      if (v === vni) {
        this.received.delete(key);
        this.host.routeRemoved(this, key);
      }
    }
  }

  /** Sends an UPDATE frame if established (otherwise the next sync carries our state). */
  sendUpdate(frame: Buffer): void {
    if (this.session !== undefined && this.established) this.session.send(frame);
  }

  close(): void {
    this.closing = true;
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
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
    // Desired state: all subscriptions first, then all announcements, nothing earlier.
    for (const vni of this.host.subscriptions) {
      this.sessionSubscriptions.add(vni);
      session.send(encodeSubscribe(vni));
    }
    let n = 0;
    for (const frame of this.host.announcementFrames()) {
      session.send(frame);
      n++;
    }
    this.log.info(
      {
        keepalive: session.keepaliveSeconds,
        subscriptions: this.host.subscriptions.size,
        announcements: n,
      },
      'server established',
    );
    this.setState(SessionState.ESTABLISHED);
  }

  onUpdate(_session: Session, buf: Buffer, start: number, end: number): void {
    const f = this.fields.parse(buf, start, end);
    const reason = fieldsInvalidReason(f);
    if (reason !== undefined) {
      if (++this.invalidUpdates <= 20)
        this.log.warn({ reason }, 'invalid UPDATE from server dropped');
      return;
    }
    const key = fieldsRouteKey(f);
    if (f.action === WireAction.REMOVE) {
      if (this.received.delete(key)) this.host.routeRemoved(this, key);
    } else if (this.host.isAnnounced(key)) {
      // Our own route echoed back (Go and rustbond servers do in snapshots): never ours to install,
      // and no REMOVE would ever come for it once we withdraw.
      this.echoes++;
    } else if (!this.received.has(key)) {
      // A duplicate ADD (Go servers send them) changes nothing.
      this.received.set(key, f.vni);
      this.host.routeAdded(this, key, f.vni, fieldsRoute(f));
    }
  }

  onClose(session: Session, error: MetalBondError | undefined): void {
    if (this.session === session) this.session = undefined;
    this.sessionSubscriptions.clear();
    if (this.closing) {
      // Client shutdown: the handler keeps what it holds (documented), nothing to hand over.
      this.received.clear();
      return;
    }
    for (const key of [...this.received.keys()]) {
      this.received.delete(key);
      this.host.routeRemoved(this, key);
    }
    this.retry(error ?? new IoError('connection closed'));
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
