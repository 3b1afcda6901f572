/**
 * The MetalBond route server: accepts sessions, applies the view rule (routing/route-table.ts)
 * and fans updates out. Each UPDATE is validated, keyed and encoded once; recipients queue ranges
 * of a shared arena and get one coalesced write per event-loop turn.
 */

import { EventEmitter } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';

import { IoError, MetalBondError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { fieldsInvalidReason, fieldsRouteKey } from '../model/validate.js';
import { routeFromKey } from '../model/wire-route.js';
import { formatHostPort, parseHostPort, type HostPort } from '../net-address.js';
import { DeliveryKind, RouteTable, type WithdrawVisitor } from '../routing/route-table.js';
import { Session, type SessionHandler } from '../session/session.js';
import { canonicalUpdateKeyStart, fastResult, latin1 } from '../wire/canonical-fast.js';
import { UpdateFields } from '../wire/decode.js';
import { HEADER_SIZE, WireAction } from '../wire/messages.js';
import { writeUpdateFrame, updateFrameSize } from '../wire/route-key.js';
import { FrameArena } from './arena.js';
import {
  DEFAULT_LISTEN,
  resolveServerConfig,
  type ResolvedServerConfig,
  type ServerConfig,
} from './config.js';
import { FlowControl } from './flow-control.js';
import type { PeerInfo, RouteInfo, ServerCounters, ServerEvents } from './info.js';
import { ServerPeer } from './peer.js';

export class MetalBondServer extends EventEmitter<ServerEvents> implements SessionHandler {
  readonly config: ResolvedServerConfig;
  readonly counters: ServerCounters = {
    connectionsAccepted: 0,
    updatesAccepted: 0,
    updatesEncoded: 0,
    invalidUpdates: 0,
    protocolErrors: 0,
    timeouts: 0,
    slowConsumerDisconnects: 0,
    flowControlPauses: 0,
  };
  private readonly log: Logger;
  private readonly table = new RouteTable<ServerPeer>();
  private readonly bySession = new Map<Session, ServerPeer>();
  private readonly fields = new UpdateFields();
  private readonly arena = new FrameArena();
  private readonly flow: FlowControl;
  /**
   * Fan-out run: consecutive frames of one arena for every subscriber of `runVni` but
   * `runExcept`. Queued to the recipients once per run (typically once per received chunk)
   * instead of once per frame; flushed before anything else is queued, so order is kept.
   */
  private runBuf: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;
  private runFrames = 0;
  private runVni = 0;
  private runExcept: ServerPeer | undefined;
  /** Bytes queued for fan-out since the last throttle check. */
  private turnBytes = 0;
  private nextId = 1;
  /**
   * The received canonical frame of the update being applied, forwarded as is (valid during the
   * chunk's processing: the run that refers to it is flushed, i.e. copied, by onChunkEnd).
   */
  private frameSrc: Buffer | undefined;
  private frameStart = 0;
  private frameEnd = 0;
  private stopping = false;
  /** The peer of the last UPDATE (onUpdate's lookup cache). */
  private lastPeer: ServerPeer | undefined;
  /** Whether anybody listens to 'route' (kept by the listener hooks: checked per update). */
  private routeListeners = false;
  /** Pending sweep of withdrawn table entries (RouteTable.sweep), one step per event-loop turn. */
  private sweepTimer: NodeJS.Immediate | undefined;
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
      if (name === 'route') this.routeListeners = true;
    });
    events.on('removeListener', (name: string | symbol) => {
      if (name === 'route') this.routeListeners = this.listenerCount('route') > 0;
    });
    this.flow = new FlowControl(this.config, this.bySession, {
      slowConsumer: (peer, why) => {
        this.counters.slowConsumerDisconnects++;
        peer.session.log.warn(
          { queuedBytes: peer.session.queuedBytes, why },
          'slow consumer disconnected',
        );
        peer.session.close(new IoError(`slow consumer: ${why}`));
      },
      paused: () => {
        this.counters.flowControlPauses++;
        this.log.debug('flow control: reading paused');
      },
    });
  }

  /** Listens on `listen` (default `[::1]:4711`; port 0 picks a free port). */
  static async start(
    listen: string = DEFAULT_LISTEN,
    config: ServerConfig = {},
  ): Promise<MetalBondServer> {
    const hp = parseHostPort(listen);
    const net = createServer({ noDelay: true });
    const server = new MetalBondServer(net, config);
    await new Promise<void>((resolve, reject) => {
      const onError = (err: NodeJS.ErrnoException): void => {
        reject(
          new IoError(
            `cannot listen on ${formatHostPort(hp)}: ${err.code === 'EADDRINUSE' ? 'address already in use' : err.message}`,
            { cause: err },
          ),
        );
      };
      net.once('error', onError);
      net.listen({ host: hp.host, port: hp.port }, () => {
        net.off('error', onError);
        resolve();
      });
    });
    const a = net.address();
    server._address = typeof a === 'object' && a !== null ? { host: a.address, port: a.port } : hp;
    net.on('connection', (socket) => {
      server.accept(socket);
    });
    net.on('error', (err) => {
      server.log.error({ err }, 'listener error');
    });
    server.log.info(
      { listen: formatHostPort(server._address), keepalive: server.config.keepalive },
      'server listening',
    );
    return server;
  }

  /** The bound address. */
  get address(): HostPort {
    return this._address;
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
    for (const s of [...this.bySession.keys()]) s.close();
    this.flow.stop();
    if (this.sweepTimer !== undefined) clearImmediate(this.sweepTimer);
    this.sweepTimer = undefined;
    await closed;
    this.log.info('server stopped');
  }

  // ---- observability ----

  peers(): PeerInfo[] {
    return [...this.bySession.values()].map((p) => this.peerInfo(p));
  }

  vnis(): number[] {
    return [...this.table.vnis()].sort((a, b) => a - b);
  }

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

  private peerInfo(p: ServerPeer): PeerInfo {
    const s = p.session;
    return {
      id: p.id,
      address: p.address,
      state: s.state,
      keepalive: s.keepaliveSeconds,
      connectedSince: p.connectedAt,
      establishedSince: s.establishedAt,
      routesOwned: this.table.ownedCount(p),
      subscriptions: [...this.table.subscriptionsOf(p)].sort((a, b) => a - b),
      bytesIn: s.stats.bytesIn,
      bytesOut: s.stats.bytesOut,
      messagesIn: s.stats.messagesIn,
      messagesOut: s.stats.messagesOut,
      writes: s.stats.writes,
      queuedBytes: s.queuedBytes,
      readingPaused: s.isReadingPaused,
    };
  }

  // ---- sessions ----

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.counters.connectionsAccepted++;
    const session = new Session(socket, this, {
      role: 'server',
      keepaliveSeconds: this.config.keepalive,
      helloTimeoutMs: this.config.helloTimeoutMs,
      logger: this.log,
      secondMs: this.config.secondMs,
      pacing: this.config.pacing,
    });
    const peer = new ServerPeer(this.nextId++, session);
    this.bySession.set(session, peer);
    session.on('flushed', () => {
      this.flow.check(peer);
    });
    session.on('drain', () => {
      this.flow.check(peer);
    });
    session.log.debug('connection accepted');
    this.emit('peer', { type: 'connected', peer: this.peerInfo(peer) });
    session.start();
  }

  onEstablished(session: Session): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    session.log.info({ keepalive: session.keepaliveSeconds }, 'peer established');
    this.flow.joined(peer);
    this.emit('peer', { type: 'established', peer: this.peerInfo(peer) });
  }

  onSubscribe(session: Session, vni: number): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    this.flushRun();
    const view = this.table.subscribe(peer, vni);
    if (view === undefined) {
      session.log.debug({ vni }, 'duplicate SUBSCRIBE ignored');
      return;
    }
    if (view.length > 0) {
      let size = 0;
      for (const key of view) size += updateFrameSize(key, false);
      const buf = Buffer.allocUnsafe(size);
      let pos = 0;
      for (const key of view) pos = writeUpdateFrame(buf, pos, key, false);
      session.send(buf, view.length);
      peer.snapshotEndMark = session.totalEnqueuedBytes;
    }
    session.log.info({ vni, snapshotRoutes: view.length }, 'subscribed');
    this.emit('subscription', { peer: peer.address, vni, subscribed: true });
  }

  onUnsubscribe(session: Session, vni: number): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    this.flushRun();
    const withdrawn = this.table.unsubscribe(peer, vni, this.withdrawer(peer));
    if (withdrawn === undefined) {
      session.log.debug({ vni }, 'UNSUBSCRIBE of a VNI not subscribed ignored');
      return;
    }
    this.flushRun();
    this.scheduleSweep();
    session.log.info({ vni, routesWithdrawn: withdrawn }, 'unsubscribed');
    this.emit('subscription', { peer: peer.address, vni, subscribed: false });
  }

  onUpdate(session: Session, buf: Buffer, start: number, end: number): void {
    // The UPDATEs of a chunk come from one session: look its peer up once.
    let peer = this.lastPeer;
    if (peer?.session !== session) {
      peer = this.bySession.get(session);
      if (peer === undefined) return;
      this.lastPeer = peer;
    }
    const keyStart = canonicalUpdateKeyStart(buf, start, end);
    if (keyStart >= 0) {
      // Canonical and valid (the usual case): the key is the payload after the action field.
      this.counters.updatesAccepted++;
      const remove = fastResult.action === WireAction.REMOVE;
      // The received frame (header included) is canonical: forward its bytes as they are.
      this.frameSrc = buf;
      this.frameStart = start - HEADER_SIZE;
      this.frameEnd = end;
      this.applyUpdate(peer, fastResult.vni, latin1(buf, keyStart, end), remove);
      this.frameSrc = undefined;
      return;
    }
    const f = this.fields.parse(buf, start, end);
    const reason = fieldsInvalidReason(f);
    if (reason !== undefined) {
      this.counters.invalidUpdates++;
      if (++peer.invalidUpdates <= this.config.invalidUpdateLogLimit) {
        session.log.warn(
          { reason, last: peer.invalidUpdates === this.config.invalidUpdateLogLimit || undefined },
          peer.invalidUpdates === this.config.invalidUpdateLogLimit
            ? 'invalid UPDATE dropped (further ones from this peer are only counted)'
            : 'invalid UPDATE dropped',
        );
      }
      return;
    }
    this.counters.updatesAccepted++;
    this.applyUpdate(peer, f.vni, fieldsRouteKey(f), f.action === WireAction.REMOVE);
  }

  private applyUpdate(peer: ServerPeer, vni: number, key: string, remove: boolean): void {
    const d = remove ? this.table.remove(peer, vni, key) : this.table.add(peer, vni, key);
    if (d.kind !== DeliveryKind.NONE) this.deliver(vni, key, remove, d.kind, d.peer);
    if (this.routeListeners) {
      this.emit('route', {
        action: remove ? 'REMOVE' : 'ADD',
        vni,
        route: routeFromKey(key).route,
        peer: peer.address,
      });
    }
  }

  onChunkEnd(): void {
    this.flushRun();
    // Bound what one event-loop turn can queue: past the soft watermark, stop reading until the
    // queued frames were written (flow control decides then whether to resume).
    if (this.turnBytes > this.config.queueSoftLimitBytes) {
      this.turnBytes = 0;
      this.flow.throttle();
    }
  }

  onClose(session: Session, error: MetalBondError | undefined): void {
    const peer = this.bySession.get(session);
    if (peer === undefined) return;
    this.flushRun();
    this.bySession.delete(session);
    if (this.lastPeer === peer) this.lastPeer = undefined;
    peer.closed = true;
    this.flow.left(peer);
    const withdrawn = this.table.removePeer(peer, this.withdrawer(peer));
    this.flushRun();
    this.scheduleSweep();
    if (error?.code === 'PROTOCOL') this.counters.protocolErrors++;
    if (error?.code === 'TIMEOUT') this.counters.timeouts++;
    const reason = error?.message ?? (this.stopping ? 'server shutdown' : 'closed');
    const fields = { reason, code: error?.code, routesWithdrawn: withdrawn };
    if (error?.code === 'PROTOCOL' || error?.code === 'TIMEOUT')
      session.log.warn(fields, 'peer closed');
    else session.log.info(fields, 'peer closed');
    this.emit('peer', { type: 'closed', peer: this.peerInfo(peer), ...fields });
  }

  // ---- fan-out ----

  /** Distributes the REMOVEs of a bulk withdrawal by `from` (nothing while shutting down). */
  private withdrawer(from: ServerPeer): WithdrawVisitor<ServerPeer> {
    if (this.stopping) return () => undefined;
    const emitRoutes = this.routeListeners;
    return (vni, key, kind, to) => {
      this.deliver(vni, key, true, kind, to);
      if (emitRoutes) {
        this.emit('route', {
          action: 'REMOVE',
          vni,
          route: routeFromKey(key).route,
          peer: from.address,
        });
      }
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

  private deliver(
    vni: number,
    key: string,
    remove: boolean,
    kind: DeliveryKind,
    peer: ServerPeer | undefined,
  ): void {
    if (kind === DeliveryKind.ALL_EXCEPT) {
      const subs = this.table.subscribersOf(vni);
      if (subs === undefined || (subs.size === 1 && peer !== undefined && subs.has(peer))) return;
      this.counters.updatesEncoded++;
      // The run grows over consecutive frames of the received chunk (canonical frames, copied
      // into the arena once per run by flushRun) or of the arena (frames built here).
      const src = this.frameSrc;
      let buf: Buffer;
      let start: number;
      let end: number;
      if (src !== undefined) {
        buf = src;
        start = this.frameStart;
        end = this.frameEnd;
      } else {
        start = this.arena.writeUpdate(key, remove);
        buf = this.arena.buf;
        end = this.arena.pos;
      }
      if (
        this.runBuf === buf &&
        this.runEnd === start &&
        this.runVni === vni &&
        this.runExcept === peer
      ) {
        this.runEnd = end;
        this.runFrames++;
      } else {
        this.flushRun();
        this.runBuf = buf;
        this.runStart = start;
        this.runEnd = end;
        this.runFrames = 1;
        this.runVni = vni;
        this.runExcept = peer;
      }
    } else if (
      kind === DeliveryKind.ONLY &&
      peer !== undefined &&
      this.table.isSubscribed(peer, vni)
    ) {
      this.flushRun();
      this.counters.updatesEncoded++;
      const arena = this.arena;
      const src = this.frameSrc;
      const start =
        src === undefined
          ? arena.writeUpdate(key, remove)
          : arena.copy(src, this.frameStart, this.frameEnd);
      peer.session.send(arena.buf, 1, start, arena.pos);
      this.turnBytes += arena.pos - start;
    }
  }

  /** Queues the pending fan-out run to its recipients. */
  private flushRun(): void {
    let buf = this.runBuf;
    if (buf === undefined) return;
    this.runBuf = undefined;
    const subs = this.table.subscribersOf(this.runVni);
    if (subs === undefined) return;
    const except = this.runExcept;
    let start = this.runStart;
    let end = this.runEnd;
    const arena = this.arena;
    if (buf !== arena.buf) {
      // Frames of a received chunk: one copy for the whole run (the chunk is not kept).
      start = arena.copy(buf, start, end);
      buf = arena.buf;
      end = arena.pos;
    }
    const frames = this.runFrames;
    let n = 0;
    for (const s of subs) {
      if (s !== except) {
        s.session.send(buf, frames, start, end);
        n++;
      }
    }
    this.turnBytes += n * (end - start);
  }
}
