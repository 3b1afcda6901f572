/**
 * MetalBondClient: what hypervisor agents embed. Connects to every server at once (HA), keeps the
 * desired state (subscriptions, announcements) locally and syncs it to each server whenever its
 * session becomes ESTABLISHED; hands received routes to a RouteHandler once per (vni, route)
 * across servers, with loop prevention and graceful restart (routing/client-routes.ts), through a
 * bounded queue of handler calls (handler-queue.ts).
 */

import { EventEmitter } from 'node:events';

import {
  AlreadySubscribedError,
  ClosedError,
  ConnectionTimeoutError,
  NotEstablishedError,
  NotSubscribedError,
  RouteAlreadyAnnouncedError,
  RouteNotFoundError,
  TimeoutError,
} from '../errors.js';
import { callListeners } from '../events.js';
import { silentLogger, type Logger } from '../log.js';
import {
  checkVni,
  formatRoute,
  parseDestination,
  type Destination,
  type NextHop,
  type Route,
  type Vni,
} from '../model/route.js';
import { canonicalRoute, encodeRouteUpdate, routeFromKey } from '../model/wire-route.js';
import { AddResult, ClientRoutes, type HeldRoute } from '../routing/client-routes.js';
import type { RouteKindCount } from '../server/info.js';
import type { SessionStats } from '../session/session.js';
import { TrafficSum, routeKindCounts, type Traffic } from '../session/traffic.js';
import { SessionState } from '../session/state.js';
import { RefusedKind, type RefusedMessage } from '../wire/messages.js';
import { destinationKeyOf } from '../wire/route-key.js';
import { ServerConnection, type ConnectionHost, type SyncVia } from './connection.js';
import { HandlerQueue } from './handler-queue.js';
import { resolveClientOptions } from './options.js';
import { newClientCounters, refusedRoute, serverStatus } from './status.js';
import { Waiters } from './waiters.js';
import type {
  ClientCounters,
  ClientEvents,
  ClientOptions,
  ClientState,
  ReceivedRoute,
  RouteChangeEvent,
  RouteHandler,
  ServerStatus,
} from './types.js';

interface Announced {
  readonly vni: Vni;
  readonly route: Route;
  readonly frame: Buffer;
}

export {
  DEFAULT_HOLD_TIME_SECONDS,
  DEFAULT_MAX_HANDLER_CALLS,
  DEFAULT_WINDOW_BYTES,
  TLS_SCHEME,
  parseServerAddress,
} from './options.js';

export interface WaitSyncedOptions {
  /** Reject with TimeoutError after this long (default: wait for ever). */
  readonly timeoutMs?: number;
  /** Wait until every established server has synced (default: at least one). */
  readonly all?: boolean;
}

export class MetalBondClient extends EventEmitter<ClientEvents> implements ConnectionHost {
  readonly subscriptions = new Set<Vni>();
  readonly counters: ClientCounters = newClientCounters();
  /** Graceful-restart hold time in ms (0: routes of a lost session are removed at once). */
  readonly holdTimeMs: number;
  private readonly announced = new Map<string, Announced>();
  private readonly routes: ClientRoutes;
  private readonly calls: HandlerQueue;
  private readonly connections: ServerConnection[];
  private readonly log: Logger;
  private closed = false;
  private lastState: ClientState;
  /** The UPDATE being added (its route is built from it for the handler). */
  /** The route being added (routeAdded()): its server and key. */
  private addingFrom: ServerConnection | undefined;
  private addingKey: string | undefined;
  /** Waiters re-checked on every state or sync change. */
  private readonly waiters = new Waiters(() => this.closed);
  /** Traffic of the sessions that ended. */
  private readonly ended = new TrafficSum();
  readingHeld = false;

