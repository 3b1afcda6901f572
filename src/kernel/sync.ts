/**
 * The installer's engine: desired state per kernel route, the nexthop objects it needs, and the
 * requests that bring the kernel there. Writes are queued per route and sent in batches, several
 * in flight, one request in flight per route at a time, each acknowledged; a route always gets its
 * latest desired state. Objects are created (and acknowledged) before a route uses them and
 * deleted only when nothing uses them any more.
 */

import { NetlinkChannel } from './channel.js';
import { ROUTE_MESSAGE_MAX, writeRouteDelete, writeRouteReplace } from './encode.js';
import { StartupHold } from './hold.js';
import { NexthopRegistry, type NhObject } from './nexthops.js';
import { DEVICE_TROUBLE, TRANSIENT } from './constants.js';
import { Fifo } from './fifo.js';
import { ObjectWriter } from './objects.js';
import { RetryScheduler } from './retry.js';
import {
  describeRoute,
  desiredLegs,
  legAddress,
  splitLegs,
  type KernelRouteState,
  type KernelSide,
} from './route-state.js';
import { RouteStates } from './route-table.js';
import type { KernelCounters, RepairReason } from './types.js';
import type { Logger } from '../log.js';

/** Work per event-loop turn, ms (the kernel's share included: it runs inside send()). */
const PUMP_BUDGET_MS = 8;

export interface Device {
  readonly name: string;
  index: number | undefined;
  up: boolean;
}

export interface SyncOptions {
  readonly retryMinMs: number;
  readonly retryMaxMs: number;
  /** Looks the device up again (after ENODEV / ENETDOWN). */
  readonly recheckDevice: () => void;
  /** Called before and after each pump turn with the number of routes queued. */
  readonly pumped?: (queued: number) => void;
}

export class KernelSync {
  readonly routes = new RouteStates();
  readonly objects = new NexthopRegistry();
  hold: StartupHold;
  /** Incremented when the device is lost: answers to older requests describe a kernel state gone. */
  epoch = 0;
  /** Number of requests sent that change something (routes written since a dump began are skipped). */
  writes = 0;
  ready = false;
  closed = false;
  /** A dump is running (settled() waits for it). */
  reading = false;
  /** Routes to look at (each once: `queued`), oldest first. */
  private readonly queue = new Fifo<KernelRouteState>();
  /** Objects that may have become unused (each once: `collected`). */
  private readonly unused = new Fifo<NhObject>();
  private readonly repairOf = new Map<KernelRouteState, RepairReason>();
  private readonly routeRetry: RetryScheduler<KernelRouteState>;
  readonly objectWriter: ObjectWriter;
  private readonly settleWaiters: (() => void)[] = [];
  private pumpScheduled = false;

  constructor(
    readonly channel: NetlinkChannel,
    readonly device: Device,
    readonly counters: KernelCounters,
    readonly log: Logger,
    private readonly options: SyncOptions,
    tables: ReadonlyMap<number, number>,
  ) {
    this.hold = new StartupHold(tables, false);
    this.routeRetry = new RetryScheduler(options.retryMinMs, options.retryMaxMs, (items) => {
      for (const s of items) this.mark(s);
    });
    this.objectWriter = new ObjectWriter(this, options.retryMinMs, options.retryMaxMs, () => {
      options.recheckDevice();
    });
  }

  get deviceReady(): boolean {
    return this.device.index !== undefined && this.device.up;
  }

  // ---- desired state ----

  /** Brings `want` in line with the route's desired legs; true if it changed. */
  updateWant(s: KernelRouteState): boolean {
    const old = s.want;
    if (!s.legsChanged && old?.retired !== true) return false;
    s.legsChanged = false;
    const legs = desiredLegs(s, this.hold.isHeld(s.table));
    if (old !== undefined && !old.retired && old.key === legs) return false;
    if (old === undefined && legs === undefined) return false;
    s.want = legs === undefined ? undefined : this.objects.acquire(legs);
    if (old !== undefined) {
      this.objects.release(old);
      this.collect(old);
    }
    return true;
  }

  /** Whether the kernel holds what the route should be (refreshes its wanted object first). */
  isCorrect(s: KernelRouteState): boolean {
    this.updateWant(s);
    return s.want === undefined
      ? s.kernel === 'none'
      : s.kernel === s.want && s.want.state === 'present';
  }

