/**
 * What the kernel tells the installer: link events (the tunnel device down, up, gone, re-created)
 * and changes others make to our routes and nexthop objects. Our own changes come back with our
 * sequence numbers and never reach here (see channel.ts).
 */

import type { NetlinkChannel } from './channel.js';
import {
  IFF_UP,
  METALBOND_RT_PROTO,
  RTM_DELLINK,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_NEWLINK,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
} from './constants.js';
import {
  decodeLink,
  decodeNexthop,
  decodeRoute,
  routeProtocol,
  type MessageHeader,
} from './decode.js';
import { encodeLinkGet } from './encode.js';
import { isOurRoute, nonDefaultPriority } from './reconcile.js';
import { foundLegs, foundRouteState, memberCount, setHeld } from './route-state.js';
import { formatIP } from '../model/ip.js';
import type { KernelSync } from './sync.js';
import type { Logger } from '../log.js';

export class KernelEvents {
  constructor(
    private readonly sync: KernelSync,
    private readonly channel: NetlinkChannel,
    private readonly tableIds: ReadonlySet<number>,
    private readonly log: Logger,
    /** Asks for a full comparison with the kernel soon. */
    private readonly reconcileSoon: (delayMs: number) => void,
  ) {}

  notification(buf: Buffer, h: MessageHeader): void {
    if (this.sync.closed) return;
    if (h.type === RTM_NEWLINK || h.type === RTM_DELLINK) this.linkMessage(buf, h);
    else if (!this.sync.ready) return;
    else if (h.type === RTM_NEWROUTE || h.type === RTM_DELROUTE) this.routeMessage(buf, h);
    else if (h.type === RTM_NEWNEXTHOP || h.type === RTM_DELNEXTHOP) {
      // Someone else changed nexthop objects: if ours, compare everything shortly.
      const nh = decodeNexthop(buf, h);
      if (nh !== undefined && (nh.protocol === METALBOND_RT_PROTO || this.sync.objects.get(nh.id)))
        this.reconcileSoon(200);
    }
  }

  /** A route of ours changed or deleted by someone else. */
  private routeMessage(buf: Buffer, h: MessageHeader): void {
    if (routeProtocol(buf, h) !== METALBOND_RT_PROTO) return;
    const r = decodeRoute(buf, h);
    if (r === undefined || !isOurRoute(r, this.tableIds)) return;
    const priority = nonDefaultPriority(r.family, r.priority);
    let s = this.sync.routes.get(r.table, r.dstLen, formatIP(r.dst), priority);
    if ((s?.inFlight ?? 0) !== 0) return;
    if (h.type === RTM_DELROUTE) {
      if (s === undefined || s.kernel === 'none') return;
      this.sync.setKernel(s, 'none');
      this.sync.updateWant(s);
      if (s.want !== undefined) this.sync.repair(s, 'deleted');
      else this.sync.forgetIfIdle(s);
      return;
    }
    const k = (r.nhid === undefined ? undefined : this.sync.objects.get(r.nhid)) ?? 'other';
    if (s === undefined) {
      s = foundRouteState(r.family, r.table, r.dst, r.dstLen, priority);
      this.sync.routes.add(s);
      if (this.sync.hold.isHeld(s.table)) setHeld(s, typeof k === 'object' ? k.key : foundLegs(r));
    }
    if (s.kernel === k) return;
    this.sync.setKernel(s, k);
    if (!this.sync.isCorrect(s)) this.sync.repair(s, memberCount(s) > 0 ? 'changed' : 'foreign');
  }

  linkMessage(buf: Buffer, h: MessageHeader): void {
    const link = decodeLink(buf, h);
    if (link === undefined) return;
    const dev = this.sync.device;
    const ours = link.name === dev.name || (link.name === undefined && link.index === dev.index);
    if (h.type === RTM_DELLINK || !ours) {
      // Deleted, or renamed away: the kernel dropped everything through it.
      if (link.index === dev.index) {
        dev.index = undefined;
        dev.up = false;
        if (this.sync.ready) {
          this.log.warn({ device: dev.name }, 'tunnel device gone: routes wait for it');
          this.sync.deviceLost();
        }
      }
      return;
    }
    const recreated = dev.index !== undefined && dev.index !== link.index;
    const wasReady = this.sync.deviceReady;
    if (recreated && this.sync.ready) this.sync.deviceLost();
    dev.index = link.index;
    dev.up = (link.flags & IFF_UP) !== 0;
    if (!this.sync.ready) return;
    if (wasReady && !dev.up) {
      this.log.warn({ device: dev.name }, 'tunnel device down: routes wait for it');
      this.sync.deviceLost();
    } else if (dev.up && (!wasReady || recreated)) {
      const n = this.sync.deviceBack();
      this.log.info(
        { device: dev.name, ifindex: dev.index, routes: n },
        'tunnel device up: installing routes',
      );
    }
    this.sync.schedulePump();
  }

  recheckDevice(): void {
    if (this.sync.closed) return;
    const seq = this.channel.nextSeq();
    const dev = this.sync.device;
    this.channel.request(
      seq,
      encodeLinkGet(dev.name, seq),
      (errno) => {
        if (errno === 'ENODEV' && dev.index !== undefined) {
          dev.index = undefined;
          this.sync.deviceLost();
        }
      },
      (b, hh) => {
        this.linkMessage(b, hh);
      },
    );
    this.sync.schedulePump();
  }
}