  private constructor(
    servers: readonly string[],
    private readonly handler: RouteHandler,
    options: ClientOptions,
  ) {
    super();
    this.log = options.logger ?? silentLogger();
    const o = resolveClientOptions(servers, options, this.log);
    this.holdTimeMs = o.holdTimeMs;
    this.routes = new ClientRoutes((action, vni, key) => {
      this.handlerCall(action, vni, key);
    });
    this.calls = new HandlerQueue(o.maxHandlerCalls, (saturated) => {
      this.readingHeld = saturated;
      for (const c of this.connections) c.holdReading(saturated);
    });
    this.connections = o.targets.map(
      (t, i) => new ServerConnection(i, servers[i] ?? '', t, this, o.connection(i)),
    );
    for (const vni of options.subscribe ?? []) this.subscriptions.add(checkVni(vni));
    for (const a of options.announce ?? []) {
      const { key, route } = canonicalRoute(a.vni, a.route);
      if (this.announced.has(key)) continue;
      this.announced.set(key, {
        vni: a.vni,
        route,
        frame: encodeRouteUpdate('ADD', a.vni, route),
      });
      this.routes.announce(destinationKeyOf(key));
    }
    this.lastState = this.computeState();
  }

  /**
   * Starts connecting to every server (addresses `HOST:PORT`, IPv6 in brackets) and keeps
   * reconnecting until shutdown(). Never fails because a server is unreachable.
   */
  static connect(
    servers: readonly string[],
    handler: RouteHandler,
    options: ClientOptions = {},
  ): MetalBondClient {
    const c = new MetalBondClient(servers, handler, options);
    for (const conn of c.connections) conn.start();
    return c;
  }

  // ---- state ----

  get state(): ClientState {
    return this.computeState();
  }

  /** True when at least one server session is established. */
  get isEstablished(): boolean {
    return this.connections.some((c) => c.established);
  }

  serverStates(): ServerStatus[] {
    return this.connections.map(serverStatus);
  }

  /** Waits until at least one server is established (TimeoutError after `timeoutMs`). */
  waitEstablished(timeoutMs?: number): Promise<void> {
    return this.waiters.until(
      () => this.isEstablished,
      timeoutMs,
      () => new TimeoutError('timeout waiting for an established server'),
    );
  }

  /** Waits until at least one server is established (ConnectionTimeoutError after `timeoutMs`). */
  waitAnyEstablished(timeoutMs?: number): Promise<void> {
    return this.waiters.until(
      () => this.isEstablished,
      timeoutMs,
      () => new ConnectionTimeoutError('connection timeout: no server established'),
    );
  }

  /** Waits until every server is established (ConnectionTimeoutError after `timeoutMs`). */
  waitAllEstablished(timeoutMs?: number): Promise<void> {
    return this.waiters.until(
      () => this.connections.every((c) => c.established),
      timeoutMs,
      () =>
        new ConnectionTimeoutError(
          `connection timeout: ${String(this.connections.filter((c) => c.established).length)} of ${String(this.connections.length)} servers established`,
        ),
    );
  }

  /**
   * Whether `vni`'s received routes are complete: at least one established server (with `all`,
   * every established one) has synced it since the current subscription, and the handler calls
   * before that have settled.
   */
  isSynced(vni: Vni, all = false): boolean {
    if (!this.subscriptions.has(vni)) return false;
    const est = this.connections.filter((c) => c.established);
    const synced = (c: ServerConnection): boolean => c.sync?.synced.has(vni) === true;
    return est.length > 0 && (all ? est.every(synced) : est.some(synced));
  }

  /** Subscriptions that are synced (see isSynced). */
  syncedVnis(all = false): Vni[] {
    return [...this.subscriptions].filter((v) => this.isSynced(v, all)).sort((a, b) => a - b);
  }

  /**
   * Resolves when `vni` (every subscribed VNI when omitted) is synced: at least one server (with
   * `all`: every established server) has sent it completely since the current subscription, and
   * the handler has processed everything before. It waits through server restarts. After
   * `timeoutMs` it rejects with NotEstablishedError when no server is established then, else with
   * TimeoutError; NotSubscribedError for a VNI not subscribed. With a Go MetalBond or rustbond
   * server the settle rule decides (no UPDATE for 2 s, at least 15 s after the session started).
   */
  async waitSynced(vni?: Vni, options: WaitSyncedOptions = {}): Promise<void> {
    this.checkOpen();
    if (vni !== undefined && !this.subscriptions.has(vni)) throw new NotSubscribedError(vni);
    const all = options.all === true;
    const vnis = (): Vni[] => (vni === undefined ? [...this.subscriptions] : [vni]);
    await this.waiters.until(
      () => vnis().every((v) => this.isSynced(v, all)),
      options.timeoutMs,
      () =>
        this.isEstablished
          ? new TimeoutError(
              `timeout waiting for ${vni === undefined ? 'every subscription' : `VNI ${String(vni)}`} to be synced${all ? ' by every server' : ''}`,
            )
          : new NotEstablishedError(),
    );
  }

