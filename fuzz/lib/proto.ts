/**
 * A tiny protobuf writer for the fuzzer: builds payloads field by field, including what the
 * project's encoder never writes (unknown fields, wrong wire types, overlong varints, extension
 * messages), independently of src/wire.
 */

export const WT_VARINT = 0;
export const WT_I64 = 1;
export const WT_LEN = 2;
export const WT_SGROUP = 3;
export const WT_EGROUP = 4;
export const WT_I32 = 5;

/** Varint bytes of a non-negative integer up to 2^53; `pad` extra continuation bytes (overlong). */
export function varint(v: number, pad = 0): number[] {
  const out: number[] = [];
  let x = v;
  while (x >= 0x80) {
    out.push((x % 128) | 0x80);
    x = Math.floor(x / 128);
  }
  out.push(x);
  for (let i = 0; i < pad; i++) {
    out[out.length - 1] = (out[out.length - 1] ?? 0) | 0x80;
    out.push(0);
  }
  return out;
}

export function key(field: number, wt: number): number[] {
  return varint(field * 8 + wt);
}

export class PB {
  private buf = Buffer.allocUnsafe(64);
  private pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(b, 0, 0, this.pos);
    this.buf = b;
  }

  private writeVarint(v: number): void {
    this.room(10);
    let x = v;
    while (x >= 0x80) {
      this.buf[this.pos++] = (x % 128) | 0x80;
      x = Math.floor(x / 128);
    }
    this.buf[this.pos++] = x;
  }

  varint(field: number, v: number): this {
    this.writeVarint(field * 8 + WT_VARINT);
    this.writeVarint(v);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.writeVarint(field * 8 + WT_LEN);
    this.writeVarint(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, Buffer.from(s, 'utf8'));
  }

  raw(b: ArrayLike<number>): this {
    this.room(b.length);
    for (const x of Array.from(b)) this.buf[this.pos++] = x;
    return this;
  }

  build(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}

/** A complete frame: version 1, big-endian payload length, type, payload. */
export function frame(type: number, payload: Uint8Array, version = 1): Buffer {
  const b = Buffer.allocUnsafe(4 + payload.length);
  b[0] = version;
  b.writeUInt16BE(payload.length & 0xffff, 1);
  b[3] = type;
  b.set(payload, 4);
  return b;
}

/** Field 1000 (`features` in HELLO) with each wire type, as raw bytes to append or prepend. */
export function field1000(wt: number, value: number): number[] {
  switch (wt) {
    case WT_VARINT:
      return [...key(1000, WT_VARINT), ...varint(value)];
    case WT_I64:
      return [...key(1000, WT_I64), 1, 2, 3, 4, 5, 6, 7, 8];
    case WT_LEN:
      return [...key(1000, WT_LEN), ...varint(3), 0x08, value & 0x7f, 0x00];
    case WT_I32:
      return [...key(1000, WT_I32), value & 0xff, 0, 0, 0];
    default:
      // Groups (3, 4) and invalid wire types 6, 7: the tag alone.
      return key(1000, wt);
  }
}
