/** Minimal proto3 primitives shared by the encoder and the decoder. Pure, allocation-free. */

import { ProtocolError } from '../errors.js';

export const WIRE_VARINT = 0;
export const WIRE_I64 = 1;
export const WIRE_LEN = 2;
export const WIRE_I32 = 5;

/** Bytes a uint32 takes as a varint. */
export function varintSize(v: number): number {
  if (v < 0x80) return 1;
  if (v < 0x4000) return 2;
  if (v < 0x200000) return 3;
  if (v < 0x10000000) return 4;
  return 5;
}

/** Writes a uint32 varint at `pos`, returns the position after it. */
export function writeVarint(buf: Uint8Array, pos: number, v: number): number {
  while (v >= 0x80) {
    buf[pos++] = (v & 0x7f) | 0x80;
    v = Math.floor(v / 128);
  }
  buf[pos++] = v;
  return pos;
}

/**
 * A cursor over one payload. Varints are read as protobuf reads uint32/enum/bool fields: up to 10
 * bytes, keeping the low 32 bits.
 */
export class Reader {
  pos: number;
  buf: Uint8Array;
  end: number;
  constructor(buf: Uint8Array, start: number, end: number) {
    this.buf = buf;
    this.pos = start;
    this.end = end;
  }

  /** Re-targets the reader (no allocation on hot paths). */
  reset(buf: Uint8Array, start: number, end: number): this {
    this.buf = buf;
    this.pos = start;
    this.end = end;
    return this;
  }

  uint32(): number {
    const buf = this.buf;
    // Fast path: nearly every varint of this protocol is one byte.
    const first = this.pos < this.end ? (buf[this.pos] ?? 0) : 0x80;
    if (first < 0x80) {
      this.pos++;
      return first;
    }
    let result = 0;
    let shift = 0;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtocolError('truncated varint');
      const b = buf[this.pos++] ?? 0;
      if (shift < 32) result += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return result % 0x100000000;
      shift += 7;
    }
    throw new ProtocolError('varint longer than 10 bytes');
  }

  /** Returns the [start, end) range of a length-delimited field and skips over it. */
  lengthDelimited(): number {
    const len = this.uint32();
    const start = this.pos;
    if (len > this.end - start) throw new ProtocolError('truncated length-delimited field');
    this.pos = start + len;
    return start;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.uint32();
        return;
      case WIRE_I64:
        this.advance(8);
        return;
      case WIRE_LEN:
        this.lengthDelimited();
        return;
      case WIRE_I32:
        this.advance(4);
        return;
      default:
        throw new ProtocolError(`unsupported wire type ${String(wireType)}`);
    }
  }

  private advance(n: number): void {
    if (this.end - this.pos < n) throw new ProtocolError('truncated fixed-size field');
    this.pos += n;
  }
}