  // ---- desired state ----

  async subscribe(vni: Vni): Promise<void> {
    this.checkOpen();
    checkVni(vni);
    if (this.subscriptions.has(vni)) throw new AlreadySubscribedError(vni);
    if (!this.isEstablished) throw new NotEstablishedError();
    this.subscriptions.add(vni);
    for (const c of this.connections) c.subscribe(vni);
    this.log.info({ vni }, 'subscribed');
    this.changed();
    await Promise.resolve();
  }

  async unsubscribe(vni: Vni): Promise<void> {
    this.checkOpen();
    if (!this.subscriptions.delete(vni)) throw new NotSubscribedError(vni);
    // Go and tsbond servers withdraw what we announced in the VNI on UNSUBSCRIBE: announce it
    // again right after, so our announcements keep holding on every server.
    const own = [...this.announced.values()].filter((a) => a.vni === vni).map((a) => a.frame);
    for (const c of this.connections) c.unsubscribe(vni, own);
    this.log.info({ vni }, 'unsubscribed');
    this.changed();
    await Promise.resolve();
  }

  /**
   * Announces a route on every server (and, from then on, on every server that becomes
   * established). Refused with InvalidArgumentError when it is a route servers would drop.
   */
  async announce(vni: Vni, destination: Destination | string, nextHop: NextHop): Promise<void> {
    this.checkOpen();
    const { key, route } = canonicalRoute(vni, {
      destination: typeof destination === 'string' ? parseDestination(destination) : destination,
      nextHop,
    });
    if (this.announced.has(key))
      throw new RouteAlreadyAnnouncedError(`VNI ${String(vni)} ${formatRoute(route)}`);
    if (!this.isEstablished) throw new NotEstablishedError();
    const frame = encodeRouteUpdate('ADD', vni, route);
    this.announced.set(key, { vni, route, frame });
    this.routes.announce(destinationKeyOf(key));
    for (const c of this.connections) c.sendUpdate(frame);
    this.log.info({ vni, route: formatRoute(route) }, 'announced');
    await Promise.resolve();
  }

  async withdraw(vni: Vni, destination: Destination | string, nextHop: NextHop): Promise<void> {
    this.checkOpen();
    const { key, route } = canonicalRoute(vni, {
      destination: typeof destination === 'string' ? parseDestination(destination) : destination,
      nextHop,
    });
    if (!this.announced.delete(key))
      throw new RouteNotFoundError(`VNI ${String(vni)} ${formatRoute(route)}`);
    const frame = encodeRouteUpdate('REMOVE', vni, route);
    for (const c of this.connections) {
      c.sendUpdate(frame);
      c.refusedRoutes.delete(key);
    }
    this.routes.withdraw(destinationKeyOf(key));
    this.log.info({ vni, route: formatRoute(route) }, 'withdrawn');
    await Promise.resolve();
  }

  /**
   * Received routes as the handler holds them (deduplicated across servers), with the servers that
   * carry them; `stale` marks routes held only by copies of lost sessions (graceful restart).
   */
  receivedRoutes(vni?: Vni): ReceivedRoute[] {
    return [...this.receivedRouteEntries(vni)];
  }

  /** receivedRoutes(), lazily: safe to walk in slices across event-loop turns. */
  *receivedRouteEntries(vni?: Vni): Generator<ReceivedRoute> {
    for (const r of this.routes.delivered(vni)) yield this.received(r);
  }

  /** Received routes held back because we announce their destination ourselves. */
  heldBackRoutes(vni?: Vni): ReceivedRoute[] {
    return [...this.routes.heldBack(vni)].map((r) => this.received(r));
  }

