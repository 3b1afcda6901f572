/**
 * Address text written straight into a netlink message, pure: the installer keeps destinations as
 * text (what the routes carry) and writes their bytes only when it encodes a request, without an
 * intermediate Uint8Array per route.
 */

import { parseIP } from '../model/ip.js';

/** Hex digit value of a character code, or -1. */
function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48; // 0-9
  if (c >= 97 && c <= 102) return c - 87; // a-f
  if (c >= 65 && c <= 70) return c - 55; // A-F
  return -1;
}

/** Dotted-quad text into 4 bytes at `off`; false if it is not one (nothing is promised written). */
function writeIPv4(buf: Buffer, off: number, text: string): boolean {
  let octet = 0;
  let digits = 0;
  let part = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0 || part === 3) return false;
      buf[off + part++] = octet;
      octet = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits > 0 && octet === 0) return false; // leading zero
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return false;
    } else {
      return false;
    }
  }
  if (digits === 0 || part !== 3) return false;
  buf[off + 3] = octet;
  return true;
}

/**
 * IPv6 text made of hex groups (with at most one `::`) into 16 bytes at `off`; false for anything
 * else, e.g. a dotted-quad tail (nothing is promised written).
 */
function writeIPv6(buf: Buffer, off: number, text: string): boolean {
  const n = text.length;
  if (n < 2 || n > 39) return false;
  let w = 0; // words written
  let gap = -1; // word index where `::` stands
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
    if (i === n) {
      buf.fill(0, off, off + 16);
      return true;
    }
  }
  for (;;) {
    let v = 0;
    let digits = 0;
    while (i < n) {
      const d = hexValue(text.charCodeAt(i));
      if (d < 0) break;
      v = (v << 4) | d;
      i++;
      if (++digits > 4) return false;
    }
    if (digits === 0 || w === 8) return false;
    buf[off + w * 2] = v >> 8;
    buf[off + w * 2 + 1] = v & 0xff;
    w++;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false; // '.', or anything else
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap !== -1) return false;
      gap = w;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return false; // a trailing single ':'
    }
  }
  if (gap === -1) return w === 8;
  if (w > 7) return false;
  // Move the words after the gap to the end and zero the gap.
  const tail = w - gap;
  buf.copyWithin(off + 16 - tail * 2, off + gap * 2, off + w * 2);
  buf.fill(0, off + gap * 2, off + 16 - tail * 2);
  return true;
}

/**
 * Writes the bytes of an address given as text (4 for family 4, 16 for 6) at `off`. Throws a
 * RangeError for text that is not an address of that family.
 */
export function writeAddress(buf: Buffer, off: number, text: string, family: 4 | 6): void {
  if (family === 4 ? writeIPv4(buf, off, text) : writeIPv6(buf, off, text)) return;
  // Rare forms (an IPv6 address with a dotted-quad tail): the general parser.
  const bytes = parseIP(text);
  if (bytes?.length !== (family === 4 ? 4 : 16))
    throw new RangeError(`'${text}' is not an IPv${String(family)} address`);
  buf.set(bytes, off);
}
