/**
 * KernelRouteInstaller: a RouteHandler that installs the routes a MetalBond client receives into
 * Linux routing tables over rtnetlink: one table per VNI, protocol 254, each route forwarded by a
 * nexthop object that encapsulates (ip6) to the next hop over a tunnel device, a group of them for
 * ECMP. Handler calls only change the desired state; the engine (sync.ts) writes. See
 * docs/kernel.md.
 */

import { NetlinkChannel } from './channel.js';
import {
  RTNLGRP_IPV4_ROUTE,
  RTNLGRP_IPV6_ROUTE,
  RTNLGRP_LINK,
  RTNLGRP_NEXTHOP,
} from './constants.js';
import { encodeLinkGet, encodePermissionProbe } from './encode.js';
import { KernelPermissionError, NetlinkError, TunnelDeviceMissingError } from './errors.js';
import { StartupHold } from './hold.js';
import { Reconciler, adoptSnapshot, readKernel } from './reconcile.js';
import {
  addMember,
  clearMembers,
  hopHex,
  legAddress,
  maskedPrefix,
  memberCount,
  memberKey,
  newRouteState,
  removeMember,
  setHeld,
  splitLegs,
  type KernelRouteState,
} from './route-state.js';
import { KernelEvents } from './events.js';
import { KernelSync, type Device } from './sync.js';
import { openNetlinkTransport, type NetlinkTransport } from './transport.js';
import {
  newCounters,
  type KernelCounters,
  type KernelRouteInfo,
  type KernelRouteInstallerOptions,
  type ResyncSignals,
} from './types.js';
import type { RouteHandler, SyncedEvent } from '../client/types.js';
import { InvalidArgumentError } from '../errors.js';
import { silentLogger, type Logger } from '../log.js';
import type { Route, Vni } from '../model/route.js';

export const DEFAULT_TUNNEL_DEVICE = 'ip6tnl0';

/** Route and nexthop event groups (link events are always followed). */
const ROUTE_GROUPS = [RTNLGRP_IPV4_ROUTE, RTNLGRP_IPV6_ROUTE, RTNLGRP_NEXTHOP];
/** Routes queued from which route events are turned off until the queue is written. */
const BULK_BACKLOG = 2000;

export class KernelRouteInstaller implements RouteHandler {
  /** Live counters (a plain object) for metrics. */
  readonly counters: KernelCounters = newCounters();
  private readonly sync: KernelSync;
  private readonly events: KernelEvents;
  private readonly tables: ReadonlyMap<Vni, number>;
  private readonly tableIds: ReadonlySet<number>;
  private readonly log: Logger;
  private readonly warnedVnis = new Set<Vni>();
  private readonly ipv4Only: boolean;
  private holdTimer: NodeJS.Timeout | undefined;
  private reconcileTimer: NodeJS.Timeout | undefined;
  private readonly reconciler: Reconciler;
  private signals: { s: ResyncSignals; listener: (e: SyncedEvent) => void } | undefined;
  /** Route and nexthop events are off while a large backlog is written (see bulkMode). */
  private eventsOff = false;

  private constructor(
    private readonly transport: NetlinkTransport,
    private readonly channel: NetlinkChannel,
    private readonly options: KernelRouteInstallerOptions,
  ) {
    this.tables = new Map(options.tables);
    this.tableIds = new Set(this.tables.values());
    this.ipv4Only = options.ipv4Only === true;
    this.log = (options.logger ?? silentLogger()).child({ component: 'kernel' });
    const device: Device = {
      name: options.device ?? DEFAULT_TUNNEL_DEVICE,
      index: undefined,
      up: false,
    };
    this.sync = new KernelSync(
      channel,
      device,
      this.counters,
      this.log,
      {
        retryMinMs: options.retryMinMs ?? 50,
        retryMaxMs: options.retryMaxMs ?? 5000,
        recheckDevice: () => {
          this.events.recheckDevice();
        },
        pumped: (queued) => {
          this.bulkMode(queued);
        },
      },
      this.tables,
    );
    this.reconciler = new Reconciler(this.sync, this.tableIds);
    this.events = new KernelEvents(this.sync, channel, this.tableIds, this.log, (ms) => {
      this.reconciler.soon(ms);
    });
    channel.onNotification((buf, h) => {
      this.events.notification(buf, h);
    });
    channel.onDrain(() => {
      this.sync.schedulePump();
    });
    channel.onOverrun(() => {
      this.counters.overruns++;
      this.log.warn('netlink receive buffer overflow: will reconcile with the kernel');
      this.reconciler.soon(500);
    });
  }

