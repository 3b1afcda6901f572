/**
 * The MetalBond route server: accepts sessions, keeps subscriptions, applies the view rule
 * (routing/route-table.ts) and hands every change to the fan-out (fanout.ts), which queues the
 * frames; flow control (flow-control.ts) watches the queues.
 */

import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import {
  createServer as createTlsServer,
  type Server as TlsServer,
  type TLSSocket,
} from 'node:tls';

import { revoked, type AuthorizationPolicy } from '../access/authorization.js';
import { peerIdentity, type TlsCredentials, type TlsReloadResult } from '../access/tls.js';
import { ServerAccess } from './access.js';

import { IoError, MetalBondError } from '../errors.js';
import { callListeners } from '../events.js';
import { silentLogger, type Logger } from '../log.js';
import { routeFromKey } from '../model/wire-route.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net-address.js';
import type { RouteEntry } from '../routing/owner-index.js';
import { DeliveryKind, RouteTable, type WithdrawVisitor } from '../routing/route-table.js';
import type { FeedDone } from '../routing/subscriber-feed.js';
import { Session, formatAddress, type SessionHandler } from '../session/session.js';
import { encodeSynced } from '../wire/encode.js';
import {
  DEFAULT_LISTEN,
  resolveServerConfig,
  type ResolvedServerConfig,
  type ServerConfig,
} from './config.js';
import { FanOut } from './fanout.js';
import { FlowControl } from './flow-control.js';
import {
  newServerCounters,
  type PeerInfo,
  type RouteInfo,
  type RouteKindCount,
  type ServerCounters,
  type ServerEvents,
} from './info.js';
import { boundAddress, listenOn } from './listeners.js';
import { SyncedGate } from './synced-gate.js';
import { UpdateIngest } from './updates.js';
import { TrafficSum, routeKindCounts, type Traffic } from '../session/traffic.js';
import { ServerPeer } from './peer.js';

export class MetalBondServer extends EventEmitter<ServerEvents> implements SessionHandler {
  readonly config: ResolvedServerConfig;
  readonly counters: ServerCounters = newServerCounters();
  /** When the server started listening (SYNCED is held back for the sync delay after it). */
  readonly startedAt = Date.now();
  private readonly log: Logger;
  private readonly table = new RouteTable<ServerPeer>();
  private readonly bySession = new Map<Session, ServerPeer>();
  /** Traffic of the sessions that ended. */
  private readonly ended = new TrafficSum();
  private readonly updates: UpdateIngest;
  private readonly fanout: FanOut;
  private readonly flow: FlowControl;
  private readonly access: ServerAccess;
  /** The mutual-TLS listener, when configured. */
  private tlsServer: TlsServer | undefined;
  private readonly tlsCredentials: TlsCredentials | undefined;
  private nextId = 1;
  private stopping = false;
  /** Peers with at least one subscription. */
  private subscribedPeers = 0;
  /** The peer of the last UPDATE (onUpdate's lookup cache). */
  private lastPeer: ServerPeer | undefined;
  /** Pending sweep of withdrawn table entries (RouteTable.sweep), one step per event-loop turn. */
  private sweepTimer: NodeJS.Immediate | undefined;
  /** Holds SYNCEDs until the sync delay has passed. */
  private readonly syncedGate: SyncedGate;
  private _address: HostPort;

