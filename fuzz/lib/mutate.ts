/**
 * Input generators: random bytes, truncated frames, and mutations of seed frames and valid
 * traffic (bit flips, byte insert/delete, header and protobuf length lies, type and version
 * changes, overlong varints, field 1000 insertion, splicing of two streams).
 */

import { T, seedFrames, traffic, type Role } from './corpus.js';
import { field1000 } from './proto.js';
import type { Rng } from './rng.js';

export type GeneratorName =
  'random' | 'truncated' | 'mutated-seed' | 'mutated-traffic' | 'valid-traffic' | 'spliced';

export interface FuzzInput {
  readonly generator: GeneratorName;
  /** The byte stream a peer sends. */
  readonly bytes: Buffer;
  /** The first bytes are a valid handshake of this many bytes (0: none). */
  readonly handshakeBytes: number;
}

const POOL_SIZE = 2048;
const TYPES = [0, 1, 2, 3, 4, 5, 6, 7, 99, T.SYNCED, T.REFUSED, 102, 127, 128, 255];
const LENGTHS = [0, 1, 2, 3, 0x7f, 0x80, 1187, 1188, 1189, 4096, 0xffff];

function setLength(f: Buffer, len: number): void {
  if (f.length >= 3) f.writeUInt16BE(len & 0xffff, 1);
}

/** One structure-aware mutation of a frame (header + payload), in place or returned anew. */
export function mutateFrame(rng: Rng, f: Buffer): Buffer {
  if (f.length < 4) return f;
  const payloadLen = f.length - 4;
  switch (rng.int(12)) {
    case 0: // length lie: off by a little
      setLength(f, Math.max(0, payloadLen + rng.range(-3, 3)));
      return f;
    case 1: // length lie: boundary value
      setLength(f, rng.pick(LENGTHS));
      return f;
    case 2:
      f[3] = rng.pick(TYPES);
      return f;
    case 3:
      f[0] = rng.pick([0, 2, 0x81, 0xff, rng.int(256)]);
      return f;
    case 4: {
      // Protobuf length lie: a byte of the payload set to a small length value.
      if (payloadLen === 0) return f;
      f[4 + rng.int(payloadLen)] = rng.pick([0, 1, 2, 4, 15, 16, 17, 0x7f, 0x80, 0xff]);
      return f;
    }
    case 5: {
      // Overlong / unterminated varint: continuation bytes inserted.
      const at = 4 + rng.int(payloadLen + 1);
      const extra = Buffer.alloc(rng.range(1, 11), 0x80);
      const g = Buffer.concat([f.subarray(0, at), extra, f.subarray(at)]);
      if (rng.chance(0.5)) setLength(g, g.length - 4);
      return g;
    }
    case 6: {
      // Field 1000 of any wire type, at any position, length fixed up (or not).
      const at = 4 + rng.int(payloadLen + 1);
      const ins = Buffer.from(field1000(rng.int(8), rng.interestingU32()));
      const g = Buffer.concat([f.subarray(0, at), ins, f.subarray(at)]);
      if (rng.chance(0.8)) setLength(g, g.length - 4);
      return g;
    }
    case 7: {
      // Payload truncated, header length fixed up (the frame stays well-formed).
      const cut = rng.int(payloadLen + 1);
      const g = Buffer.from(f.subarray(0, 4 + cut));
      setLength(g, cut);
      return g;
    }
    case 8: {
      // Unknown field with a random key.
      const at = 4 + rng.int(payloadLen + 1);
      const ins = rng.bytes(rng.range(1, 6));
      const g = Buffer.concat([f.subarray(0, at), ins, f.subarray(at)]);
      setLength(g, g.length - 4);
      return g;
    }
    case 9: {
      // A huge (but <= 1188) payload of repeated unknown fields.
      const n = rng.range(100, 1190);
      const pad = Buffer.alloc(n - (n % 2));
      for (let i = 0; i < pad.length; i += 2) {
        pad[i] = 0x78; // field 15, varint
        pad[i + 1] = rng.int(128);
      }
      const g = Buffer.concat([f, pad]);
      setLength(g, g.length - 4);
      return g;
    }
    default: {
      for (let i = rng.range(1, 3); i > 0; i--) {
        const p = rng.int(f.length);
        f[p] = (f[p] ?? 0) ^ (1 << rng.int(8));
      }
      return f;
    }
  }
}

/** One byte-level mutation of a stream. */
export function mutateBytes(rng: Rng, b: Buffer, other: () => Buffer): Buffer {
  if (b.length === 0) return rng.bytes(rng.range(1, 16));
  switch (rng.int(7)) {
    case 0: {
      for (let i = rng.range(1, 4); i > 0; i--) {
        const p = rng.int(b.length);
        b[p] = (b[p] ?? 0) ^ (1 << rng.int(8));
      }
      return b;
    }
    case 1: {
      b[rng.int(b.length)] = rng.pick([0, 1, 0x7f, 0x80, 0xff, rng.int(256)]);
      return b;
    }
    case 2: {
      const at = rng.int(b.length + 1);
      return Buffer.concat([b.subarray(0, at), rng.bytes(rng.range(1, 8)), b.subarray(at)]);
    }
    case 3: {
      const at = rng.int(b.length);
      const n = rng.range(1, Math.min(16, b.length - at));
      return Buffer.concat([b.subarray(0, at), b.subarray(at + n)]);
    }
    case 4: {
      // Duplicate a range.
      const at = rng.int(b.length);
      const n = rng.range(1, Math.min(64, b.length - at));
      const dup = b.subarray(at, at + n);
      return Buffer.concat([b.subarray(0, at + n), dup, b.subarray(at + n)]);
    }
    case 5: {
      // Splice: our prefix, the other stream's suffix.
      const o = other();
      return Buffer.concat([
        b.subarray(0, rng.int(b.length + 1)),
        o.subarray(rng.int(o.length + 1)),
      ]);
    }
    default:
      return b.subarray(0, rng.int(b.length));
  }
}

