/**
 * KernelRouteInstaller: a RouteHandler that installs the routes a MetalBond client receives into
 * Linux routing tables over rtnetlink (one table per VNI, one encap leg per next hop over an ip6
 * tunnel device, protocol 254). See docs/kernel.md.
 *
 * Handler calls only change the desired state (synchronous, cheap); writes are queued per kernel
 * route and sent in batches, several in flight, one request in flight per route at a time, each
 * acknowledged. A route always gets its latest desired state, so a burst of changes to one prefix
 * costs one or two writes.
 */

import {
  IFF_UP,
  IPV4_DEFAULT_PRIORITY,
  IPV6_DEFAULT_PRIORITY,
  METALBOND_RT_PROTO,
  RTM_DELLINK,
  RTM_DELROUTE,
  RTM_F_CLONED,
  RTM_NEWLINK,
  RTM_NEWROUTE,
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
} from './constants.js';
import { NetlinkChannel } from './channel.js';
import {
  decodeLink,
  decodeRoute,
  routeProtocol,
  type DecodedRoute,
  type MessageHeader,
} from './decode.js';
import {
  encodeLinkGet,
  encodePermissionProbe,
  encodeRouteDelete,
  encodeRouteDump,
  encodeRouteReplace,
} from './encode.js';
import { KernelPermissionError, NetlinkError, TunnelDeviceMissingError } from './errors.js';
import { StartupHold } from './hold.js';
import { RetryScheduler } from './retry.js';
import {
  addMember,
  describeRoute,
  desiredLegs,
  fromHex,
  joinLegs,
  kernelDestination,
  kernelLegs,
  legAddress,
  memberOf,
  newRouteState,
  removeMember,
  routeId,
  splitLegs,
  type KernelRouteState,
} from './route-state.js';
import { openNetlinkTransport, type NetlinkTransport } from './transport.js';
import {
  newCounters,
  type KernelCounters,
  type KernelRouteInfo,
  type KernelRouteInstallerOptions,
  type RepairReason,
  type ResyncSignals,
  type SyncedEvent,
} from './types.js';
import type { RouteHandler } from '../client/types.js';
import { InvalidArgumentError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import { formatIP } from '../model/ip.js';
import type { Route, Vni } from '../model/route.js';

/** Errors after which the same request may succeed later. */
const TRANSIENT = new Set(['ENOBUFS', 'EBUSY', 'EAGAIN', 'EINTR', 'ENOMEM']);
/** Errors that mean the tunnel device is down or gone: writes wait for it. */
const DEVICE_TROUBLE = new Set(['ENETDOWN', 'ENODEV']);
/** Legs of a route whose state in the kernel is unknown (an acknowledgement was lost). */
const UNKNOWN = '?';

export const DEFAULT_TUNNEL_DEVICE = 'ip6tnl0';

interface Device {
  readonly name: string;
  index: number | undefined;
  up: boolean;
}

export class KernelRouteInstaller implements RouteHandler {
  /** Live counters (plain object) for metrics. */
  readonly counters: KernelCounters = newCounters();
  readonly device: Device;
  private readonly routes = new Map<string, KernelRouteState>();
  private readonly queue = new Set<KernelRouteState>();
  private readonly repairOf = new Map<KernelRouteState, RepairReason>();
  private readonly tables: ReadonlyMap<Vni, number>;
  private readonly tableIds: ReadonlySet<number>;
  private readonly log: Logger;
  private readonly retry: RetryScheduler<KernelRouteState>;
  private readonly warnedVnis = new Set<Vni>();
  private readonly settleWaiters: (() => void)[] = [];
  private hold: StartupHold;
  private writes = 0;
  private ready = false;
  private closed = false;
  private pumpScheduled = false;
  private reconciling = false;
  private holdTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private signals: { s: ResyncSignals; listener: (e: SyncedEvent) => void } | undefined;

  private constructor(
    private readonly channel: NetlinkChannel,
    private readonly options: KernelRouteInstallerOptions,
  ) {
    this.tables = new Map(options.tables);
    this.tableIds = new Set(this.tables.values());
    this.device = { name: options.device ?? DEFAULT_TUNNEL_DEVICE, index: undefined, up: false };
    this.log = (options.logger ?? silentLogger()).child({ component: 'kernel' });
    this.retry = new RetryScheduler(
      options.retryMinMs ?? 50,
      options.retryMaxMs ?? 5000,
      (items) => {
        for (const s of items) this.mark(s);
      },
    );
    this.hold = new StartupHold(this.tables, false);
    channel.onNotification((buf, h) => {
      this.notification(buf, h);
    });
    channel.onOverrun(() => {
      this.counters.overruns++;
      this.log.warn('netlink receive buffer overflow: will reconcile with the kernel');
      this.scheduleReconcile(1000);
    });
  }

  /**
   * Opens the netlink socket (loading the netlink package), checks the tunnel device and the
   * permission, reads our routes already in the configured tables and starts following link and
   * route events. Throws TunnelDeviceMissingError, KernelPermissionError, KernelUnsupportedError.
   */
  static async open(
    options: KernelRouteInstallerOptions,
    transport?: NetlinkTransport,
  ): Promise<KernelRouteInstaller> {
    validateOptions(options);
    const t = transport ?? (await openNetlinkTransport());
    const rcvbuf = t.setReceiveBuffer(8 * 1024 * 1024);
    // Each request in flight can leave an acknowledgement and a notification (about 4 KiB of
    // buffer accounting together) in the receive buffer before we read them.
    const window = options.window ?? Math.max(16, Math.min(1024, Math.floor(rcvbuf / 4096)));
    const channel = new NetlinkChannel(t, { window, batch: options.batch ?? 64 });
    const installer = new KernelRouteInstaller(channel, options);
    try {
      for (const g of [RTNLGRP_LINK, RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE]) t.addMembership(g);
      await installer.start();
    } catch (e) {
      installer.stopTimers();
      channel.close();
      throw e;
    }
    return installer;
  }

  // ---- RouteHandler ----

  addRoute(vni: Vni, route: Route): void {
    const s = this.stateFor(vni, route, true);
    if (s !== undefined && addMember(s, memberOf(vni, route))) this.mark(s);
  }

  removeRoute(vni: Vni, route: Route): void {
    const s = this.stateFor(vni, route, false);
    if (s !== undefined && removeMember(s, memberOf(vni, route))) this.mark(s);
  }

  // ---- public API ----

  /**
   * Follows a client's re-sync signals: the routes found in a table at start are reconciled once
   * every VNI of that table has re-synced (or the hold time ends).
   */
  attachResync(signals: ResyncSignals): void {
    if (this.closed) return;
    this.detachResync();
    const listener = (e: SyncedEvent): void => {
      this.vniSynced(e.vni);
    };
    this.signals = { s: signals, listener };
    signals.on('synced', listener);
    for (const vni of this.tables.keys()) if (signals.isSynced(vni)) this.vniSynced(vni);
  }

  /** Resolves when every desired change is acknowledged by the kernel (or timeoutMs passes). */
  settled(timeoutMs = 30_000): Promise<boolean> {
    if (this.isSettled()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        resolve(false);
      }, timeoutMs);
      this.settleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Our kernel routes, desired and installed. */
  kernelRoutes(): KernelRouteInfo[] {
    const out: KernelRouteInfo[] = [];
    for (const s of this.routes.values()) {
      const want = this.desired(s);
      const have = s.kernel === undefined || s.kernel === UNKNOWN ? undefined : s.kernel;
      out.push({
        table: s.table,
        destination: `${formatIP(s.dst)}/${String(s.dstLen)}`,
        nextHops: want === undefined ? [] : splitLegs(want).map(legAddress),
        installed:
          have === undefined ? undefined : splitLegs(have.replace(/^!/, '')).map(legAddress),
        error: s.failed,
      });
    }
    return out;
  }

  /** Runs a full comparison with the kernel now; resolves to the number of routes repaired. */
  async reconcile(): Promise<number> {
    const before = this.counters.repairs;
    await this.fullReconcile('periodic');
    await this.settled();
    return this.counters.repairs - before;
  }

  /**
   * Stops handling routes. With `cleanup`, removes every protocol-254 route in the configured
   * tables first (Go MetalBond's --cleanup); otherwise the kernel keeps them for the next start.
   */
  async close(options: { cleanup?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.detachResync();
    this.stopTimers();
    if (options.cleanup === true) {
      this.hold.releaseAll();
      for (const s of this.routes.values()) {
        s.members = [];
        s.held = undefined;
        this.mark(s);
      }
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      await this.settled(Math.max(0, deadline - Date.now()));
      // Anything of ours we did not know about (e.g. added while we were not running).
      await this.fullReconcile('periodic');
      await this.settled(Math.max(0, deadline - Date.now()));
    }
    this.closed = true;
    this.retry.clear();
    this.channel.close();
    this.wakeSettled();
    this.log.info({ cleanup: options.cleanup === true }, 'kernel route installer closed');
  }

  // ---- start-up ----

  private async start(): Promise<void> {
    await this.lookUpDevice();
    await this.checkPermission();
    const hold = this.options.resync?.holdTimeMs ?? this.options.holdTimeMs ?? 0;
    this.hold = new StartupHold(this.tables, hold > 0);
    let attempts = 0;
    while (!(await this.fullReconcile('start'))) {
      if (++attempts >= 5) throw new NetlinkError('cannot read the routing tables', 'EINTR');
    }
    this.ready = true;
    const found = [...this.routes.values()].filter((s) => s.kernel !== undefined).length;
    this.log.info(
      {
        device: this.device.name,
        ifindex: this.device.index,
        up: this.device.up,
        tables: Object.fromEntries(this.tables),
        found,
        holdTimeMs: hold,
      },
      hold > 0
        ? 'kernel routes: existing routes kept until their VNIs re-sync'
        : 'kernel routes: existing routes swept',
    );
    if (!this.device.up) this.log.warn({ device: this.device.name }, 'tunnel device is down');
    if (hold > 0) {
      this.holdTimer = setTimeout(() => {
        this.releaseTables(this.hold.releaseAll(), 'hold time ended');
      }, hold);
      this.holdTimer.unref();
    }
    if (this.options.resync !== undefined) this.attachResync(this.options.resync);
    const every = this.options.reconcileIntervalMs ?? 60_000;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => {
        void this.fullReconcile('periodic');
      }, every);
      this.reconcileTimer.unref();
    }
    if (hold === 0) {
      // Go's behaviour: what was left from before is removed before any route is installed.
      this.pump();
      if (!(await this.settled(30_000))) this.log.warn('sweeping old kernel routes is taking long');
    }
  }

  private lookUpDevice(): Promise<void> {
    return new Promise((resolve, reject) => {
      const seq = this.channel.nextSeq();
      this.channel.request(
        seq,
        encodeLinkGet(this.device.name, seq),
        (errno) => {
          if (errno === 'ENODEV') reject(new TunnelDeviceMissingError(this.device.name));
          else if (errno !== undefined)
            reject(new NetlinkError('cannot look up the tunnel device', errno));
          else if (this.device.index === undefined)
            reject(new TunnelDeviceMissingError(this.device.name));
          else resolve();
        },
        (buf, h) => {
          this.linkMessage(buf, h);
        },
      );
      this.channel.flush();
    });
  }

  private checkPermission(): Promise<void> {
    return new Promise((resolve, reject) => {
      const seq = this.channel.nextSeq();
      this.channel.request(seq, encodePermissionProbe(seq), (errno) => {
        if (errno === 'EPERM' || errno === 'EACCES') reject(new KernelPermissionError());
        else resolve();
      });
      this.channel.flush();
    });
  }

  // ---- desired state ----

  private stateFor(vni: Vni, route: Route, adding: boolean): KernelRouteState | undefined {
    if (this.closed) return undefined;
    const table = this.tables.get(vni);
    if (table === undefined) {
      if (adding) this.counters.skippedNoTable++;
      if (!this.warnedVnis.has(vni)) {
        this.warnedVnis.add(vni);
        this.log.warn({ vni }, 'no routing table for this VNI: its routes are not installed');
      }
      return undefined;
    }
    const d = kernelDestination(route);
    if (d.family === 6 && this.options.ipv4Only === true) {
      if (adding) this.counters.skippedIpv6++;
      return undefined;
    }
    const id = routeId(table, d.dst, d.dstLen);
    let s = this.routes.get(id);
    if (s === undefined) {
      if (!adding) return undefined;
      s = newRouteState(d.family, table, d.dst, d.dstLen);
      this.routes.set(id, s);
    }
    return s;
  }

  private desired(s: KernelRouteState): string | undefined {
    return desiredLegs(s, this.hold.isHeld(s.table));
  }

  private setKernel(s: KernelRouteState, legs: string | undefined): void {
    if ((s.kernel === undefined) !== (legs === undefined))
      this.counters.routesInstalled += legs === undefined ? -1 : 1;
    s.kernel = legs;
  }

  private mark(s: KernelRouteState): void {
    if (this.closed || s.queued) return;
    s.queued = true;
    this.queue.add(s);
    this.schedulePump();
  }

  private forgetIfIdle(s: KernelRouteState): void {
    if (
      s.members.length === 0 &&
      s.held === undefined &&
      s.kernel === undefined &&
      s.inFlight === 0 &&
      !s.queued &&
      !this.retry.isWaiting(s)
    ) {
      this.routes.delete(s.id);
      this.repairOf.delete(s);
    }
  }

  // ---- writes ----

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private get deviceReady(): boolean {
    return this.device.index !== undefined && this.device.up;
  }

  private pump(): void {
    if (!this.ready || this.closed) return;
    for (const s of this.queue) {
      if (this.channel.room === 0) break;
      if (!this.needsWrite(s)) {
        // Nothing to write (already so, refused unchanged, or waiting for the device, in which
        // case the device coming up queues it again).
        this.queue.delete(s);
        s.queued = false;
        this.forgetIfIdle(s);
        continue;
      }
      if (s.inFlight !== 0) continue;
      this.queue.delete(s);
      s.queued = false;
      this.send(s, this.desired(s));
    }
    this.channel.flush();
    this.counters.datagrams = this.channel.datagramsSent;
    this.wakeSettled();
  }

  private send(s: KernelRouteState, want: string | undefined): void {
    const seq = this.channel.nextSeq();
    const message =
      want === undefined
        ? encodeRouteDelete(
            {
              family: s.family,
              table: s.table,
              dst: s.dst,
              dstLen: s.dstLen,
              priority: s.priority,
            },
            seq,
          )
        : encodeRouteReplace(
            {
              family: s.family,
              table: s.table,
              dst: s.dst,
              dstLen: s.dstLen,
              ifindex: this.device.index ?? 0,
              legs: splitLegs(want).map(fromHex),
            },
            seq,
          );
    s.inFlight = seq;
    s.sentAt = ++this.writes;
    this.channel.request(seq, message, (errno) => {
      this.completed(s, seq, want, errno);
    });
  }

  private completed(
    s: KernelRouteState,
    seq: number,
    sent: string | undefined,
    errno: string | undefined,
  ): void {
    if (s.inFlight === seq) s.inFlight = 0;
    const op = sent === undefined ? this.counters.ops.delete : this.counters.ops.replace;
    if (errno === undefined || (sent === undefined && errno === 'ESRCH')) {
      // ESRCH on a delete: the route is already gone, which is what we wanted.
      op.ok++;
      this.setKernel(s, sent);
      s.failed = undefined;
      this.retry.succeeded(s);
      const reason = this.repairOf.get(s);
      if (reason !== undefined) {
        this.repairOf.delete(s);
        this.counters.repairs++;
        this.counters.repairsByReason[reason]++;
      }
    } else {
      op.error++;
      this.counters.errorsByErrno[errno] = (this.counters.errorsByErrno[errno] ?? 0) + 1;
      if (errno === 'ENOBUFS') this.setKernel(s, UNKNOWN);
      if (TRANSIENT.has(errno) || DEVICE_TROUBLE.has(errno)) {
        this.counters.retries++;
        this.log.debug({ errno, route: describeRoute(s) }, 'netlink request failed, will retry');
        if (DEVICE_TROUBLE.has(errno)) this.recheckDevice();
        this.retry.schedule(s);
      } else {
        if (s.failed !== errno) {
          this.log.warn(
            {
              errno,
              route: describeRoute(s),
              nextHops: sent === undefined ? [] : splitLegs(sent).map(legAddress),
              op: sent === undefined ? 'delete' : 'replace',
            },
            'kernel refused route',
          );
        }
        s.failed = errno;
        s.failedFor = sent ?? '';
      }
    }
    // Changed while the request was in flight: write the new state.
    if (!this.retry.isWaiting(s) && this.desired(s) !== sent) this.mark(s);
    this.forgetIfIdle(s);
    this.schedulePump();
  }

  /** Whether the pump would send a request for this route now (or once it is not in flight). */
  private needsWrite(s: KernelRouteState): boolean {
    const want = this.desired(s);
    if (s.failed !== undefined && (want ?? '') === s.failedFor) return false;
    if (want === s.kernel && s.kernel !== UNKNOWN) return false;
    return this.deviceReady || want === undefined;
  }

  private isSettled(): boolean {
    if (this.closed) return true;
    if (this.channel.inFlight > 0 || this.retry.size > 0 || this.reconciling) return false;
    for (const s of this.queue) if (this.needsWrite(s)) return false;
    return true;
  }

  private wakeSettled(): void {
    if (this.settleWaiters.length === 0 || !this.isSettled()) return;
    for (const w of this.settleWaiters.splice(0)) w();
  }

  // ---- events from the kernel ----

  private notification(buf: Buffer, h: MessageHeader): void {
    if (this.closed) return;
    if (h.type === RTM_NEWLINK || h.type === RTM_DELLINK) {
      this.linkMessage(buf, h);
      return;
    }
    if ((h.type !== RTM_NEWROUTE && h.type !== RTM_DELROUTE) || !this.ready) return;
    if (routeProtocol(buf, h) !== METALBOND_RT_PROTO) return;
    const r = decodeRoute(buf, h);
    if (r === undefined || !this.tableIds.has(r.table) || (r.flags & RTM_F_CLONED) !== 0) return;
    const id = routeId(r.table, r.dst, r.dstLen, nonDefaultPriority(r.family, r.priority));
    let s = this.routes.get(id);
    if ((s?.inFlight ?? 0) !== 0) return;
    if (h.type === RTM_DELROUTE) {
      if (s?.kernel === undefined) return;
      this.setKernel(s, undefined);
      if (this.desired(s) !== undefined) this.repair(s, 'deleted');
      else this.forgetIfIdle(s);
      return;
    }
    const legs = kernelLegs(r, this.device.index ?? -1);
    if (s === undefined) {
      s = newRouteState(
        r.family,
        r.table,
        r.dst,
        r.dstLen,
        nonDefaultPriority(r.family, r.priority),
      );
      this.routes.set(id, s);
    }
    if (s.kernel === legs) return;
    this.setKernel(s, legs);
    if (this.desired(s) !== legs) this.repair(s, s.members.length > 0 ? 'changed' : 'foreign');
  }

  private repair(s: KernelRouteState, reason: RepairReason): void {
    this.repairOf.set(s, reason);
    this.mark(s);
  }

  private linkMessage(buf: Buffer, h: MessageHeader): void {
    const link = decodeLink(buf, h);
    if (link === undefined) return;
    const dev = this.device;
    const ours = link.name === dev.name || (link.name === undefined && link.index === dev.index);
    if (h.type === RTM_DELLINK || !ours) {
      // Deleted, or renamed away: the kernel dropped the routes through it.
      if (link.index === dev.index) {
        this.log.warn({ device: dev.name }, 'tunnel device gone: routes wait for it to return');
        dev.index = undefined;
        this.deviceLost();
      }
      return;
    }
    const recreated = dev.index !== undefined && dev.index !== link.index;
    const wasReady = this.deviceReady;
    if (recreated) this.deviceLost();
    dev.index = link.index;
    dev.up = (link.flags & IFF_UP) !== 0;
    if (!this.ready) return;
    if (wasReady && !dev.up) {
      this.log.warn({ device: dev.name }, 'tunnel device down: routes wait for it');
      this.deviceLost();
    } else if (dev.up && (!wasReady || recreated)) {
      let n = 0;
      for (const s of this.routes.values()) {
        if (this.desired(s) !== undefined && this.desired(s) !== s.kernel) {
          this.repair(s, 'device');
          n++;
        }
      }
      this.log.info(
        { device: dev.name, ifindex: dev.index, routes: n },
        'tunnel device up: reinstalling routes',
      );
    }
  }

  /** The kernel removed every route through the device (down, deleted or re-created). */
  private deviceLost(): void {
    for (const s of this.routes.values()) {
      if (s.kernel !== undefined && s.inFlight === 0) this.setKernel(s, undefined);
    }
  }

  private recheckDevice(): void {
    if (this.closed) return;
    const seq = this.channel.nextSeq();
    this.channel.request(
      seq,
      encodeLinkGet(this.device.name, seq),
      (errno) => {
        if (errno === 'ENODEV' && this.device.index !== undefined) {
          this.device.index = undefined;
          this.deviceLost();
        }
      },
      (b, h) => {
        this.linkMessage(b, h);
      },
    );
    this.schedulePump();
  }

  // ---- full comparison with the kernel ----

  private scheduleReconcile(delayMs: number): void {
    setTimeout(() => {
      void this.fullReconcile('periodic');
    }, delayMs).unref();
  }

  /**
   * Dumps the routing tables and compares our protocol-254 routes in the configured tables with
   * what we believe. At start, what is found becomes the known state (and, while held, part of the
   * desired one). Later, routes written since the dump began are skipped (the dump may predate
   * their write); the others are corrected where the kernel differs. False if the dump failed or
   * was inconsistent.
   */
  private async fullReconcile(kind: 'start' | 'periodic'): Promise<boolean> {
    if (this.closed || (kind === 'periodic' && (this.reconciling || !this.ready))) return false;
    this.reconciling = true;
    const startWrites = this.writes;
    const found = new Map<
      string,
      { r: NonNullable<ReturnType<typeof decodeRoute>>; legs: string }
    >();
    const ifindex = this.device.index ?? -1;
    const seq = this.channel.nextSeq();
    const result = await this.channel.dump(seq, encodeRouteDump(seq), (buf, h) => {
      if (h.type !== RTM_NEWROUTE || routeProtocol(buf, h) !== METALBOND_RT_PROTO) return;
      const r = decodeRoute(buf, h);
      if (r === undefined || !this.tableIds.has(r.table) || (r.flags & RTM_F_CLONED) !== 0) return;
      const prio = nonDefaultPriority(r.family, r.priority);
      found.set(routeId(r.table, r.dst, r.dstLen, prio), { r, legs: kernelLegs(r, ifindex) });
    });
    this.reconciling = false;
    if (result.errno !== undefined || result.interrupted) {
      this.counters.ops.dump.error++;
      if (result.errno !== undefined)
        this.counters.errorsByErrno[result.errno] =
          (this.counters.errorsByErrno[result.errno] ?? 0) + 1;
      if (kind === 'periodic') {
        this.log.debug({ errno: result.errno }, 'route dump failed or inconsistent, will retry');
        this.scheduleReconcile(2000);
      }
      this.wakeSettled();
      return false;
    }
    this.counters.ops.dump.ok++;
    this.counters.reconciles++;
    if (kind === 'start') this.adoptFound(found);
    else this.compareFound(found, startWrites);
    this.schedulePump();
    this.wakeSettled();
    return true;
  }

  private adoptFound(found: FoundRoutes): void {
    for (const [id, { r, legs }] of found) {
      const s = newRouteState(
        r.family,
        r.table,
        r.dst,
        r.dstLen,
        nonDefaultPriority(r.family, r.priority),
      );
      this.routes.set(id, s);
      this.setKernel(s, legs);
      if (this.hold.isHeld(s.table)) {
        s.held = heldLegs(legs);
      } else {
        this.counters.staleRemoved++;
        this.mark(s);
      }
    }
  }

  private compareFound(found: FoundRoutes, startWrites: number): void {
    let repaired = 0;
    for (const s of this.routes.values()) {
      const f = found.get(s.id);
      found.delete(s.id);
      // Written since the dump began: the dump may predate the write.
      if (s.inFlight !== 0 || s.sentAt > startWrites) continue;
      const legs = f?.legs;
      if (legs === s.kernel) continue;
      const wasUnknown = s.kernel === UNKNOWN;
      this.setKernel(s, legs);
      const want = this.desired(s);
      if (want === legs || (s.failed !== undefined && (want ?? '') === s.failedFor)) continue;
      if (wasUnknown) {
        // Our own acknowledgement was lost: now we know, write if needed (not a repair).
        this.mark(s);
        continue;
      }
      if (want !== undefined && !this.deviceReady) continue;
      this.repair(s, legs === undefined ? 'missing' : s.members.length > 0 ? 'changed' : 'foreign');
      repaired++;
    }
    // Ours by protocol and table, but unknown to us (added behind our back).
    for (const [id, { r, legs }] of found) {
      const s = newRouteState(
        r.family,
        r.table,
        r.dst,
        r.dstLen,
        nonDefaultPriority(r.family, r.priority),
      );
      this.routes.set(id, s);
      this.setKernel(s, legs);
      if (this.hold.isHeld(s.table)) {
        s.held = heldLegs(legs);
        continue;
      }
      this.repair(s, 'foreign');
      repaired++;
    }
    if (repaired > 0)
      this.log.info({ repaired }, 'reconcile: routes differing from the kernel rewritten');
  }

  // ---- start-up hold ----

  private vniSynced(vni: Vni): void {
    const table = this.hold.vniSynced(vni);
    if (table !== undefined) this.releaseTables([table], `VNI ${String(vni)} re-synced`);
  }

  private releaseTables(tables: number[], why: string): void {
    if (tables.length === 0 || this.closed) return;
    const set = new Set(tables);
    let kept = 0;
    let removed = 0;
    for (const s of this.routes.values()) {
      if (!set.has(s.table) || s.held === undefined) continue;
      if (s.members.length > 0) kept++;
      else removed++;
      s.held = undefined;
      this.mark(s);
    }
    this.counters.staleKept += kept;
    this.counters.staleRemoved += removed;
    this.log.info({ tables, kept, removed, why }, 'kernel routes found at start reconciled');
    if (!this.hold.anyHeld && this.holdTimer !== undefined) {
      clearTimeout(this.holdTimer);
      this.holdTimer = undefined;
    }
  }

  private detachResync(): void {
    if (this.signals === undefined) return;
    this.signals.s.off('synced', this.signals.listener);
    this.signals = undefined;
  }

  private stopTimers(): void {
    if (this.holdTimer !== undefined) clearTimeout(this.holdTimer);
    if (this.reconcileTimer !== undefined) clearInterval(this.reconcileTimer);
    this.holdTimer = undefined;
    this.reconcileTimer = undefined;
  }
}

