/**
 * Frame building for the load generator: publishers build every frame once, up front (canonical
 * route keys from the project's codec), so the generator stays cheap enough to measure servers
 * that deliver millions of updates/s. Receivers count with frame-counter.ts.
 */

import { canonicalRouteKey, updateFrameSize, writeUpdateFrame } from '../../src/wire/route-key.js';
import { RouteSum, framesSum, type SumValue } from './route-sum.js';

/** An IPv4 /32 destination and a 2001:db8::/32 next hop, as bytes. */
export interface RouteBytes {
  readonly dest: Uint8Array;
  readonly hop: Uint8Array;
}

/** 2001:db8::HI:LO as 16 bytes (the low 32 bits given as two 16-bit groups). */
export function nextHopBytes(hi: number, lo: number): Uint8Array {
  const b = new Uint8Array(16);
  b.set([0x20, 0x01, 0x0d, 0xb8]);
  b[12] = (hi >> 8) & 0xff;
  b[13] = hi & 0xff;
  b[14] = (lo >> 8) & 0xff;
  b[15] = lo & 0xff;
  return b;
}

/** Writes the ADD or REMOVE frame of (vni, dest/32 via hop) at `pos`; returns the end. */
function writeRoute(buf: Buffer, pos: number, key: string, remove: boolean): number {
  return writeUpdateFrame(buf, pos, key, remove);
}

function keyOf(vni: number, dest: Uint8Array, hop: Uint8Array): string {
  return canonicalRouteKey(vni, dest, 0, 4, 32, hop, 0, 16, 0, 0, 0, 0);
}

/**
 * Fan-out workload of one client (rustbond's stress_test shape): batch k announces routes
 * `10.{client}.{i>>8}.{i&255}/32 via 2001:db8::{client}` for i in [k*B, (k+1)*B) (mod 65536) and
 * then withdraws them. `cycle` batches are built and replayed round-robin; block 2k holds the ADDs
 * of batch k, block 2k+1 its REMOVEs, all contiguous in one buffer.
 */
export class FanoutFrames {
  readonly buf: Buffer;
  /** Byte offset where each block starts; blockStart[2*cycle] is the buffer end. */
  readonly blockStart: number[];
  readonly batch: number;
  readonly blocks: number;

  constructor(client: number, vni: number, batch: number, cycle: number) {
    if (client < 0 || client > 255) throw new Error(`client index ${String(client)} not in 0..255`);
    this.batch = batch;
    this.blocks = 2 * cycle;
    const hop = nextHopBytes(0, client);
    const keys: string[] = [];
    for (let n = 0; n < batch * cycle; n++) {
      const i = n & 0xffff;
      keys.push(keyOf(vni, Uint8Array.of(10, client, i >> 8, i & 0xff), hop));
    }
    let size = 0;
    for (const key of keys) size += updateFrameSize(key, false) + updateFrameSize(key, true);
    this.buf = Buffer.allocUnsafe(size);
    this.blockStart = [];
    let pos = 0;
    for (let k = 0; k < cycle; k++) {
      const slice = keys.slice(k * batch, (k + 1) * batch);
      this.blockStart.push(pos);
      for (const key of slice) pos = writeRoute(this.buf, pos, key, false);
      this.blockStart.push(pos);
      for (const key of slice) pos = writeRoute(this.buf, pos, key, true);
    }
    this.blockStart.push(pos);
  }
}

/**
 * Table workload of one announcer: `count` routes `(20+announcer).{i>>16}.{i>>8}.{i&255}/32 via
 * 2001:db8::{announcer}:1`, ADD frames only, in one buffer with the offset of every frame.
 */
export class TableFrames {
  readonly buf: Buffer;
  /** frameStart[i] is the offset of route i; frameStart[count] the end. */
  readonly frameStart: Uint32Array;

  constructor(
    announcer: number,
    vni: number,
    readonly count: number,
  ) {
    if (announcer < 0 || announcer > 200) throw new Error('announcer index out of range');
    if (count > 1 << 24) throw new Error('at most 2^24 routes per announcer');
    const hop = nextHopBytes(announcer, 1);
    const dest = new Uint8Array(4);
    // All frames of one announcer have the same size (fixed-length fields only).
    dest.set([20 + announcer, 0, 0, 0]);
    const frameSize = updateFrameSize(keyOf(vni, dest, hop), false);
    this.buf = Buffer.allocUnsafe(frameSize * count);
    this.frameStart = new Uint32Array(count + 1);
    let pos = 0;
    for (let i = 0; i < count; i++) {
      dest[1] = (i >> 16) & 0xff;
      dest[2] = (i >> 8) & 0xff;
      dest[3] = i & 0xff;
      this.frameStart[i] = pos;
      pos = writeRoute(this.buf, pos, keyOf(vni, dest, hop), false);
    }
    this.frameStart[count] = pos;
  }
}

/** ADD or REMOVE frame of the probe route 11.0.0.{n}/32 via 2001:db8::ffff:{n}. */
export function probeFrame(vni: number, n: number, remove: boolean): Buffer {
  const key = keyOf(vni, Uint8Array.of(11, 0, 0, n & 0xff), nextHopBytes(0xffff, n));
  const buf = Buffer.allocUnsafe(updateFrameSize(key, remove));
  writeRoute(buf, 0, key, remove);
  return buf;
}

/** The checksum of the routes of these announcers' TableFrames (what a snapshot must deliver). */
export function tableSum(
  vni: number,
  announcers: readonly { announcer: number; count: number }[],
): SumValue {
  const sum = new RouteSum();
  for (const a of announcers) {
    if (a.count === 0) continue;
    const f = new TableFrames(a.announcer, vni, a.count);
    framesSum(f.buf, 0, f.buf.length, sum);
  }
  return sum.value();
}