export class InputGenerator {
  private readonly seeds: Buffer[];
  private readonly withHandshake: Buffer[][] = [];
  private readonly withoutHandshake: Buffer[][] = [];
  readonly counts: Record<GeneratorName, number> = {
    random: 0,
    truncated: 0,
    'mutated-seed': 0,
    'mutated-traffic': 0,
    'valid-traffic': 0,
    spliced: 0,
  };

  constructor(
    private readonly rng: Rng,
    /** The role of the peer whose bytes are generated. */
    private readonly from: Role,
  ) {
    this.seeds = seedFrames(rng);
  }

  private seed(): Buffer {
    return Buffer.from(this.rng.pick(this.seeds));
  }

  /**
   * Valid traffic, from a pool refreshed as it is used (building traffic costs more than
   * mutating and decoding it). The frames returned are shared: copy before changing one.
   */
  private stream(handshake: boolean): Buffer[] {
    const pool = handshake ? this.withHandshake : this.withoutHandshake;
    if (pool.length < POOL_SIZE || this.rng.chance(1 / 16)) {
      const s = traffic(this.rng, this.from, handshake);
      if (pool.length < POOL_SIZE) pool.push(s);
      else pool[this.rng.int(POOL_SIZE)] = s;
      return [...s];
    }
    return [...this.rng.pick(pool)];
  }

  next(): FuzzInput {
    const rng = this.rng;
    const x = rng.int(100);
    const handshake = rng.chance(0.7);
    let generator: GeneratorName;
    let frames: Buffer[];
    let mutable = true;
    if (x < 8) {
      generator = 'random';
      this.counts[generator]++;
      const bytes = rng.bytes(rng.range(0, 64));
      // Random payload behind a plausible header, or nothing plausible at all.
      if (rng.chance(0.5) && bytes.length >= 4) {
        bytes[0] = 1;
        bytes[3] = rng.pick(TYPES);
        bytes.writeUInt16BE(Math.min(bytes.length - 4, rng.int(70)), 1);
      }
      return { generator, bytes, handshakeBytes: 0 };
    } else if (x < 16) {
      generator = 'truncated';
      frames = handshake ? this.stream(true) : [this.seed()];
      const all = Buffer.concat(frames);
      this.counts[generator]++;
      return { generator, bytes: all.subarray(0, rng.int(all.length + 1)), handshakeBytes: 0 };
    } else if (x < 36) {
      generator = 'mutated-seed';
      frames = [];
      for (let i = rng.range(1, 4); i > 0; i--) frames.push(this.seed());
    } else if (x < 46) {
      generator = 'valid-traffic';
      frames = this.stream(handshake);
      mutable = false;
    } else if (x < 54) {
      generator = 'spliced';
      const a = Buffer.concat(this.stream(handshake));
      const b = Buffer.concat(this.stream(false));
      this.counts[generator]++;
      const bytes = Buffer.concat([
        a.subarray(0, rng.int(a.length + 1)),
        b.subarray(rng.int(b.length + 1)),
      ]);
      return { generator, bytes, handshakeBytes: 0 };
    } else {
      generator = 'mutated-traffic';
      frames = this.stream(handshake);
    }
    this.counts[generator]++;
    // The handshake frames of traffic are kept intact half of the time, so that mutations reach
    // the established state.
    const keep = handshake && generator !== 'mutated-seed' && rng.chance(0.5) ? 2 : 0;
    if (mutable) {
      const n = rng.range(1, 4);
      for (let i = 0; i < n; i++) {
        if (frames.length <= keep) break;
        const j = rng.range(keep, frames.length - 1);
        const f = frames[j];
        if (f === undefined) continue;
        if (rng.chance(0.7)) {
          frames[j] = mutateFrame(rng, Buffer.from(f));
        } else if (rng.chance(0.5)) {
          frames.splice(j, 0, this.seed()); // a seed frame (extension, golden) in the stream
        } else {
          frames.splice(j, 1); // a frame dropped (e.g. no KEEPALIVE before UPDATEs)
        }
      }
    }
    const head = Buffer.concat(frames.slice(0, keep));
    let tail: Buffer = Buffer.concat(frames.slice(keep));
    if (mutable && rng.chance(0.3)) {
      tail = mutateBytes(rng, tail, () => Buffer.concat(this.stream(false)));
    }
    return { generator, bytes: Buffer.concat([head, tail]), handshakeBytes: head.length };
  }
}

/** Random split points: one byte at a time, a few pieces, or whole. */
export function chunks(rng: Rng, b: Buffer): Buffer[] {
  const mode = rng.int(10);
  if (mode === 0 && b.length <= 256) {
    const out: Buffer[] = [];
    for (let i = 0; i < b.length; i++) out.push(b.subarray(i, i + 1));
    return out;
  }
  if (mode < 5) return [b];
  const out: Buffer[] = [];
  let p = 0;
  while (p < b.length) {
    const n = rng.range(1, Math.max(1, Math.min(b.length - p, rng.pick([3, 5, 17, 64, 512]))));
    out.push(b.subarray(p, p + n));
    p += n;
  }
  return out;
}
