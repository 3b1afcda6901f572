/**
 * A NetlinkTransport that plays the kernel for unit tests: it decodes tsbond's requests with the
 * project's own decoders, keeps nexthop objects and routes, answers asynchronously (ack or errno)
 * and can be told to fail chosen requests. Enough of rtnetlink for the installer: link lookup,
 * permission probe, dumps, route and nexthop create/replace/delete.
 */

import { constants as osConstants } from 'node:os';

import {
  NLMSG_DONE,
  NLMSG_ERROR,
  NLMSG_HDRLEN,
  NLM_F_MULTI,
  RTM_DELNEXTHOP,
  RTM_DELROUTE,
  RTM_GETLINK,
  RTM_GETNEXTHOP,
  RTM_GETROUTE,
  RTM_NEWLINK,
  RTM_NEWNEXTHOP,
  RTM_NEWROUTE,
  RTMSG_LEN,
} from '../../src/kernel/constants.js';
import {
  decodeNexthop,
  decodeRoute,
  forEachMessage,
  type MessageHeader,
} from '../../src/kernel/decode.js';
import type { NetlinkTransport } from '../../src/kernel/transport.js';

export interface FakeRequest {
  readonly type: number;
  readonly seq: number;
  /** Route or nexthop id, e.g. `route 100 0a000100/24` or `nh 1296171009`. */
  readonly key: string;
  readonly bytes: Buffer;
}

type Failure = (r: FakeRequest) => string | undefined;

function errnoOf(name: string): number {
  const n = (osConstants.errno as Record<string, number | undefined>)[name];
  if (n === undefined) throw new Error(`unknown errno ${name}`);
  return n;
}

function header(type: number, flags: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + payload.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq, 8);
  payload.copy(b, NLMSG_HDRLEN);
  return b;
}

export class FakeKernel implements NetlinkTransport {
  readonly requests: FakeRequest[] = [];
  readonly datagrams: number[] = [];
  /** Routes and nexthop objects as the requests that made them (dumped back as they are). */
  readonly routes = new Map<string, Buffer>();
  readonly nexthops = new Map<number, Buffer>();
  ifindex = 7;
  deviceUp = true;
  /** Requests in flight at most (sent and not answered), seen from the kernel's side. */
  maxUnanswered = 0;
  /** Requests for one route or object in flight at once, at most. */
  maxPerKey = 0;
  private readonly perKey = new Map<string, number>();
  private unanswered = 0;
  private readonly failures: Failure[] = [];
  private messageListener: (d: Buffer) => void = () => undefined;
  private errorListener: (e: string) => void = () => undefined;
  closed = false;

  /** Fails requests for which `f` returns an errno name. */
  fail(f: Failure): void {
    this.failures.push(f);
  }

  /** Fails the next `times` requests matching `match` with `errno`. */
  failTimes(match: (r: FakeRequest) => boolean, errno: string, times: number): void {
    let left = times;
    this.fail((r) => {
      if (left > 0 && match(r)) {
        left--;
        return errno;
      }
      return undefined;
    });
  }

  /** Reports a receive-buffer overflow (ENOBUFS) and drops the answers not yet delivered. */
  overrun(): void {
    this.generation++;
    this.errorListener('ENOBUFS');
  }
  private generation = 0;

  send(buffers: readonly Buffer[], done: (errno: string | undefined) => void): void {
    const data = Buffer.concat(buffers);
    const answers: Buffer[] = [];
    const keys: string[] = [];
    let n = 0;
    const before = this.requests.length;
    forEachMessage(data, (h) => {
      n++;
      answers.push(...this.handle(data, h));
    });
    for (const r of this.requests.slice(before)) {
      const k = (this.perKey.get(r.key) ?? 0) + 1;
      this.perKey.set(r.key, k);
      this.maxPerKey = Math.max(this.maxPerKey, k);
      keys.push(r.key);
    }
    this.datagrams.push(n);
    this.unanswered += n;
    this.maxUnanswered = Math.max(this.maxUnanswered, this.unanswered);
    setImmediate(() => {
      done(undefined);
    });
    const gen = this.generation;
    setImmediate(() => {
      this.unanswered -= n;
      for (const k of keys) this.perKey.set(k, (this.perKey.get(k) ?? 1) - 1);
      if (gen !== this.generation || this.closed) return;
      for (const a of answers) this.messageListener(a);
    });
  }