  /**
   * Opens the netlink socket (loading the netlink package), checks the tunnel device and the
   * permission, reads what is ours in the kernel and starts following link, route and nexthop
   * events. Throws TunnelDeviceMissingError, KernelPermissionError, KernelUnsupportedError,
   * InvalidArgumentError.
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
    const installer = new KernelRouteInstaller(t, channel, options);
    try {
      t.addMembership(RTNLGRP_LINK);
      if (options.routeEvents !== false) for (const g of ROUTE_GROUPS) t.addMembership(g);
      await installer.start();
    } catch (e) {
      installer.stopTimers();
      installer.sync.close();
      channel.close();
      throw e;
    }
    return installer;
  }

  /** The tunnel device as last seen (index undefined: missing). */
  get device(): Readonly<Device> {
    return this.sync.device;
  }

  // ---- RouteHandler ----

  // The nexthop object a route needs is looked up when it is written (sync.ts), so a burst of
  // changes to one prefix costs one lookup.

  addRoute(vni: Vni, route: Route): void {
    const s = this.stateFor(vni, route, true);
    if (s === undefined) return;
    if (addMember(s, hopHex(route.nextHop.address), memberKey(vni, route, s.prefix)))
      this.sync.mark(s);
  }

  removeRoute(vni: Vni, route: Route): void {
    const s = this.stateFor(vni, route, false);
    if (s === undefined) return;
    if (removeMember(s, hopHex(route.nextHop.address), memberKey(vni, route, s.prefix)))
      this.sync.mark(s);
  }

  // ---- public API ----

  /**
   * Follows a client's re-sync signals: the routes found in a table at start are reconciled once
   * every VNI of that table has re-synced (or the hold time ends).
   */
  attachResync(signals: ResyncSignals): void {
    if (this.sync.closed) return;
    this.detachResync();
    const listener = (e: SyncedEvent): void => {
      this.vniSynced(e.vni);
    };
    this.signals = { s: signals, listener };
    signals.on('synced', listener);
    for (const vni of this.tables.keys()) if (signals.isSynced(vni)) this.vniSynced(vni);
  }

  /** Resolves true when the kernel has acknowledged every change so far (false after timeoutMs). */
  settled(timeoutMs = 30_000): Promise<boolean> {
    return this.sync.settled(timeoutMs);
  }

  /** Our kernel routes: wanted next hops and what the kernel holds. */
  kernelRoutes(): KernelRouteInfo[] {
    const out: KernelRouteInfo[] = [];
    for (const s of this.sync.routes.values()) {
      const k = s.kernel;
      out.push({
        table: s.table,
        destination: `${s.prefix}/${String(s.dstLen)}`,
        nextHops: s.want === undefined ? [] : splitLegs(s.want.key).map(legAddress),
        installed:
          typeof k === 'object' && !k.key.startsWith('!')
            ? splitLegs(k.key).map(legAddress)
            : k === 'none'
              ? undefined
              : [],
        error: s.failed,
      });
    }
    return out;
  }

  /** A full comparison with the kernel now; resolves to the number of repairs it started. */
  async reconcile(): Promise<number> {
    const before = this.counters.repairs;
    await this.reconciler.run();
    await this.sync.settled(30_000);
    return this.counters.repairs - before;
  }

  /**
   * Stops handling routes. With `cleanup`, first removes every protocol-254 route in the
   * configured tables and our nexthop objects (Go MetalBond's --cleanup); otherwise the kernel
   * keeps them for the next start.
   */
  async close(options: { cleanup?: boolean; timeoutMs?: number } = {}): Promise<void> {
    if (this.sync.closed) return;
    this.detachResync();
    this.stopTimers();
    if (options.cleanup === true) {
      const deadline = Date.now() + (options.timeoutMs ?? 10_000);
      const left = (): number => Math.max(0, deadline - Date.now());
      this.hold = new StartupHold(this.tables, false);
      this.dropEverything();
      await this.sync.settled(left());
      // Anything of ours we did not know about (added while we were not looking).
      await this.reconciler.run();
      this.dropEverything();
      await this.sync.settled(left());
    }
    this.sync.close();
    this.channel.close();
    this.log.info({ cleanup: options.cleanup === true }, 'kernel route installer closed');
  }

  // ---- start-up ----

  private set hold(h: StartupHold) {
    this.sync.hold = h;
  }

