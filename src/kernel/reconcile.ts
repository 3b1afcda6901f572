/**
 * Reading the kernel and comparing it with the installer's state: at start (what is found becomes
 * the known state and, while its table is held, part of the desired one) and periodically (what
 * differs is put right and counted as a repair). Ours are the protocol-254 nexthop objects and the
 * protocol-254 routes in the configured tables; nothing else is ever changed.
 */

import {
  AF_INET6,
  LWTUNNEL_ENCAP_IP6,
  METALBOND_RT_PROTO,
  RTM_F_CLONED,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
} from './constants.js';
import {
  decodeNexthop,
  decodeRoute,
  routeProtocol,
  type DecodedNexthop,
  type DecodedRoute,
} from './decode.js';
import { encodeNexthopDump, encodeRouteDump } from './encode.js';
import type { NhObject } from './nexthops.js';
import {
  foundLegs,
  memberCount,
  newRouteState,
  setHeld,
  toHex,
  type KernelRouteState,
  type KernelSide,
} from './route-state.js';
import { RouteMap } from './route-table.js';
import type { KernelSync } from './sync.js';
import { formatIP } from '../model/ip.js';
import { IPV4_DEFAULT_PRIORITY, IPV6_DEFAULT_PRIORITY } from './constants.js';

/** A route of ours found in the kernel, with the key parts it is filed under. */
export interface FoundRoute {
  readonly route: DecodedRoute;
  /** Destination text. */
  readonly prefix: string;
  /** Metric, when not the kernel's default. */
  readonly priority: number | undefined;
}

export interface KernelSnapshot {
  /** Every nexthop object, ours or not. */
  readonly nexthops: Map<number, DecodedNexthop>;
  /** Our routes (protocol 254, configured tables). */
  readonly routes: RouteMap<FoundRoute>;
}

export type ReadResult =
  | { readonly ok: true; readonly snapshot: KernelSnapshot }
  | { readonly ok: false; readonly errno: string | undefined };

export function nonDefaultPriority(
  family: 4 | 6,
  priority: number | undefined,
): number | undefined {
  const def = family === 4 ? IPV4_DEFAULT_PRIORITY : IPV6_DEFAULT_PRIORITY;
  return priority === undefined || priority === def ? undefined : priority;
}

/** A route found in the kernel with its key parts. */
export function foundRoute(r: DecodedRoute): FoundRoute {
  return { route: r, prefix: formatIP(r.dst), priority: nonDefaultPriority(r.family, r.priority) };
}

/** Whether a route message is one of ours: protocol 254, a configured table, not a cache entry. */
export function isOurRoute(r: DecodedRoute, tableIds: ReadonlySet<number>): boolean {
  return (
    r.protocol === METALBOND_RT_PROTO && tableIds.has(r.table) && (r.flags & RTM_F_CLONED) === 0
  );
}

/** Dumps the nexthop objects, then the routes. Fails (ok: false) on an error or an inconsistent dump. */
export async function readKernel(
  sync: KernelSync,
  tableIds: ReadonlySet<number>,
): Promise<ReadResult> {
  const nexthops = new Map<number, DecodedNexthop>();
  const routes = new RouteMap<FoundRoute>();
  sync.reading = true;
  try {
    let seq = sync.channel.nextSeq();
    const a = await sync.channel.dump(seq, encodeNexthopDump(seq), (buf, h) => {
      if (h.type !== RTM_NEWNEXTHOP) return;
      const nh = decodeNexthop(buf, h);
      if (nh !== undefined) nexthops.set(nh.id, nh);
    });
    // No nexthop support in this kernel answers EOPNOTSUPP/EINVAL: then there are none to read.
    if (
      a.interrupted ||
      (a.errno !== undefined && a.errno !== 'EOPNOTSUPP' && a.errno !== 'EINVAL')
    )
      return { ok: false, errno: a.errno };
    seq = sync.channel.nextSeq();
    const b = await sync.channel.dump(seq, encodeRouteDump(seq), (buf, h) => {
      if (h.type !== RTM_NEWROUTE || routeProtocol(buf, h) !== METALBOND_RT_PROTO) return;
      const r = decodeRoute(buf, h);
      if (r === undefined || !isOurRoute(r, tableIds)) return;
      const f = foundRoute(r);
      routes.set(r.table, r.dstLen, f.prefix, f.priority, f);
    });
    if (b.interrupted || b.errno !== undefined) return { ok: false, errno: b.errno };
    return { ok: true, snapshot: { nexthops, routes } };
  } finally {
    sync.reading = false;
  }
}