  /** Records what the kernel holds for a route (keeps the objects' kernel counts). */
  setKernel(s: KernelRouteState, k: KernelSide): void {
    const old = s.kernel;
    if (old === k) return;
    if ((old === 'none') !== (k === 'none')) this.counters.routesInstalled += k === 'none' ? -1 : 1;
    if (typeof old === 'object') {
      old.kernelUsers--;
      this.collect(old);
    }
    if (typeof k === 'object') k.kernelUsers++;
    s.kernel = k;
  }

  mark(s: KernelRouteState): void {
    if (this.closed || s.queued) return;
    s.queued = true;
    this.queue.push(s);
    this.schedulePump();
  }

  repair(s: KernelRouteState, reason: RepairReason): void {
    this.repairOf.set(s, reason);
    this.mark(s);
  }

  /** An object that may have become unused. */
  collect(o: NhObject): void {
    if (!o.collected) {
      o.collected = true;
      this.unused.push(o);
    }
    this.schedulePump();
  }

  forgetIfIdle(s: KernelRouteState): void {
    if (
      s.members.length === 0 &&
      s.held === undefined &&
      s.want === undefined &&
      s.kernel === 'none' &&
      s.inFlight === 0 &&
      !s.queued &&
      !this.routeRetry.isWaiting(s)
    ) {
      this.routes.remove(s);
      this.repairOf.delete(s);
    }
  }

  // ---- writes ----