  private constructor(
    private readonly server: Server,
    config: ServerConfig,
  ) {
    super();
    this.config = resolveServerConfig(config);
    this.log = config.logger ?? silentLogger();
    this._address = { host: '', port: 0 };
    // 'newListener' comes before the listener is added, 'removeListener' after it is removed.
    const events = this as EventEmitter;
    events.on('newListener', (name: string | symbol) => {
      if (name === 'route') this.updates.emitRoutes = true;
    });
    events.on('removeListener', (name: string | symbol) => {
      if (name === 'route') this.updates.emitRoutes = this.listenerCount('route') > 0;
    });
    this.access = new ServerAccess(
      this.config.limits,
      this.config.allow,
      config.authorization,
      this.counters,
      this.log,
    );
    this.tlsCredentials = config.tls?.credentials;
    this.fanout = new FanOut(
      this.table,
      this.counters,
      this.config.queueHighWatermarkBytes,
      (p) => {
        this.flow.fellBehind(p);
      },
    );
    this.flow = new FlowControl(
      this.config,
      {
        all: () => this.bySession.values(),
        subscriberCount: () => this.subscribedPeers,
      },
      {
        stalled: (peer, why) => {
          this.counters.slowConsumerDisconnects++;
          peer.session.log.warn({ why }, 'slow consumer disconnected');
          peer.session.close(new IoError(`slow consumer: ${why}`));
        },
        paused: (why) => {
          this.counters.flowControlPauses++;
          this.log.debug({ why }, 'flow control: reading paused');
        },
        behind: (peer) => {
          this.counters.backlogEntered++;
          peer.session.log.debug(
            { queuedBytes: peer.session.queuedBytes },
            'subscriber behind: served from its backlog',
          );
        },
      },
    );
    this.updates = new UpdateIngest(
      this.table,
      this.fanout,
      this.access,
      this.counters,
      this.config.invalidUpdateLogLimit,
      (peer, vni, key, remove) => {
        this.emitRoute(peer, vni, key, remove);
      },
    );
    this.syncedGate = new SyncedGate(
      this.config.syncDelayMs,
      (peer, vni) => {
        this.sendSynced(peer, vni);
      },
      () => this.bySession.values(),
    );
  }

  /** Listens on `listen` (default `[::1]:4711`; port 0 picks a free port). */
  static async start(
    listen: string = DEFAULT_LISTEN,
    config: ServerConfig = {},
  ): Promise<MetalBondServer> {
    const hp = parseHostPort(listen);
    const net = createServer({ noDelay: true });
    const server = new MetalBondServer(net, config);
    try {
      await listenOn(net, hp, server.config.listenBacklog);
    } catch (e) {
      server.stopTimers();
      throw e;
    }
    server._address = boundAddress(net) ?? hp;
    net.on('connection', (socket) => {
      server.accept(socket, 'tcp');
    });
    net.on('error', (err) => {
      server.log.error({ err }, 'listener error');
    });
    if (config.tls !== undefined) {
      try {
        await server.listenTls(config.tls.listen, config.tls.credentials);
      } catch (e) {
        await server.shutdown();
        throw e;
      }
    }
    server.log.info(
      {
        listen: formatHostPort(server._address),
        keepalive: server.config.keepalive,
        extensions: server.config.features !== undefined,
        syncDelayMs: server.config.syncDelayMs,
      },
      'server listening',
    );
    return server;
  }

  /** The bound address. */
  get address(): HostPort {
    return this._address;
  }

  /** The bound address of the TLS listener, when there is one. */
  get tlsAddress(): HostPort | undefined {
    return boundAddress(this.tlsServer);
  }

  private async listenTls(listen: string, credentials: TlsCredentials): Promise<void> {
    const hp = parseHostPort(listen);
    const tlsServer = createTlsServer(credentials.serverOptions(this.config.helloTimeoutMs));
    this.tlsServer = tlsServer;
    // Admission before the TLS handshake: a refused address gets no byte at all.
    tlsServer.on('connection', (raw: Socket) => {
      if (this.stopping || !this.access.admit(raw.remoteAddress, this.bySession.size, 'tls')) {
        raw.destroy();
      }
    });
    tlsServer.on('secureConnection', (socket: TLSSocket) => {
      this.accept(socket, 'tls');
    });
    tlsServer.on('tlsClientError', (err, socket) => {
      this.counters.protocolErrors++;
      this.log.warn(
        { peer: formatAddress(socket.remoteAddress, socket.remotePort), err: err.message },
        'TLS handshake failed',
      );
    });
    await listenOn(tlsServer, hp, this.config.listenBacklog, ' (TLS)');
    tlsServer.on('error', (err) => {
      this.log.error({ err }, 'TLS listener error');
    });
    this.log.info({ listen: formatHostPort(this.tlsAddress ?? hp) }, 'TLS listener ready');
  }