  onMessage(listener: (d: Buffer) => void): void {
    this.messageListener = listener;
  }
  onError(listener: (e: string) => void): void {
    this.errorListener = listener;
  }
  readonly memberships = new Set<number>();
  addMembership(group: number): void {
    this.memberships.add(group); // notifications are not simulated
  }
  dropMembership(group: number): void {
    this.memberships.delete(group);
  }
  setReceiveBuffer(): number {
    return 425984;
  }
  unref(): void {
    // nothing to do
  }
  close(): void {
    this.closed = true;
  }

  private ack(h: MessageHeader, req: Buffer, errno: number): Buffer {
    const p = Buffer.alloc(4 + NLMSG_HDRLEN);
    p.writeInt32LE(-errno, 0);
    req.copy(p, 4, h.offset, h.offset + NLMSG_HDRLEN);
    return header(NLMSG_ERROR, 0, h.seq, p);
  }

  private handle(data: Buffer, h: MessageHeader): Buffer[] {
    const bytes = Buffer.from(data.subarray(h.offset, h.offset + h.length));
    if (h.type === RTM_GETLINK) {
      const p = Buffer.alloc(16 + 8);
      p.writeInt32LE(this.ifindex, 4);
      p.writeUInt32LE(this.deviceUp ? 1 : 0, 8);
      p.writeUInt16LE(7, 16);
      p.writeUInt16LE(3, 18);
      p.write('t0\0', 20);
      return [header(RTM_NEWLINK, 0, h.seq, p), this.ack(h, data, 0)];
    }
    if (h.type === RTM_GETROUTE || h.type === RTM_GETNEXTHOP) {
      const stored =
        h.type === RTM_GETROUTE ? [...this.routes.values()] : [...this.nexthops.values()];
      const parts = stored.map((b) => {
        const m = Buffer.from(b);
        m.writeUInt16LE(h.type === RTM_GETROUTE ? RTM_NEWROUTE : RTM_NEWNEXTHOP, 4);
        m.writeUInt16LE(NLM_F_MULTI, 6);
        m.writeUInt32LE(h.seq, 8);
        return m;
      });
      return [...parts, header(NLMSG_DONE, NLM_F_MULTI, h.seq, Buffer.alloc(4))];
    }
    let key = '';
    if (h.type === RTM_NEWROUTE || h.type === RTM_DELROUTE) {
      const r = decodeRoute(data, h);
      if (r === undefined || h.length <= NLMSG_HDRLEN + RTMSG_LEN)
        return [this.ack(h, data, errnoOf('EINVAL'))]; // the permission probe
      key = `route ${String(r.table)} ${Buffer.from(r.dst).toString('hex')}/${String(r.dstLen)}`;
    } else if (h.type === RTM_NEWNEXTHOP || h.type === RTM_DELNEXTHOP) {
      key = `nh ${String(decodeNexthop(data, h)?.id ?? 0)}`;
    }
    const req: FakeRequest = { type: h.type, seq: h.seq, key, bytes };
    this.requests.push(req);
    for (const f of this.failures) {
      const errno = f(req);
      if (errno !== undefined) return [this.ack(h, data, errnoOf(errno))];
    }
    return [this.ack(h, data, this.apply(data, h, key))];
  }

  private apply(data: Buffer, h: MessageHeader, key: string): number {
    switch (h.type) {
      case RTM_NEWNEXTHOP: {
        const nh = decodeNexthop(data, h);
        if (nh === undefined) return errnoOf('EINVAL');
        if (this.nexthops.has(nh.id)) return errnoOf('EEXIST');
        for (const m of nh.group ?? []) if (!this.nexthops.has(m)) return errnoOf('EINVAL');
        this.nexthops.set(nh.id, Buffer.from(data.subarray(h.offset, h.offset + h.length)));
        return 0;
      }
      case RTM_DELNEXTHOP: {
        const id = Number(key.slice(3));
        if (!this.nexthops.delete(id)) return errnoOf('ENOENT');
        return 0;
      }
      case RTM_NEWROUTE: {
        const r = decodeRoute(data, h);
        if (r?.nhid === undefined || !this.nexthops.has(r.nhid)) return errnoOf('EINVAL');
        this.routes.set(key, Buffer.from(data.subarray(h.offset, h.offset + h.length)));
        return 0;
      }
      case RTM_DELROUTE:
        return this.routes.delete(key) ? 0 : errnoOf('ESRCH');
      default:
        return errnoOf('EOPNOTSUPP');
    }
  }
}
