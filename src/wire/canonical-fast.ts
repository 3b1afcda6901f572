/**
 * Fast path for the server: recognises an UPDATE payload that is already in canonical form (the
 * layout Go, rustbond and tsbond encoders all produce for valid routes) and validates it in one
 * pass. The route key is then the payload after the action field, unchanged; no decode, no
 * re-encode. Anything else returns -1 and takes the general decoder (decode.ts + validate.ts),
 * which gives the same result for every canonical payload (property-tested).
 */

interface Latin1Slicer {
  latin1Slice(start: number, end: number): string;
}

/**
 * `buf.toString('latin1', start, end)` without the encoding dispatch (Node's Buffer has the
 * latin1Slice method that toString ends up calling; used when present).
 */
export const latin1: (buf: Buffer, start: number, end: number) => string =
  typeof (Buffer.prototype as unknown as Partial<Latin1Slicer>).latin1Slice === 'function'
    ? (buf, start, end) => (buf as unknown as Latin1Slicer).latin1Slice(start, end)
    : (buf, start, end) => buf.toString('latin1', start, end);

/**
 * Result of the last successful match (valid until the next call). Module-level on purpose: the
 * hot path returns two numbers without allocating; the caller reads them right after the call
 * (single-threaded, not re-entrant).
 */
export const fastResult = { action: 0, vni: 0 };

/** Reads a canonical (minimal, non-zero) uint32 varint at `p`; returns its end, or -1. */
function varint(buf: Buffer, p: number, end: number): number {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 5; i++) {
    if (p >= end) return -1;
    const b = buf[p++] ?? 0;
    value += (b & 0x7f) * mul;
    if (b < 0x80) {
      // Minimal encoding: no trailing zero byte; non-zero (proto3 omits zeros); fits uint32.
      if ((b === 0 && i > 0) || value === 0 || value > 0xffffffff) return -1;
      lastVarint = value;
      return p;
    }
    mul *= 128;
  }
  return -1;
}

/** The value of the last varint read by varint() (module-level scratch, as fastResult). */
let lastVarint = 0;

/**
 * Returns where the key starts (after the action field) if `buf[start, end)` is a canonical,
 * valid UPDATE payload, else -1. Sets fastResult.action / .vni on success.
 */
export function canonicalUpdateKeyStart(buf: Buffer, start: number, end: number): number {
  let p = start;
  let action = 0;
  if (buf[p] === 0x08) {
    if (buf[p + 1] !== 0x01) return -1; // only REMOVE (1) is written; ADD (0) is omitted
    action = 1;
    p += 2;
  }
  const keyStart = p;
  let vni = 0;
  if (buf[p] === 0x10) {
    p = varint(buf, p + 1, end);
    if (p < 0) return -1;
    vni = lastVarint;
  }
  // Destination
  if (buf[p] !== 0x1a) return -1;
  const dLen = buf[p + 1] ?? 0;
  if (dLen >= 0x80) return -1;
  p += 2;
  const dEnd = p + dLen;
  if (dEnd > end) return -1;
  let v6 = false;
  if (buf[p] === 0x08) {
    if (buf[p + 1] !== 0x01) return -1;
    v6 = true;
    p += 2;
  }
  const plen = v6 ? 16 : 4;
  if (buf[p] !== 0x12 || buf[p + 1] !== plen) return -1;
  p += 2 + plen;
  if (p < dEnd) {
    if (buf[p] !== 0x18) return -1;
    p = varint(buf, p + 1, dEnd);
    if (p < 0 || lastVarint > plen * 8) return -1;
  }
  if (p !== dEnd) return -1;
  // Next hop
  if (buf[p] !== 0x22) return -1;
  const hLen = buf[p + 1] ?? 0;
  if (hLen >= 0x80) return -1;
  p += 2;
  const hEnd = p + hLen;
  if (hEnd !== end) return -1;
  if (buf[p] !== 0x0a || buf[p + 1] !== 16) return -1;
  p += 18;
  if (p < hEnd && buf[p] === 0x10) {
    p = varint(buf, p + 1, hEnd);
    if (p < 0) return -1;
  }
  let type = 0;
  if (p < hEnd && buf[p] === 0x18) {
    type = buf[p + 1] ?? 0;
    if (type !== 1 && type !== 2) return -1;
    p += 2;
  }
  if (type === 1) {
    let from = 0;
    let to = 0;
    if (p < hEnd && buf[p] === 0x20) {
      p = varint(buf, p + 1, hEnd);
      if (p < 0) return -1;
      from = lastVarint;
    }
    if (p < hEnd && buf[p] === 0x28) {
      p = varint(buf, p + 1, hEnd);
      if (p < 0) return -1;
      to = lastVarint;
    }
    if (to > 65535 || from > to) return -1;
  }
  if (p !== hEnd) return -1;
  fastResult.action = action;
  fastResult.vni = vni;
  return keyStart;
}
