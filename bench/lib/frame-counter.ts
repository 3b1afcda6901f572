/**
 * Counts the frames of one inbound stream by scanning headers: UPDATE frames split into ADD and
 * REMOVE by the first payload bytes (`08 01` = action REMOVE; an ADD omits the action field).
 * Handles any split of the stream; a frame cut by a chunk boundary is completed in a small buffer.
 *
 * Also accepted: the tsbond extension frames SYNCED (type 100) and REFUSED (type 101), counted
 * apart (never as UPDATEs); the server HELLO's `features` field is recorded. Optionally (per
 * receiver) every UPDATE's route bytes go into order-independent checksums (`sums`) or an exact
 * view (`view`); both cost a hash or a Map operation per UPDATE, so fan-out receivers only count.
 */

import { helloFeatures } from './hello.js';
import { RouteSum, type RouteView } from './route-sum.js';

const HEADER = 4;
const MAX_PAYLOAD = 1188;
const TYPE_HELLO = 1;
const TYPE_KEEPALIVE = 2;
const TYPE_UPDATE = 5;
export const TYPE_SYNCED = 100;
export const TYPE_REFUSED = 101;

function knownType(t: number): boolean {
  return (t >= 1 && t <= 5) || t === TYPE_SYNCED || t === TYPE_REFUSED;
}

export interface CounterOptions {
  /** Keep checksums of the received routes (ADDs and REMOVEs apart). */
  readonly sums?: boolean;
  /** Keep the exact view of this receiver. */
  readonly view?: RouteView | undefined;
}

export class FrameCounter {
  adds = 0;
  removes = 0;
  keepalives = 0;
  hellos = 0;
  synced = 0;
  refused = 0;
  others = 0;
  /** `features` of the first HELLO received (undefined: the field was absent). */
  helloFeatures: number | undefined;
  /** VNI of the last SYNCED (0 when its payload is empty). */
  lastSyncedVni: number | undefined;
  readonly addSum: RouteSum | undefined;
  readonly removeSum: RouteSum | undefined;
  private readonly view: RouteView | undefined;
  /** Set on a malformed header; nothing is counted after it. */
  error: string | undefined;
  private readonly carry = Buffer.allocUnsafe(HEADER + MAX_PAYLOAD);
  private carryLen = 0;

  constructor(o: CounterOptions = {}) {
    this.addSum = o.sums === true ? new RouteSum() : undefined;
    this.removeSum = o.sums === true ? new RouteSum() : undefined;
    this.view = o.view;
  }

  /** Zeroes the UPDATE and extension counts and the checksums (the view keeps its state). */
  resetCounts(): void {
    this.adds = 0;
    this.removes = 0;
    this.synced = 0;
    this.refused = 0;
    this.addSum?.reset();
    this.removeSum?.reset();
  }

  get updates(): number {
    return this.adds + this.removes;
  }

  feed(chunk: Buffer): void {
    if (this.error !== undefined) return;
    const len = chunk.length;
    let pos = 0;
    if (this.carryLen > 0) {
      pos = this.completeCarry(chunk);
      if (pos < 0) return;
    }
    const inspect = this.addSum !== undefined || this.view !== undefined;
    while (len - pos >= HEADER) {
      const size = ((chunk[pos + 1] ?? 0) << 8) | (chunk[pos + 2] ?? 0);
      const type = chunk[pos + 3] ?? 0;
      if (chunk[pos] !== 1 || !knownType(type) || size > MAX_PAYLOAD) {
        this.fail(chunk, pos);
        return;
      }
      const end = pos + HEADER + size;
      if (end > len) break;
      if (type === TYPE_UPDATE) {
        const remove = size >= 2 && chunk[pos + 4] === 0x08 && chunk[pos + 5] === 0x01;
        if (remove) this.removes++;
        else this.adds++;
        if (inspect) this.inspect(chunk, pos + HEADER, end, remove);
      } else this.countOther(type, chunk, pos + HEADER, end);
      pos = end;
    }
    if (pos < len) {
      chunk.copy(this.carry, 0, pos, len);
      this.carryLen = len - pos;
    }
  }

  /** Completes the carried partial frame from the head of `chunk`; returns the next position or -1. */
  private completeCarry(chunk: Buffer): number {
    const c = this.carry;
    let pos = 0;
    if (this.carryLen < HEADER) {
      const take = Math.min(HEADER - this.carryLen, chunk.length);
      chunk.copy(c, this.carryLen, 0, take);
      this.carryLen += take;
      pos = take;
      if (this.carryLen < HEADER) return -1;
    }
    const size = ((c[1] ?? 0) << 8) | (c[2] ?? 0);
    const type = c[3] ?? 0;
    if (c[0] !== 1 || !knownType(type) || size > MAX_PAYLOAD) {
      this.fail(c, 0);
      return -1;
    }
    const total = HEADER + size;
    const take = Math.min(total - this.carryLen, chunk.length - pos);
    chunk.copy(c, this.carryLen, pos, pos + take);
    this.carryLen += take;
    pos += take;
    if (this.carryLen < total) return -1;
    this.carryLen = 0;
    if (type === TYPE_UPDATE) {
      const remove = size >= 2 && c[4] === 0x08 && c[5] === 0x01;
      if (remove) this.removes++;
      else this.adds++;
      if (this.addSum !== undefined || this.view !== undefined) {
        this.inspect(c, HEADER, total, remove);
      }
    } else this.countOther(type, c, HEADER, total);
    return pos;
  }

  /** Route bytes of an UPDATE payload buf[start, end) into the checksums and the view. */
  private inspect(buf: Buffer, start: number, end: number, remove: boolean): void {
    const from = remove ? start + 2 : start;
    if (remove) this.removeSum?.add(buf, from, end);
    else this.addSum?.add(buf, from, end);
    this.view?.apply(buf, from, end, remove);
  }

  private countOther(type: number, buf: Buffer, start: number, end: number): void {
    if (type === TYPE_KEEPALIVE) this.keepalives++;
    else if (type === TYPE_HELLO) {
      if (this.hellos === 0) this.helloFeatures = helloFeatures(buf, start, end);
      this.hellos++;
    } else if (type === TYPE_SYNCED) {
      this.synced++;
      // Payload: field 1 vni (key 0x08, varint); empty for VNI 0.
      let vni = 0;
      if (end - start >= 2 && buf[start] === 0x08) {
        let mul = 1;
        for (let i = start + 1; i < end; i++) {
          const x = buf[i] ?? 0;
          vni += (x & 0x7f) * mul;
          mul *= 128;
          if (x < 0x80) break;
        }
      }
      this.lastSyncedVni = vni;
    } else if (type === TYPE_REFUSED) this.refused++;
    else this.others++;
  }

  private fail(buf: Buffer, pos: number): void {
    this.error = `malformed frame header ${buf.subarray(pos, pos + HEADER).toString('hex')}`;
  }
}
