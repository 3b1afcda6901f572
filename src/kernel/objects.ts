/**
 * Creating and deleting nexthop objects in the kernel (the bookkeeping is in nexthops.ts): a group
 * waits for its members, routes wait (onReady) for their object, an id found taken is replaced,
 * transient errors are retried with back-off.
 */

import { encodeNexthopCreate, encodeNexthopDelete, encodeNexthopGroupCreate } from './encode.js';
import type { NhObject } from './nexthops.js';
import { RetryScheduler } from './retry.js';
import { fromHex, legAddress, splitLegs } from './route-state.js';
import { DEVICE_TROUBLE, TRANSIENT } from './constants.js';
import type { KernelSync } from './sync.js';

export class ObjectWriter {
  readonly retry: RetryScheduler<NhObject>;

  constructor(
    private readonly sync: KernelSync,
    retryMinMs: number,
    retryMaxMs: number,
    private readonly recheckDevice: () => void,
  ) {
    // A creation is retried by ensure(), a deletion by the pump (collect).
    this.retry = new RetryScheduler(retryMinMs, retryMaxMs, (items) => {
      for (const o of items) {
        this.ensure(o);
        sync.collect(o);
      }
      sync.schedulePump();
    });
  }

  /** Creates an object in the kernel (its members first) unless it is there or on its way. */
  ensure(o: NhObject): void {
    if (o.state !== 'absent' || !this.sync.deviceReady || this.sync.closed) return;
    if (o.users === 0) {
      this.sync.collect(o);
      return;
    }
    const missing = o.members.find((m) => m.state !== 'present');
    if (missing !== undefined) {
      o.state = 'waiting';
      this.ensure(missing);
      missing.onReady.push((ok) => {
        if (o.state !== 'waiting') return;
        o.state = 'absent';
        if (ok) this.ensure(o);
        else this.objectFailed(o, missing.failed ?? 'EINVAL');
      });
      return;
    }
    const seq = this.sync.channel.nextSeq();
    const ifindex = this.sync.device.index ?? 0;
    const message =
      o.members.length === 0
        ? encodeNexthopCreate(o.id, fromHex(o.key), ifindex, seq)
        : encodeNexthopGroupCreate(
            o.id,
            o.members.map((m) => m.id),
            seq,
          );
    o.state = 'creating';
    o.seq = seq;
    o.sentAt = this.sync.nextWrite();
    const epoch = this.sync.epoch;
    this.sync.channel.request(seq, message, (errno) => {
      this.createDone(o, seq, epoch, errno);
    });
  }

  private createDone(o: NhObject, seq: number, epoch: number, errno: string | undefined): void {
    if (o.seq !== seq || epoch !== this.sync.epoch || this.sync.closed) return;
    o.seq = 0;
    // EEXIST after a creation whose acknowledgement was lost: that creation worked.
    if (errno === undefined || (errno === 'EEXIST' && o.maybeCreated)) {
      this.sync.counters.ops.nexthop.ok++;
      o.maybeCreated = false;
      o.state = 'present';
      o.failed = undefined;
      for (const m of o.members) m.kernelUsers++;
      this.retry.succeeded(o);
      this.fireReady(o, true);
      this.sync.collect(o);
      return;
    }
    this.sync.counters.ops.nexthop.error++;
    this.sync.countError(errno);
    o.state = 'absent';
    o.maybeCreated = errno === 'ENOBUFS';
    if (errno === 'EEXIST') {
      // The id is taken by someone else: take another.
      this.sync.objects.reassign(o);
      this.ensure(o);
    } else if (TRANSIENT.has(errno) || DEVICE_TROUBLE.has(errno)) {
      this.sync.counters.retries++;
      if (DEVICE_TROUBLE.has(errno)) this.recheckDevice();
      this.retry.schedule(o);
    } else {
      this.objectFailed(o, errno);
    }
    this.sync.schedulePump();
  }

  private objectFailed(o: NhObject, errno: string): void {
    if (o.failed !== errno) {
      this.sync.log.warn(
        { errno, nextHops: splitLegs(o.key).map(legAddress), id: o.id },
        'kernel refused nexthop object',
      );
    }
    o.failed = errno;
    this.fireReady(o, false);
  }

  private fireReady(o: NhObject, ok: boolean): void {
    const callbacks = o.onReady;
    o.onReady = [];
    for (const cb of callbacks) cb(ok);
  }

  delete(o: NhObject): void {
    const seq = this.sync.channel.nextSeq();
    o.state = 'deleting';
    o.seq = seq;
    o.sentAt = this.sync.nextWrite();
    const epoch = this.sync.epoch;
    this.sync.channel.request(seq, encodeNexthopDelete(o.id, seq), (errno) => {
      if (o.seq !== seq || epoch !== this.sync.epoch || this.sync.closed) return;
      o.seq = 0;
      if (errno === undefined || errno === 'ENOENT') {
        this.sync.counters.ops.nexthop.ok++;
        this.gone(o);
      } else {
        this.sync.counters.ops.nexthop.error++;
        this.sync.countError(errno);
        o.state = 'present';
        if (TRANSIENT.has(errno)) this.retry.schedule(o);
        else this.sync.log.warn({ errno, id: o.id }, 'kernel refused to delete nexthop object');
      }
      this.sync.schedulePump();
    });
  }

  /** The kernel no longer holds the object. */
  gone(o: NhObject): void {
    if (o.state === 'present' || o.state === 'deleting')
      for (const m of o.members) {
        m.kernelUsers--;
        this.sync.collect(m);
      }
    o.state = 'absent';
    // Routes the kernel refused while it was missing may work once it is back.
    for (const s of this.sync.routes.values()) {
      if (s.failedFor === o) {
        s.failed = undefined;
        s.failedFor = undefined;
        this.sync.mark(s);
      }
    }
    if (o.users > 0) this.ensure(o);
    else this.sync.collect(o);
  }
}
