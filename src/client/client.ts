/**
 * MetalBondClient: what hypervisor agents embed. Connects to every server at once (HA), keeps the
 * desired state (subscriptions, announcements) locally and syncs it to each server whenever its
 * session becomes ESTABLISHED; hands received routes to a RouteHandler once per (vni, route)
 * across servers, with loop prevention (routing/client-routes.ts).
 */

import { EventEmitter } from 'node:events';

import {
  AlreadySubscribedError,
  ClosedError,
  ConnectionTimeoutError,
  InvalidArgumentError,
  NotEstablishedError,
  NotSubscribedError,
  RouteAlreadyAnnouncedError,
  RouteNotFoundError,
  TimeoutError,
  type MetalBondError,
} from '../errors.js';
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
import { destinationKey, encodeRouteUpdate, routeKey } from '../model/wire-route.js';
import { parseHostPort } from '../net-address.js';
import { ClientRoutes, type HandlerCall } from '../routing/client-routes.js';
import { checkKeepaliveSeconds, DEFAULT_KEEPALIVE_SECONDS } from '../session/handshake.js';
import { SessionState } from '../session/state.js';
import { checkPacing } from '../session/pacing.js';
import { ServerConnection, type ConnectionHost } from './connection.js';
import type {
  ClientEvents,
  ClientOptions,
  ClientState,
  RouteHandler,
  ServerStatus,
} from './types.js';

interface Announced {
  readonly vni: Vni;
  readonly route: Route;
  readonly frame: Buffer;
}

export class MetalBondClient extends EventEmitter<ClientEvents> implements ConnectionHost {
  readonly subscriptions = new Set<Vni>();
  private readonly announced = new Map<string, Announced>();
  private readonly routes = new ClientRoutes();
  private readonly connections: ServerConnection[];
  private readonly log: Logger;
  private closed = false;
  private lastState: ClientState;