  private async start(): Promise<void> {
    await this.lookUpDevice();
    await this.checkPermission();
    const hold = this.options.resync?.holdTimeMs ?? this.options.holdTimeMs ?? 0;
    this.hold = new StartupHold(this.tables, hold > 0);
    let found = -1;
    for (let attempt = 0; attempt < 5 && found < 0; attempt++) {
      const r = await readKernel(this.sync, this.tableIds);
      if (r.ok) found = await adoptSnapshot(this.sync, r.snapshot);
      else if (r.errno !== undefined)
        throw new NetlinkError('cannot read the routing tables', r.errno);
    }
    if (found < 0) throw new NetlinkError('cannot read the routing tables', 'EINTR');
    this.counters.ops.dump.ok++;
    this.counters.reconciles++;
    this.sync.ready = true;
    const dev = this.sync.device;
    this.log.info(
      {
        device: dev.name,
        ifindex: dev.index,
        up: dev.up,
        tables: Object.fromEntries(this.tables),
        found,
        holdTimeMs: hold,
      },
      hold > 0
        ? 'kernel routes: routes found are kept until their VNIs re-sync'
        : 'kernel routes: routes found are removed',
    );
    if (!dev.up) this.log.warn({ device: dev.name }, 'tunnel device is down: routes wait for it');
    if (hold > 0) {
      this.holdTimer = setTimeout(() => {
        this.releaseTables(this.sync.hold.releaseAll(), 'hold time ended');
      }, hold);
      this.holdTimer.unref();
    }
    if (this.options.resync !== undefined) this.attachResync(this.options.resync);
    const every = this.options.reconcileIntervalMs ?? 60_000;
    if (every > 0) {
      this.reconcileTimer = setInterval(() => {
        void this.reconciler.run();
      }, every);
      this.reconcileTimer.unref();
    }
    this.sync.pump();
    // Go's behaviour at hold time 0: what was left from before is gone before anything is added.
    if (hold === 0 && !(await this.sync.settled(60_000)))
      this.log.warn('removing the routes found is taking long');
  }

  private lookUpDevice(): Promise<void> {
    return new Promise((resolve, reject) => {
      const seq = this.channel.nextSeq();
      const dev = this.sync.device;
      this.channel.request(
        seq,
        encodeLinkGet(dev.name, seq),
        (errno) => {
          if (errno === 'ENODEV' || (errno === undefined && dev.index === undefined))
            reject(new TunnelDeviceMissingError(dev.name));
          else if (errno !== undefined)
            reject(new NetlinkError('cannot look up the tunnel device', errno));
          else resolve();
        },
        (buf, h) => {
          this.events.linkMessage(buf, h);
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
    if (this.sync.closed) return undefined;
    const table = this.tables.get(vni);
    if (table === undefined) {
      if (adding) this.counters.skippedNoTable++;
      if (!this.warnedVnis.has(vni)) {
        this.warnedVnis.add(vni);
        this.log.warn({ vni }, 'no routing table for this VNI: its routes are not installed');
      }
      return undefined;
    }
    const d = route.destination;
    if (d.family === 6 && this.ipv4Only) {
      if (adding) this.counters.skippedIpv6++;
      return undefined;
    }
    const prefix = maskedPrefix(d);
    let s = this.sync.routes.get(table, d.prefixLength, prefix);
    if (s === undefined) {
      if (!adding) return undefined;
      s = newRouteState(d.family, table, prefix, d.prefixLength);
      this.sync.routes.add(s);
    }
    return s;
  }

  private dropEverything(): void {
    for (const s of this.sync.routes.values()) {
      clearMembers(s);
      setHeld(s, undefined);
      this.sync.mark(s);
    }
  }

  // ---- start-up hold ----

  private vniSynced(vni: Vni): void {
    const table = this.sync.hold.vniSynced(vni);
    if (table !== undefined) this.releaseTables([table], `VNI ${String(vni)} re-synced`);
  }

  private releaseTables(tables: number[], why: string): void {
    if (tables.length === 0 || this.sync.closed) return;
    const set = new Set(tables);
    let kept = 0;
    let removed = 0;
    for (const s of this.sync.routes.values()) {
      if (!set.has(s.table) || s.held === undefined) continue;
      if (memberCount(s) > 0) kept++;
      else removed++;
      setHeld(s, undefined);
      this.sync.mark(s);
    }
    this.counters.staleKept += kept;
    this.counters.staleRemoved += removed;
    this.log.info({ tables, kept, removed, why }, 'kernel routes found at start reconciled');
    if (!this.sync.hold.anyHeld && this.holdTimer !== undefined) {
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
    clearTimeout(this.holdTimer);
    clearInterval(this.reconcileTimer);
    this.reconciler.stop();
    this.holdTimer = undefined;
    this.reconcileTimer = undefined;
  }

  // ---- the kernel's side ----

  /**
   * With many routes to write (start-up, a server's full table), our own changes would come back
   * as one notification each: route and nexthop events are turned off meanwhile and a full
   * reconcile after the backlog catches what others changed in between.
   */
  private bulkMode(queued: number): void {
    if (this.options.routeEvents === false || this.sync.closed) return;
    if (!this.eventsOff && queued >= BULK_BACKLOG) {
      this.eventsOff = true;
      for (const g of ROUTE_GROUPS) this.transport.dropMembership(g);
      this.log.debug({ queued }, 'large backlog: route events off while it is written');
    } else if (this.eventsOff && queued === 0 && this.sync.isSettled()) {
      this.eventsOff = false;
      for (const g of ROUTE_GROUPS) this.transport.addMembership(g);
      this.log.debug('backlog written: route events on, reconciling');
      this.reconciler.soon(0);
    }
  }
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