function hopKey(nh: DecodedNexthop, ifindex: number): string | undefined {
  const ok =
    nh.family === AF_INET6 &&
    nh.oif === ifindex &&
    nh.encapType === LWTUNNEL_ENCAP_IP6 &&
    nh.gateway === undefined &&
    !nh.blackhole;
  return ok && nh.encapDst !== undefined ? toHex(nh.encapDst) : undefined;
}

/** Key and members of a group of our hops, or undefined if it is not one tsbond would write. */
function groupShape(
  nh: DecodedNexthop,
  sync: KernelSync,
): { key: string; members: NhObject[] } | undefined {
  const members: NhObject[] = [];
  for (const id of nh.group ?? []) {
    const m = sync.objects.get(id);
    if (m === undefined || m.members.length > 0 || m.key.startsWith('!')) return undefined;
    members.push(m);
  }
  members.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0));
  const key = members.map((m) => m.key).join(',');
  if (members.length < 2 || new Set(members.map((m) => m.key)).size !== members.length)
    return undefined;
  return { key, members };
}

/**
 * Takes in our nexthop objects found in the kernel that the registry does not know (all of them
 * at start): the well-formed ones become the objects for their next hops (or retired duplicates),
 * the rest are kept as retired objects, deleted once no route uses them. Others' ids are avoided.
 */
async function adoptObjects(sync: KernelSync, snap: KernelSnapshot): Promise<void> {
  const ifindex = sync.device.index ?? -1;
  const fresh = [...snap.nexthops.values()].filter((nh) => sync.objects.get(nh.id) === undefined);
  for (const nh of fresh) if (nh.protocol !== METALBOND_RT_PROTO) sync.objects.markTaken(nh.id);
  const ours = fresh.filter((nh) => nh.protocol === METALBOND_RT_PROTO);
  await sliced(ours, (nh) => {
    if (nh.group !== undefined) return;
    const key = hopKey(nh, ifindex);
    const o = sync.objects.adopt(nh.id, key ?? `!${String(nh.id)}`, []);
    if (key === undefined) sync.objects.retire(o);
  });
  await sliced(ours, (nh) => {
    if (nh.group === undefined) return;
    const shape = groupShape(nh, sync);
    const members = shape?.members ?? [];
    const o = sync.objects.adopt(nh.id, shape?.key ?? `!${String(nh.id)}`, members);
    if (shape === undefined) sync.objects.retire(o);
  });
}

function kernelSideOf(sync: KernelSync, r: DecodedRoute | undefined): KernelSide {
  if (r === undefined) return 'none';
  const o = r.nhid === undefined ? undefined : sync.objects.get(r.nhid);
  return o ?? 'other';
}

/** The legs of a route found in the kernel (its object's, or those expanded in the dump). */
function legsOf(k: KernelSide, r: DecodedRoute): string | undefined {
  return typeof k === 'object' && !k.key.startsWith('!') ? k.key : foundLegs(r);
}

function takeInRoute(sync: KernelSync, f: FoundRoute): KernelRouteState {
  const r = f.route;
  const s = newRouteState(r.family, r.table, f.prefix, r.dstLen, f.priority);
  sync.routes.add(s);
  const k = kernelSideOf(sync, r);
  sync.setKernel(s, k);
  if (sync.hold.isHeld(s.table)) setHeld(s, legsOf(k, r));
  sync.updateWant(s);
  return s;
}

/** Start: what is found becomes the known state; with the tables held, the desired state too. */
export async function adoptSnapshot(sync: KernelSync, snap: KernelSnapshot): Promise<number> {
  await adoptObjects(sync, snap);
  await sliced(snap.routes.values(), (f) => {
    const s = takeInRoute(sync, f);
    if (s.held === undefined) sync.counters.staleRemoved++;
    sync.mark(s);
  });
  await sliced(sync.objects.all(), (o) => {
    sync.collect(o);
  });
  return snap.routes.size;
}

function sameObject(o: NhObject, nh: DecodedNexthop, ifindex: number): boolean {
  if (o.members.length === 0) return nh.group === undefined && hopKey(nh, ifindex) === o.key;
  const ids = new Set(nh.group ?? []);
  return ids.size === o.members.length && o.members.every((m) => ids.has(m.id));
}

/**
 * Periodic: objects and routes that differ from what we believe are corrected, skipping those
 * written since the dump began (the dump may predate the write). Returns the repairs started, or
 * undefined when the device went away meanwhile. Works in slices: the event loop keeps running.
 */