  /**
   * Replaces the authorisation policy (a reload, e.g. on SIGHUP; undefined: no policy). Sessions
   * stay; what a peer no longer may do is undone as if it had sent UNSUBSCRIBE and REMOVEs.
   */
  setAuthorization(policy: AuthorizationPolicy | undefined): void {
    this.access.setPolicy(policy, this.bySession.values());
    for (const peer of [...this.bySession.values()]) {
      const gone = revoked(peer.rights, {
        subscribed: this.table.subscriptionsOf(peer),
        announcedVnis: this.table.ownedVnis(peer),
      });
      for (const vni of gone.unsubscribe) this.onUnsubscribe(peer.session, vni);
      for (const vni of gone.withdrawIn) {
        const n = this.table.withdrawIn(peer, vni, this.withdrawer(peer));
        peer.routesOwned -= n;
        this.fanout.end();
        peer.session.log.info(
          { vni, routesWithdrawn: n },
          'routes withdrawn: no longer authorised',
        );
      }
      if (gone.unsubscribe.length > 0 || gone.withdrawIn.length > 0) this.scheduleSweep();
    }
    this.log.info({ rules: policy?.rules.length }, 'authorisation policy in force');
  }

  /** Reads the TLS certificate, key and CA again; sessions up keep theirs. */
  async reloadTls(): Promise<TlsReloadResult | undefined> {
    const c = this.tlsCredentials;
    if (c === undefined) return undefined;
    const r = await c.reload(this.tlsServer);
    if (r.ok) this.log.info('TLS certificates reloaded');
    else
      this.log.error({ err: r.error.message }, 'TLS reload failed; the previous certificates stay');
    return r;
  }

  get routeCount(): number {
    return this.table.size;
  }

  get peerCount(): number {
    return this.bySession.size;
  }

  /** Stops accepting, closes every session; resolves when all are closed. */
  async shutdown(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.log.info({ peers: this.bySession.size }, 'server shutting down');
    const closed = new Promise<void>((resolve) => {
      this.server.close(() => {
        resolve();
      });
    });
    const tlsClosed = new Promise<void>((resolve) => {
      if (this.tlsServer === undefined) resolve();
      else
        this.tlsServer.close(() => {
          resolve();
        });
    });
    for (const s of [...this.bySession.keys()]) s.close();
    this.stopTimers();
    await closed;
    await tlsClosed;
    this.log.info('server stopped');
  }

  private stopTimers(): void {
    this.flow.stop();
    if (this.sweepTimer !== undefined) clearImmediate(this.sweepTimer);
    this.sweepTimer = undefined;
    this.syncedGate.stop();
  }

  // ---- observability ----

  peers(): PeerInfo[] {
    return [...this.bySession.values()].map((p) => this.peerInfo(p));
  }

  vnis(): number[] {
    return [...this.table.vnis()].sort((a, b) => a - b);
  }

  /** Routes of one VNI (or all) with their owners. */
  routes(vni?: number): RouteInfo[] {
    const out: RouteInfo[] = [];
    for (const v of vni === undefined ? this.vnis() : [vni]) {
      for (const [key, owners] of this.table.entries(v)) {
        out.push({ vni: v, route: routeFromKey(key).route, owners: owners.map((o) => o.address) });
      }
    }
    return out;
  }

  subscribers(vni: number): string[] {
    return [...(this.table.subscribersOf(vni) ?? [])].map((p) => p.address);
  }

  /** The routes of a VNI, lazily (no copy of the VNI: safe to walk in slices across turns). */
  *routeEntries(vni: number): Generator<RouteInfo> {
    for (const [key, owners] of this.table.entries(vni)) {
      yield { vni, route: routeFromKey(key).route, owners: owners.map((o) => o.address) };
    }
  }

  /** Routes of one VNI (a count kept on insert and delete). */
  vniRouteCount(vni: number): number {
    return this.table.routeCount(vni);
  }

  /** Per-VNI change counters (each route or owner change of a VNI counts one). */
  vniVersions(): ReadonlyMap<number, number> {
    return this.table.versions();
  }

  /** Route changes so far, all VNIs. */
  get routeChanges(): number {
    return this.table.changes;
  }

  /** Routes by family and next-hop type (counts kept on insert and delete). */
  routeKinds(): RouteKindCount[] {
    return routeKindCounts(this.table.familyTypeCounts());
  }

  /** Bytes and messages over all sessions, ended ones included. */
  traffic(): Traffic {
    const t = new TrafficSum(this.ended);
    for (const s of this.bySession.keys()) t.add(s.stats);
    return t.result();
  }

