/**
 * Canonical route keys. The key of a route is the canonical body of its ADD UPDATE payload (every
 * field after `action`), as a latin1 string: one compact string that both identifies the route
 * (vni, destination bytes + length, next-hop bytes, targetVni, type, NAT ports) and is the exact
 * wire form, so frames are rebuilt from it without re-encoding. Only for validated routes.
 */

import { HEADER_SIZE, MessageType, PROTOCOL_VERSION, WireNextHopType } from './messages.js';
import { varintSize, writeVarint } from './protobuf.js';

/**
 * Module-level scratch buffer of canonicalRouteKey: the key is assembled here and copied out as a
 * string before the function returns, so sharing it is safe (single-threaded, not re-entrant).
 */
const scratch = Buffer.alloc(128);

export function canonicalRouteKey(
  vni: number,
  prefix: Uint8Array,
  prefixStart: number,
  prefixEnd: number,
  prefixLength: number,
  address: Uint8Array,
  addressStart: number,
  addressEnd: number,
  targetVni: number,
  hopType: number,
  natFrom: number,
  natTo: number,
): string {
  const b = scratch;
  const prefixBytes = prefixEnd - prefixStart;
  const addressBytes = addressEnd - addressStart;
  const nat = hopType === WireNextHopType.NAT;
  let p = 0;
  if (vni !== 0) {
    b[p++] = 0x10;
    p = writeVarint(b, p, vni);
  }
  const dSize =
    (prefixBytes === 16 ? 2 : 0) +
    2 +
    prefixBytes +
    (prefixLength !== 0 ? 1 + varintSize(prefixLength) : 0);
  b[p++] = 0x1a;
  b[p++] = dSize;
  if (prefixBytes === 16) {
    b[p++] = 0x08;
    b[p++] = 0x01;
  }
  b[p++] = 0x12;
  b[p++] = prefixBytes;
  for (let i = prefixStart; i < prefixEnd; i++) b[p++] = prefix[i] ?? 0;
  if (prefixLength !== 0) {
    b[p++] = 0x18;
    p = writeVarint(b, p, prefixLength);
  }
  const hSize =
    2 +
    addressBytes +
    (targetVni !== 0 ? 1 + varintSize(targetVni) : 0) +
    (hopType !== 0 ? 2 : 0) +
    (nat && natFrom !== 0 ? 1 + varintSize(natFrom) : 0) +
    (nat && natTo !== 0 ? 1 + varintSize(natTo) : 0);
  b[p++] = 0x22;
  b[p++] = hSize;
  b[p++] = 0x0a;
  b[p++] = addressBytes;
  for (let i = addressStart; i < addressEnd; i++) b[p++] = address[i] ?? 0;
  if (targetVni !== 0) {
    b[p++] = 0x10;
    p = writeVarint(b, p, targetVni);
  }
  if (hopType !== 0) {
    b[p++] = 0x18;
    b[p++] = hopType;
  }
  if (nat) {
    if (natFrom !== 0) {
      b[p++] = 0x20;
      p = writeVarint(b, p, natFrom);
    }
    if (natTo !== 0) {
      b[p++] = 0x28;
      p = writeVarint(b, p, natTo);
    }
  }
  return b.toString('latin1', 0, p);
}

/** Size of the complete UPDATE frame for a key. */
export function updateFrameSize(key: string, remove: boolean): number {
  return HEADER_SIZE + key.length + (remove ? 2 : 0);
}

/** Writes the complete ADD or REMOVE frame for `key` at `pos`; returns the position after it. */
export function writeUpdateFrame(
  target: Buffer,
  pos: number,
  key: string,
  remove: boolean,
): number {
  const size = key.length + (remove ? 2 : 0);
  target[pos] = PROTOCOL_VERSION;
  target[pos + 1] = size >> 8;
  target[pos + 2] = size & 0xff;
  target[pos + 3] = MessageType.UPDATE;
  pos += HEADER_SIZE;
  if (remove) {
    target[pos++] = 0x08;
    target[pos++] = 0x01;
  }
  return pos + target.write(key, pos, 'latin1');
}

/** The complete ADD or REMOVE frame for `key`. */
export function updateFrame(key: string, remove: boolean): Buffer {
  const buf = Buffer.allocUnsafe(updateFrameSize(key, remove));
  writeUpdateFrame(buf, 0, key, remove);
  return buf;
}

/**
 * Identity of (vni, destination) of a route key: the key up to the end of its destination field.
 * For ECMP grouping and loop prevention; canonical like the key itself.
 */
export function destinationKeyOf(key: string): string {
  return key.slice(0, destinationKeyLength(key));
}

/** Length of destinationKeyOf(key): where the destination field of the key ends. */
export function destinationKeyLength(key: string): number {
  let p = 0;
  if (key.charCodeAt(0) === 0x10) {
    p = 1;
    while (key.charCodeAt(p) >= 0x80) p++;
    p++;
  }
  // key[p] is the destination's tag (0x1a); its length always fits one byte (at most 22).
  return p + 2 + key.charCodeAt(p + 1);
}

/**
 * A 30-bit hash (a small integer) of `s[0, length)`: of a destination key, or of the destination
 * part of a route key (`destinationKeyLength(key)` chars), which hash alike. FNV-1a.
 */
export function destinationHash(s: string, length: number): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}

/** Route families and next-hop types by index: keyFamilyType() returns family * 3 + type. */
export const FAMILY_TYPE_COUNT = 6;

/**
 * Family (0 IPv4, 1 IPv6) and next-hop type (0 STANDARD, 1 NAT, 2 LOADBALANCER_TARGET) of a route
 * key, as `family * 3 + type`: a few byte reads, for counts kept on insert and delete.
 */
export function keyFamilyType(key: string): number {
  let p = 0;
  if (key.charCodeAt(0) === 0x10) {
    p = 1;
    while (key.charCodeAt(p) >= 0x80) p++;
    p++;
  }
  // key[p] is the destination's tag (0x1a); an IPv6 destination starts with ipVersion (08 01).
  const v6 = key.charCodeAt(p + 2) === 0x08 ? 1 : 0;
  const destKeyEnd = p + 2 + key.charCodeAt(p + 1);
  // The next hop: tag, length, then its address field (0a 10 + 16 bytes), then optional fields.
  let q = destKeyEnd + 2 + 18;
  if (key.charCodeAt(q) === 0x10) {
    q++;
    while (key.charCodeAt(q) >= 0x80) q++;
    q++;
  }
  const type = key.charCodeAt(q) === 0x18 ? key.charCodeAt(q + 1) : 0;
  return v6 * 3 + (type <= 2 ? type : 0);
}

/** The VNI of a route key (its leading varint; 0 when absent, as protobuf omits zero). */
export function vniOfKey(key: string): number {
  if (key.charCodeAt(0) !== 0x10) return 0;
  let v = 0;
  let mul = 1;
  for (let p = 1; p < key.length; p++) {
    const c = key.charCodeAt(p);
    v += (c & 0x7f) * mul;
    if (c < 0x80) break;
    mul *= 128;
  }
  return v;
}
