/**
 * HELLO frames with the tsbond feature field (behaviour.md, "tsbond extensions"): field 1000
 * `features`, varint (wire type 0, key bytes `c0 3e`). Bit values: 1 REASSEMBLY ("I reassemble
 * the TCP stream at any split"), 2 SYNC_MARKER (SYNCED, type 100), 4 REFUSALS (REFUSED, type 101).
 * A generator client without the field stands for a Go-compatible peer (the server paces writes
 * to it); with `--features 1` for a default tsbond peer (no pacing).
 */

import { encodeHello } from '../../src/wire/encode.js';

export const FEATURE_REASSEMBLY = 1;
export const FEATURE_SYNC_MARKER = 2;
export const FEATURE_REFUSALS = 4;

const HEADER = 4;
const FEATURES_KEY = [0xc0, 0x3e] as const;

function varint(n: number): number[] {
  const out: number[] = [];
  let v = n;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A client HELLO; with `features` defined, field 1000 is appended (even when 0). */
export function helloFrame(keepalive: number, features: number | undefined): Buffer {
  const base = encodeHello(keepalive, false);
  if (features === undefined) return base;
  const extra = Buffer.from([...FEATURES_KEY, ...varint(features)]);
  const out = Buffer.concat([base, extra]);
  out.writeUInt16BE(out.length - HEADER, 1);
  return out;
}

/** Reads a varint at `p`; returns [value, next position] or undefined when cut short. */
function readVarint(b: Uint8Array, p: number, end: number): [number, number] | undefined {
  let v = 0;
  let mul = 1;
  for (let i = p; i < end && i < p + 10; i++) {
    const x = b[i] ?? 0;
    v += (x & 0x7f) * mul;
    mul *= 128;
    if (x < 0x80) return [v, i + 1];
  }
  return undefined;
}

/**
 * The `features` field of a HELLO payload buf[start, end), or undefined when absent (or not a
 * varint, which the extension says to ignore). Malformed payloads also give undefined.
 */
export function helloFeatures(buf: Uint8Array, start: number, end: number): number | undefined {
  let p = start;
  let found: number | undefined;
  while (p < end) {
    const key = readVarint(buf, p, end);
    if (key === undefined) return found;
    const field = Math.floor(key[0] / 8);
    const wire = key[0] & 7;
    p = key[1];
    if (wire === 0) {
      const v = readVarint(buf, p, end);
      if (v === undefined) return found;
      if (field === 1000) found = v[0];
      p = v[1];
    } else if (wire === 2) {
      const len = readVarint(buf, p, end);
      if (len === undefined) return found;
      p = len[1] + len[0];
    } else if (wire === 1) p += 8;
    else if (wire === 5) p += 4;
    else return found;
  }
  return found;
}

/** "REASSEMBLY|SYNC_MARKER" for a feature set; "none" for 0; "no field" for undefined. */
export function featuresText(f: number | undefined): string {
  if (f === undefined) return 'no field 1000';
  const names: string[] = [];
  if ((f & FEATURE_REASSEMBLY) !== 0) names.push('REASSEMBLY');
  if ((f & FEATURE_SYNC_MARKER) !== 0) names.push('SYNC_MARKER');
  if ((f & FEATURE_REFUSALS) !== 0) names.push('REFUSALS');
  const rest = f & ~7;
  if (rest !== 0) names.push(`0x${rest.toString(16)}`);
  return names.length === 0 ? 'none (0)' : `${names.join('|')} (${String(f)})`;
}