  /** Route keys waiting in the subscribers' backlogs, all peers. */
  get backlogRoutes(): number {
    let n = 0;
    for (const p of this.bySession.values()) n += p.feed.backlogRoutes;
    return n;
  }

  /** True from start() until shutdown(). */
  get listening(): boolean {
    return !this.stopping;
  }

  private peerInfo(p: ServerPeer): PeerInfo {
    return p.info(this.table.subscriptionsOf(p));
  }

  // ---- sessions ----

  private accept(socket: Socket, listener: 'tcp' | 'tls'): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    // Plain TCP: admission here, before any reply (TLS: before its handshake, in listenTls).
    if (
      listener === 'tcp' &&
      !this.access.admit(socket.remoteAddress, this.bySession.size, listener)
    ) {
      socket.destroy();
      return;
    }
    this.counters.connectionsAccepted++;
    const c = this.config;
    const session = new Session(socket, this, {
      role: 'server',
      keepaliveSeconds: c.keepalive,
      helloTimeoutMs: c.helloTimeoutMs,
      logger: this.log,
      secondMs: c.secondMs,
      features: c.features,
      pacing: c.pacing,
    });
    const identity = peerIdentity(socket);
    const peer = new ServerPeer(
      this.nextId++,
      session,
      this.table,
      identity,
      this.access.rightsFor(identity),
      listener,
    );
    this.bySession.set(session, peer);
    session.on('flushed', () => {
      this.flow.check(peer);
    });
    session.log.debug('connection accepted');
    this.emitSafely('peer', { type: 'connected', peer: this.peerInfo(peer) });
    session.start();
  }

  onEstablished(session: Session): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    const f = session.features;
    session.log.info(
      {
        keepalive: session.keepaliveSeconds,
        features: f.peer,
        reassembly: f.reassembly,
        syncMarker: f.syncMarker,
        refusals: f.refusals,
        paced: session.paced,
      },
      'peer established',
    );
    this.flow.joined(peer);
    this.emitSafely('peer', { type: 'established', peer: this.peerInfo(peer) });
  }

  onSubscribe(session: Session, vni: number): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    this.fanout.end();
    if (this.table.isSubscribed(peer, vni)) {
      session.log.debug({ vni }, 'duplicate SUBSCRIBE ignored');
      return;
    }
    const refusal = this.access.checkSubscribe(peer, vni, this.table.subscriptionsOf(peer).size);
    if (refusal !== undefined) {
      this.updates.refuse(peer, refusal);
      return;
    }
    this.table.subscribe(peer, vni);
    if (this.table.subscriptionsOf(peer).size === 1) this.subscribedPeers++;
    peer.feed.subscribed(vni, session.features.syncMarker, Date.now());
    session.requestFlush();
    session.log.info({ vni, routes: this.table.routeCount(vni) }, 'subscribed');
    this.emitSafely('subscription', { peer: peer.address, vni, subscribed: true });
  }

  onUnsubscribe(session: Session, vni: number): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    this.fanout.end();
    // What is pending for the subscription is dropped; a SYNCED still owed goes out now.
    const owed = peer.feed.unsubscribed(vni);
    const held = this.syncedGate.withdraw(peer, vni);
    if (owed?.marker === true || held) this.sendSynced(peer, vni);
    const withdrawn = this.table.unsubscribe(peer, vni, this.withdrawer(peer));
    if (withdrawn === undefined) {
      session.log.debug({ vni }, 'UNSUBSCRIBE of a VNI not subscribed ignored');
      return;
    }
    if (this.table.subscriptionsOf(peer).size === 0) this.subscribedPeers--;
    peer.routesOwned -= withdrawn;
    this.fanout.end();
    this.scheduleSweep();
    session.log.info({ vni, routesWithdrawn: withdrawn }, 'unsubscribed');
    this.emitSafely('subscription', { peer: peer.address, vni, subscribed: false });
  }

  onUpdate(session: Session, buf: Buffer, start: number, end: number): void {
    // The UPDATEs of a chunk come from one session: look its peer up once.
    let peer = this.lastPeer;
    if (peer?.session !== session) {
      peer = this.bySession.get(session);
      if (peer === undefined) return;
      this.lastPeer = peer;
    }
    this.updates.apply(peer, buf, start, end);
  }

  onChunkEnd(): void {
    this.fanout.end();
    // Bound what input can queue before any of it is written: past the budget, stop reading
    // until the queued frames were handed to the sockets (flow control decides then).
    if (this.fanout.turnBytes > this.config.turnBudgetBytes) {
      this.fanout.turnBytes = 0;
      this.flow.throttle();
    }
  }

  onWritable(session: Session, room: number): boolean {
    const peer = this.bySession.get(session);
    if (peer?.feed.hasBacklog !== true) return false;
    return this.fanout.produce(peer, room, (d) => {
      this.subscriptionDrained(peer, d);
    });
  }

  onClose(session: Session, error: MetalBondError | undefined): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    this.fanout.end();
    this.bySession.delete(session);
    if (this.lastPeer === peer) this.lastPeer = undefined;
    peer.closed = true;
    this.ended.add(session.stats);
    this.flow.left(peer);
    if (this.table.subscriptionsOf(peer).size > 0) this.subscribedPeers--;
    const withdrawn = this.table.removePeer(peer, this.withdrawer(peer));
    this.fanout.end();
    this.scheduleSweep();
    const code = error?.code;
    if (code === 'PROTOCOL') this.counters.protocolErrors++;
    else if (code === 'TIMEOUT') this.counters.timeouts++;
    else if (code === 'INTERNAL') this.counters.internalErrors++;
    const reason = error?.message ?? (this.stopping ? 'server shutdown' : 'closed');
    const fields = { reason, code, routesWithdrawn: withdrawn };
    if (code === 'INTERNAL') session.log.error({ err: error, ...fields }, 'peer closed');
    else if (code === 'PROTOCOL' || code === 'TIMEOUT') session.log.warn(fields, 'peer closed');
    else session.log.info(fields, 'peer closed');
    this.emitSafely('peer', { type: 'closed', peer: this.peerInfo(peer), ...fields });
  }

  // ---- SYNCED ----

  private subscriptionDrained(peer: ServerPeer, d: FeedDone): void {
    if (d.marker) {
      this.syncedGate.due(peer, d.vni);
    }
    this.emitSafely('snapshot', {
      peer: peer.address,
      vni: d.vni,
      routes: d.sent,
      durationMs: Date.now() - d.subscribedAt,
    });
  }

  private sendSynced(peer: ServerPeer, vni: number): void {
    this.counters.syncedSent++;
    peer.session.send(encodeSynced(vni));
  }

  // ---- fan-out ----

  /** Distributes the REMOVEs of a bulk withdrawal by `from` (nothing while shutting down). */
  private withdrawer(from: ServerPeer): WithdrawVisitor<ServerPeer> {
    if (this.stopping) return () => undefined;
    const emitRoutes = this.updates.emitRoutes;
    return (vni: number, e: RouteEntry<ServerPeer>, kind: DeliveryKind, to) => {
      this.fanout.deliver(vni, e, true, kind, to, undefined, 0, 0);
      if (emitRoutes) this.emitRoute(from, vni, e.key, true);
    };
  }

  /** Takes withdrawn entries out of the table in bounded steps, after their REMOVEs went out. */
  private scheduleSweep(): void {
    if (this.sweepTimer !== undefined || this.stopping || !this.table.sweepPending) return;
    this.sweepTimer = setImmediate(() => {
      this.sweepTimer = undefined;
      this.table.sweep(this.config.sweepStep);
      this.scheduleSweep();
    });
  }

  // ---- events ----

  private emitRoute(peer: ServerPeer, vni: number, key: string, remove: boolean): void {
    this.emitSafely('route', {
      action: remove ? 'REMOVE' : 'ADD',
      vni,
      route: routeFromKey(key).route,
      peer: peer.address,
    });
  }

  /**
   * Calls every listener of `event`, each on its own: one that throws is logged, counted and
   * reported ('listenerError'), and neither the others nor the server's state are affected.
   */
  private emitSafely<K extends keyof ServerEvents>(event: K, ...args: ServerEvents[K]): void {
    callListeners(this, event, args, (e) => {
      this.counters.listenerErrors++;
      this.log.error({ err: e, event }, 'event listener failed');
      if (event !== 'listenerError') this.emitSafely('listenerError', e, event);
    });
  }
}