  /** Routes the handler holds in `vni` (a count kept per handler call, no scan). */
  receivedRouteCount(vni?: Vni): number {
    return vni === undefined ? this.routes.size : this.routes.heldCount(vni);
  }

  /** VNIs in which the handler holds routes. */
  receivedVnis(): Vni[] {
    return this.routes.heldVnis();
  }

  /** Handler calls per VNI so far (status pages diff it once a second). */
  vniVersions(): ReadonlyMap<Vni, number> {
    return this.routes.versions();
  }

  /** Handler calls so far. */
  get routeChanges(): number {
    return this.routes.changes;
  }

  /** Routes the handler holds by family and next-hop type (counts kept per call). */
  routeKinds(): RouteKindCount[] {
    return routeKindCounts(this.routes.kindCounts());
  }

  /** Bytes and messages over all server sessions, ended ones included. */
  traffic(): Traffic {
    const t = new TrafficSum(this.ended);
    for (const c of this.connections) if (c.session !== undefined) t.add(c.session.stats);
    return t.result();
  }

  announcedRoutes(): { vni: Vni; route: Route }[] {
    return [...this.announced.values()].map((a) => ({ vni: a.vni, route: a.route }));
  }

  /** Which servers (by index) currently carry a route, fresh or stale. */
  routeServers(vni: Vni, route: Route): number[] {
    const mask = this.routes.origins(canonicalRoute(vni, route).key);
    return this.connections.filter((c) => (mask & (1 << c.index)) !== 0).map((c) => c.index);
  }

  /** Received routes held only by stale copies. */
  get staleRouteCount(): number {
    return this.routes.stale;
  }

  /** Closes every connection. The handler is not called for the routes it holds. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections) c.close();
    this.log.info('client shut down');
    this.emitState();
    this.changed();
    await Promise.resolve();
  }

  // ---- ConnectionHost ----

  announcementFrames(): Iterable<Buffer> {
    return [...this.announced.values()].map((a) => a.frame);
  }

  isAnnounced(key: string): boolean {
    return this.announced.size > 0 && this.announced.has(key);
  }

  routeAdded(conn: ServerConnection, key: string, vni: Vni): AddResult {
    this.addingFrom = conn;
    this.addingKey = key;
    try {
      return this.routes.add(conn.index, key, vni);
    } finally {
      this.addingFrom = undefined;
      this.addingKey = undefined;
    }
  }

  routeRemoved(conn: ServerConnection, key: string): boolean {
    return this.routes.removeFresh(conn.index, key);
  }

  vniRemoved(conn: ServerConnection, vni: Vni): void {
    this.routes.removeFreshVni(conn.index, vni);
  }

  routesOf(conn: ServerConnection): number {
    return this.routes.freshCount(conn.index);
  }

  sessionLost(conn: ServerConnection, each: (key: string, vni: Vni) => void): number {
    return this.routes.sessionLost(conn.index, each);
  }

  staleDropped(conn: ServerConnection, key: string): void {
    this.routes.dropStale(conn.index, key);
  }

  synced(conn: ServerConnection, vni: Vni, via: SyncVia): void {
    // After every handler call it implies has settled (the barrier of the call queue).
    this.calls.barrier(() => {
      this.log.info({ server: conn.address, vni, via }, 'subscription synced');
      this.emitSafely('synced', { server: conn.address, vni, via });
      this.changed();
    });
  }

  refused(conn: ServerConnection, m: RefusedMessage): void {
    this.counters.refusals++;
    if (m.kind === RefusedKind.SUBSCRIBE) this.counters.refusedSubscriptions++;
    else this.counters.refusedUpdates++;
    const kind = m.kind === RefusedKind.SUBSCRIBE ? 'SUBSCRIBE' : 'UPDATE';
    const route = refusedRoute(m);
    this.log.warn(
      {
        server: conn.address,
        kind,
        vni: m.vni,
        reason: m.reason,
        route: route && formatRoute(route),
      },
      'refused by server',
    );
    this.emitSafely('refused', { server: conn.address, kind, vni: m.vni, reason: m.reason, route });
    this.changed();
  }

  staleRoutes(
    conn: ServerConnection,
    kind: 'stale' | 'confirmed' | 'expired',
    vni: Vni | undefined,
    routes: number,
  ): void {
    this.emitSafely('staleRoutes', { server: conn.address, kind, vni, routes });
  }

  sessionEnded(_conn: ServerConnection, stats: SessionStats): void {
    this.ended.add(stats);
  }

  keepaliveRtt(conn: ServerConnection, ms: number): void {
    if (this.listenerCount('keepaliveRtt') > 0)
      this.emitSafely('keepaliveRtt', { server: conn.address, ms });
  }

  stateChanged(conn: ServerConnection, state: SessionState, previous: SessionState): void {
    if (state === SessionState.RETRY && conn.lastError?.code === 'INTERNAL')
      this.counters.internalErrors++;
    this.emitSafely('server', {
      server: conn.address,
      state,
      previous,
      error: state === SessionState.RETRY ? conn.lastError : undefined,
    });
    this.emitState();
    this.changed();
  }

  // ---- internals ----

  private received(r: HeldRoute): ReceivedRoute {
    const servers = (mask: number): string[] =>
      this.connections.filter((c) => (mask & (1 << c.index)) !== 0).map((c) => c.address);
    return {
      vni: r.vni,
      route: routeFromKey(r.key).route,
      stale: r.fresh === 0,
      servers: servers(r.fresh | r.stale),
      staleFor: servers(r.stale),
    };
  }

  /** A handler call decided by the route view (in order, through the bounded queue). */
  private handlerCall(action: 'add' | 'remove', vni: Vni, key: string): void {
    const from = this.addingFrom;
    const route =
      from !== undefined && this.addingKey === key ? from.frameRoute() : routeFromKey(key).route;
    const calls = this.calls;
    if (calls.canStart(key)) calls.started(key, this.runHandler(action, vni, route));
    else calls.call(key, () => this.runHandler(action, vni, route));
  }