  private constructor(
    servers: readonly string[],
    private readonly handler: RouteHandler,
    options: ClientOptions,
  ) {
    super();
    if (servers.length === 0)
      throw new InvalidArgumentError('at least one server address is required');
    this.log = options.logger ?? silentLogger();
    const keepalive = checkKeepaliveSeconds(options.keepalive ?? DEFAULT_KEEPALIVE_SECONDS);
    const targets = servers.map((s) => parseHostPort(s, 4711));
    const pacing = checkPacing(options.pacing);
    const windowBytes =
      options.windowBytes === false ? undefined : (options.windowBytes ?? 32 * 1024);
    if (windowBytes !== undefined && !(windowBytes >= 2048)) {
      throw new InvalidArgumentError(`windowBytes must be >= 2048, got ${String(windowBytes)}`);
    }
    this.connections = targets.map(
      (t, i) =>
        new ServerConnection(i, servers[i] ?? '', t, this, {
          keepaliveSeconds: keepalive,
          helloTimeoutMs: options.helloTimeoutMs,
          backoff: { minMs: options.backoffMinMs ?? 1000, maxMs: options.backoffMaxMs ?? 10000 },
          logger: this.log,
          secondMs: options.secondMs ?? 1000,
          pacing,
          windowBytes,
        }),
    );
    for (const vni of options.subscribe ?? []) this.subscriptions.add(checkVni(vni));
    for (const a of options.announce ?? []) {
      const key = routeKey(a.vni, a.route);
      if (this.announced.has(key)) continue;
      this.announced.set(key, {
        vni: a.vni,
        route: a.route,
        frame: encodeRouteUpdate('ADD', a.vni, a.route),
      });
      this.routes.announce(destinationKey(a.vni, a.route));
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
    return this.connections.map((c) => ({
      index: c.index,
      address: c.address,
      state: c.state,
      keepalive: c.established ? c.session?.keepaliveSeconds : undefined,
      establishedSince: c.established ? c.session?.establishedAt : undefined,
      routes: c.received.size,
      connects: c.connects,
      echoesIgnored: c.echoes,
      lastError: c.lastError?.message,
    }));
  }

  /** Waits until at least one server is established (TimeoutError after `timeoutMs`). */
  waitEstablished(timeoutMs?: number): Promise<void> {
    return this.waitFor(
      () => this.isEstablished,
      timeoutMs,
      () => new TimeoutError('timeout waiting for an established server'),
    );
  }

  /** Waits until at least one server is established (ConnectionTimeoutError after `timeoutMs`). */
  waitAnyEstablished(timeoutMs?: number): Promise<void> {
    return this.waitFor(
      () => this.isEstablished,
      timeoutMs,
      () => new ConnectionTimeoutError('connection timeout: no server established'),
    );
  }

  /** Waits until every server is established (ConnectionTimeoutError after `timeoutMs`). */
  waitAllEstablished(timeoutMs?: number): Promise<void> {
    return this.waitFor(
      () => this.connections.every((c) => c.established),
      timeoutMs,
      () =>
        new ConnectionTimeoutError(
          `connection timeout: ${String(this.connections.filter((c) => c.established).length)} of ${String(this.connections.length)} servers established`,
        ),
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
    await Promise.resolve();
  }

  async announce(vni: Vni, destination: Destination | string, nextHop: NextHop): Promise<void> {
    this.checkOpen();
    const route: Route = {
      destination: typeof destination === 'string' ? parseDestination(destination) : destination,
      nextHop,
    };
    const frame = encodeRouteUpdate('ADD', vni, route); // validates every field
    const key = routeKey(vni, route);
    if (this.announced.has(key))
      throw new RouteAlreadyAnnouncedError(`VNI ${String(vni)} ${formatRoute(route)}`);
    if (!this.isEstablished) throw new NotEstablishedError();
    this.announced.set(key, { vni, route, frame });
    this.apply(this.routes.announce(destinationKey(vni, route)));
    for (const c of this.connections) c.sendUpdate(frame);
    this.log.info({ vni, route: formatRoute(route) }, 'announced');
    await Promise.resolve();
  }

  async withdraw(vni: Vni, destination: Destination | string, nextHop: NextHop): Promise<void> {
    this.checkOpen();
    const route: Route = {
      destination: typeof destination === 'string' ? parseDestination(destination) : destination,
      nextHop,
    };
    const key = routeKey(vni, route);
    if (!this.announced.delete(key))
      throw new RouteNotFoundError(`VNI ${String(vni)} ${formatRoute(route)}`);
    const frame = encodeRouteUpdate('REMOVE', vni, route);
    for (const c of this.connections) c.sendUpdate(frame);
    this.apply(this.routes.withdraw(destinationKey(vni, route)));
    this.log.info({ vni, route: formatRoute(route) }, 'withdrawn');
    await Promise.resolve();
  }

  /** Received routes as the handler holds them (deduplicated across servers). */
  receivedRoutes(vni?: Vni): { vni: Vni; route: Route }[] {
    return this.routes.delivered(vni);
  }

  /** Received routes held back because we announce their destination ourselves. */
  heldBackRoutes(): { vni: Vni; route: Route }[] {
    return this.routes.heldBack();
  }

  announcedRoutes(): { vni: Vni; route: Route }[] {
    return [...this.announced.values()].map((a) => ({ vni: a.vni, route: a.route }));
  }

  /** Which servers (by index) currently report a route. */
  routeServers(vni: Vni, route: Route): number[] {
    return [...(this.routes.origins(routeKey(vni, route)) ?? [])];
  }

  /** Closes every connection. The handler is not called for the routes it holds. */
  async shutdown(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const c of this.connections) c.close();
    this.log.info('client shut down');
    this.emitState();
    await Promise.resolve();
  }

  // ---- ConnectionHost ----

  announcementFrames(): Iterable<Buffer> {
    return [...this.announced.values()].map((a) => a.frame);
  }

  isAnnounced(key: string): boolean {
    return this.announced.has(key);
  }

  routeAdded(conn: ServerConnection, key: string, vni: Vni, route: Route): void {
    this.apply(this.routes.addOrigin(conn.index, key, vni, route, destinationKey(vni, route)));
  }

  routeRemoved(conn: ServerConnection, key: string): void {
    this.apply(this.routes.removeOrigin(conn.index, key));
  }

  stateChanged(conn: ServerConnection, state: SessionState, previous: SessionState): void {
    this.emit('server', {
      server: conn.address,
      state,
      previous,
      error: state === SessionState.RETRY ? conn.lastError : undefined,
    });
    this.emitState();
  }

  // ---- internals ----

  private apply(calls: HandlerCall[]): void {
    for (const call of calls) {
      const change = { action: call.action, vni: call.vni, route: call.route };
      try {
        const r =
          call.action === 'add'
            ? this.handler.addRoute(call.vni, call.route)
            : this.handler.removeRoute(call.vni, call.route);
        if (r instanceof Promise) {
          r.catch((e: unknown) => {
            this.handlerFailed(e, change);
          });
        }
      } catch (e) {
        this.handlerFailed(e, change);
      }
      this.emit('route', change);
    }
  }

  private handlerFailed(
    e: unknown,
    change: { action: 'add' | 'remove'; vni: Vni; route: Route },
  ): void {
    this.log.error(
      { err: e, action: change.action, vni: change.vni, route: formatRoute(change.route) },
      'route handler failed',
    );
    if (this.listenerCount('handlerError') > 0) this.emit('handlerError', e, change);
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
      this.emit('state', s);
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new ClosedError('client is shut down');
  }

  private async waitFor(
    cond: () => boolean,
    timeoutMs: number | undefined,
    timeoutError: () => MetalBondError,
  ): Promise<void> {
    if (cond()) return;
    this.checkOpen();
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (err?: MetalBondError): void => {
        if (timer !== undefined) clearTimeout(timer);
        this.off('state', check);
        if (err === undefined) resolve();
        else reject(err);
      };
      const check = (): void => {
        if (cond()) done();
        else if (this.closed) done(new ClosedError('client is shut down'));
      };
      this.on('state', check);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done(timeoutError());
        }, timeoutMs);
      }
    });
  }
}