export async function compareSnapshot(
  sync: KernelSync,
  snap: KernelSnapshot,
  startWrites: number,
): Promise<number | undefined> {
  const ifindex = sync.device.index ?? -1;
  const epoch = sync.epoch;
  let repaired = 0;
  await sliced([...sync.objects.all()], (o) => {
    if (o.seq !== 0 || o.sentAt > startWrites || o.state !== 'present') return;
    const nh = snap.nexthops.get(o.id);
    if (nh === undefined) {
      sync.objectWriter.gone(o);
    } else if (!sameObject(o, nh, ifindex)) {
      // Changed behind our back (e.g. a member deleted shrinks a group): routes move to a fresh one.
      sync.objects.retire(o);
      for (const s of sync.routes.values()) {
        if (s.want === o && sync.updateWant(s)) {
          sync.repair(s, 'changed');
          repaired++;
        }
      }
    }
  });
  await adoptObjects(sync, snap);
  await sliced(sync.routes.values(), (s) => {
    // Taken out of the snapshot: what is left there after this pass is unknown to us.
    const f = snap.routes.get(s.table, s.dstLen, s.prefix, s.priority);
    if (f !== undefined) snap.routes.delete(s.table, s.dstLen, s.prefix, s.priority);
    // Written since the dump began (the dump may predate the write), or the device went away.
    if (s.inFlight !== 0 || s.sentAt > startWrites || sync.epoch !== epoch) return;
    const k = kernelSideOf(sync, f?.route);
    if (k === s.kernel) return;
    const wasUnknown = s.kernel === 'unknown';
    sync.setKernel(s, k);
    if (sync.isCorrect(s) || (s.failed !== undefined && s.failedFor === s.want)) return;
    if (wasUnknown || (s.want !== undefined && !sync.deviceReady)) {
      sync.mark(s); // our own lost acknowledgement, or waiting for the device: not a repair
      return;
    }
    sync.repair(s, k === 'none' ? 'missing' : memberCount(s) > 0 ? 'changed' : 'foreign');
    repaired++;
  });
  if (sync.epoch !== epoch) return undefined;
  // Ours by protocol and table, but unknown to us (added behind our back).
  await sliced(snap.routes.values(), (f) => {
    const r = f.route;
    if (sync.routes.get(r.table, r.dstLen, f.prefix, f.priority) !== undefined) return;
    const s = takeInRoute(sync, f);
    if (s.held === undefined) {
      sync.repair(s, 'foreign');
      repaired++;
    }
  });
  await sliced(sync.objects.all(), (o) => {
    sync.collect(o);
  });
  return repaired;
}

/** Items processed between two event-loop turns by the comparisons (a million routes each). */
const SLICE = 2000;

/** Runs `fn` over the items, letting the event loop run every SLICE items. */
async function sliced<T>(items: Iterable<T>, fn: (item: T) => void): Promise<void> {
  let n = 0;
  for (const item of items) {
    fn(item);
    if (++n % SLICE === 0)
      await new Promise<void>((resolve) => {
        setImmediate(resolve);
      });
  }
}

/** Full comparisons with the kernel, one at a time; a failed or inconsistent dump is retried. */
export class Reconciler {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<boolean> | undefined;

  constructor(
    private readonly sync: KernelSync,
    private readonly tableIds: ReadonlySet<number>,
  ) {}

  /** One soon (several asks before it runs make one). */
  soon(delayMs: number): void {
    if (this.timer !== undefined || this.sync.closed) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delayMs);
    this.timer.unref();
  }

  /** One now (or the one running); resolves false if the dump failed. */
  run(): Promise<boolean> {
    if (this.sync.closed || !this.sync.ready) return Promise.resolve(false);
    this.running ??= this.once().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async once(): Promise<boolean> {
    const sync = this.sync;
    const startWrites = sync.writes;
    const r = await readKernel(sync, this.tableIds);
    if (sync.closed) return false;
    if (!r.ok) {
      sync.counters.ops.dump.error++;
      if (r.errno !== undefined) sync.countError(r.errno);
      sync.log.debug({ errno: r.errno }, 'kernel dump failed or inconsistent, will retry');
      this.soon(2000);
      sync.wakeSettled();
      return false;
    }
    sync.counters.ops.dump.ok++;
    sync.counters.reconciles++;
    const repaired = await compareSnapshot(sync, r.snapshot, startWrites);
    if (repaired === undefined) {
      this.soon(1000); // the device went away meanwhile: compare again later
      return false;
    }
    if (repaired > 0)
      sync.log.info({ repaired }, 'reconcile: routes differing from the kernel rewritten');
    sync.schedulePump();
    return true;
  }
}