  /** One handler call (and the 'route' event); returns the handler's promise, if any. */
  private runHandler(action: 'add' | 'remove', vni: Vni, route: Route): unknown {
    if (action === 'add') this.counters.routesAdded++;
    else this.counters.routesRemoved++;
    if (this.listenerCount('route') > 0) this.emitSafely('route', { action, vni, route });
    try {
      const r =
        action === 'add' ? this.handler.addRoute(vni, route) : this.handler.removeRoute(vni, route);
      return r instanceof Promise
        ? r.catch((e: unknown) => {
            this.handlerFailed(e, { action, vni, route });
          })
        : undefined;
    } catch (e) {
      this.handlerFailed(e, { action, vni, route });
      return undefined;
    }
  }

  private handlerFailed(e: unknown, change: RouteChangeEvent): void {
    this.counters.handlerErrors++;
    this.log.error(
      { err: e, action: change.action, vni: change.vni, route: formatRoute(change.route) },
      'route handler failed',
    );
    this.emitSafely('handlerError', e, change);
  }

  /**
   * Calls every listener of `event` on its own: one that throws is logged, counted and reported
   * ('listenerError'), and neither the others nor the client's state are affected.
   */
  private emitSafely<K extends keyof ClientEvents>(event: K, ...args: ClientEvents[K]): void {
    callListeners(this, event, args, (e) => {
      this.counters.listenerErrors++;
      this.log.error({ err: e, event }, 'event listener failed');
      if (event !== 'listenerError') this.emitSafely('listenerError', e, event);
    });
  }

  private computeState(): ClientState {
    const total = this.connections.length;
    const connected = this.closed ? 0 : this.connections.filter((c) => c.established).length;
    const kind = this.closed
      ? 'Closed'
      : connected === 0
        ? 'Disconnected'
        : connected === total
          ? 'FullyConnected'
          : 'PartiallyConnected';
    return { kind, connected, total };
  }

  private emitState(): void {
    const s = this.computeState();
    if (s.kind !== this.lastState.kind || s.connected !== this.lastState.connected) {
      this.lastState = s;
      this.emitSafely('state', s);
    }
  }

  /** Re-checks every waiter. */
  private changed(): void {
    this.waiters.changed();
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('client is shut down');
  }
}