type FoundRoutes = Map<string, { readonly r: DecodedRoute; readonly legs: string }>;

/** The valid legs of a route found in the kernel, kept while its table is held. */
function heldLegs(kernel: string): string | undefined {
  return joinLegs(splitLegs(kernel.replace(/^!/, '')).filter((x) => x.length === 32));
}

function nonDefaultPriority(family: 4 | 6, priority: number | undefined): number | undefined {
  const def = family === 4 ? IPV4_DEFAULT_PRIORITY : IPV6_DEFAULT_PRIORITY;
  return priority === undefined || priority === def ? undefined : priority;
}

function validateOptions(o: KernelRouteInstallerOptions): void {
  if (o.tables.size === 0)
    throw new InvalidArgumentError('kernel routes need at least one VNI -> table mapping');
  for (const [vni, table] of o.tables) {
    if (!Number.isInteger(table) || table < 1 || table > 0xffffffff)
      throw new InvalidArgumentError(
        `table for VNI ${String(vni)} must be in 1..4294967295, got ${String(table)}`,
      );
  }
  const dev = o.device ?? DEFAULT_TUNNEL_DEVICE;
  if (dev.length === 0 || dev.length > 15 || /[\s/]/.test(dev))
    throw new InvalidArgumentError(`invalid device name '${dev}'`);
}