  schedulePump(): void {
    if (this.pumpScheduled || this.closed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private needsWrite(s: KernelRouteState): boolean {
    if (this.isCorrect(s)) return false;
    if (s.failed !== undefined && s.failedFor === s.want) return false;
    return s.want === undefined || this.deviceReady;
  }

  pump(): void {
    if (!this.ready || this.closed) return;
    this.options.pumped?.(this.queue.length);
    // Each datagram runs in the kernel inside the send call, on this thread: stop after a time
    // budget and go on in the next turn, so the event loop never waits long.
    const deadline = performance.now() + PUMP_BUDGET_MS;
    // One pass over the routes queued now: one with a request in flight goes to the back.
    const pass = this.queue.length;
    for (let n = 1; n <= pass; n++) {
      if (this.channel.room === 0) break;
      if (n % 64 === 0 && performance.now() > deadline) {
        this.schedulePump();
        break;
      }
      const s = this.queue.shift();
      if (s === undefined) break;
      if (!this.needsWrite(s)) {
        // Nothing to write: already so, refused as it is, or waiting for the device (which
        // queues every route again when it comes up).
        s.queued = false;
        this.forgetIfIdle(s);
        continue;
      }
      if (s.inFlight !== 0) {
        this.queue.push(s);
        continue;
      }
      const o = s.want;
      s.queued = false;
      if (o !== undefined && o.state !== 'present') {
        this.objectWriter.ensure(o);
        o.onReady.push((ok) => {
          if (ok) this.mark(s);
          else if (s.want === o) this.refused(s, o.failed ?? 'EINVAL', o);
        });
        continue;
      }
      this.sendRoute(s, o);
    }
    for (let left = this.unused.length; left > 0; left--) {
      if (this.channel.room === 0) break;
      const o = this.unused.shift();
      if (o === undefined) break;
      o.collected = false;
      if (this.objects.deletable(o) && this.deviceReady) this.objectWriter.delete(o);
      else if (o.users === 0 && o.kernelUsers === 0 && o.state === 'absent')
        for (const m of this.objects.forget(o)) this.collect(m);
    }
    this.channel.flush();
    this.counters.datagrams = this.channel.datagramsSent;
    this.wakeSettled();
    this.options.pumped?.(this.queue.length);
  }

  private sendRoute(s: KernelRouteState, o: NhObject | undefined): void {
    // Written straight into the datagram being filled.
    const ch = this.channel;
    const seq = ch.nextSeq();
    const off = ch.reserve(ROUTE_MESSAGE_MAX);
    const len =
      o === undefined
        ? writeRouteDelete(ch.buffer, off, s.family, s.table, s.prefix, s.dstLen, s.priority, seq)
        : writeRouteReplace(ch.buffer, off, s.family, s.table, s.prefix, s.dstLen, o.id, seq);
    s.inFlight = seq;
    s.sentAt = ++this.writes;
    const epoch = this.epoch;
    ch.commit(seq, len, (errno) => {
      this.routeDone(s, seq, o, epoch, errno);
    });
  }

  private routeDone(
    s: KernelRouteState,
    seq: number,
    sent: NhObject | undefined,
    epoch: number,
    errno: string | undefined,
  ): void {
    if (s.inFlight === seq) s.inFlight = 0;
    // The device went away meanwhile (all was reset), or we are closed.
    if (epoch !== this.epoch || this.closed) return;
    const op = sent === undefined ? this.counters.ops.delete : this.counters.ops.replace;
    if (errno === undefined || (sent === undefined && errno === 'ESRCH')) {
      // ESRCH on a delete: already gone, which is what we wanted.
      op.ok++;
      this.setKernel(s, sent ?? 'none');
      s.failed = undefined;
      s.failedFor = undefined;
      this.routeRetry.succeeded(s);
      const reason = this.repairOf.get(s);
      if (reason !== undefined) {
        this.repairOf.delete(s);
        this.counters.repairs++;
        this.counters.repairsByReason[reason]++;
      }
    } else {
      op.error++;
      this.countError(errno);
      if (errno === 'ENOBUFS') this.setKernel(s, 'unknown');
      if (TRANSIENT.has(errno) || DEVICE_TROUBLE.has(errno)) {
        this.counters.retries++;
        if (DEVICE_TROUBLE.has(errno)) this.options.recheckDevice();
        this.routeRetry.schedule(s);
      } else {
        this.refused(s, errno, sent);
      }
    }
    if (!this.routeRetry.isWaiting(s) && !this.isCorrect(s)) this.mark(s);
    this.forgetIfIdle(s);
    this.schedulePump();
  }

  private refused(s: KernelRouteState, errno: string, sent: NhObject | undefined): void {
    if (s.failed !== errno) {
      this.log.warn(
        {
          errno,
          route: describeRoute(s),
          nextHops: sent === undefined ? [] : splitLegs(sent.key).map(legAddress),
          op: sent === undefined ? 'delete' : 'replace',
        },
        'kernel refused route',
      );
    }
    s.failed = errno;
    s.failedFor = sent;
  }

  /** Counts a request that changes the kernel; returns the count. */
  nextWrite(): number {
    return ++this.writes;
  }

  countError(errno: string): void {
    this.counters.errorsByErrno[errno] = (this.counters.errorsByErrno[errno] ?? 0) + 1;
  }

  // ---- the device ----

  /** The kernel dropped every object and route through the device (down, deleted, re-created). */
  deviceLost(): void {
    this.epoch++;
    for (const o of this.objects.all()) {
      o.state = 'absent';
      o.seq = 0;
      o.kernelUsers = 0;
      o.onReady = [];
      o.failed = undefined;
      this.collect(o);
    }
    for (const s of this.routes.values()) {
      if (s.kernel !== 'none') this.counters.routesInstalled--;
      s.kernel = 'none';
      s.inFlight = 0;
      s.failed = undefined;
      s.failedFor = undefined;
    }
  }

  /** The device is (again) up: every route that should be there is written. */
  deviceBack(): number {
    let n = 0;
    for (const s of this.routes.values()) {
      if (!this.isCorrect(s)) {
        if (s.want !== undefined) n++;
        if (s.want !== undefined) this.repair(s, 'device');
        else this.mark(s);
      }
    }
    return n;
  }

  // ---- settling ----

  isSettled(): boolean {
    if (this.closed) return true;
    if (this.channel.inFlight > 0 || this.reading) return false;
    if (this.routeRetry.size > 0 || this.objectWriter.retry.size > 0) return false;
    for (const s of this.queue) if (this.needsWrite(s)) return false;
    if (!this.deviceReady) return true;
    for (const o of this.unused) if (this.objects.deletable(o)) return false;
    return true;
  }

  settled(timeoutMs: number): Promise<boolean> {
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

  wakeSettled(): void {
    if (this.settleWaiters.length === 0 || !this.isSettled()) return;
    for (const w of this.settleWaiters.splice(0)) w();
  }

  close(): void {
    this.closed = true;
    this.routeRetry.clear();
    this.objectWriter.retry.clear();
    this.wakeSettled();
  }
}
