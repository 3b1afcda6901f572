/** Raw frame bytes: splitting a captured stream, the golden frames of Go's encoder. */

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import type { RawPeer } from '../../helpers/raw-peer.js';

/** Splits a byte stream into complete frames (4-byte header + payload); a partial tail is left out. */
export function splitFrames(stream: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let pos = 0;
  while (pos + 4 <= stream.length) {
    const len = stream.readUInt16BE(pos + 1);
    if (pos + 4 + len > stream.length) break;
    out.push(stream.subarray(pos, pos + 4 + len));
    pos += 4 + len;
  }
  return out;
}

/** Every frame a raw peer has received so far, as hex strings. */
export function framesHex(p: RawPeer): string[] {
  return splitFrames(Buffer.concat(p.bytes)).map((f) => f.toString('hex'));
}

export const KEEPALIVE_HEX = '01000002';

export interface GoldenMessage {
  readonly type: 'HELLO' | 'KEEPALIVE' | 'SUBSCRIBE' | 'UNSUBSCRIBE' | 'UPDATE';
  readonly keepaliveInterval?: number;
  readonly isServer?: boolean;
  readonly vni?: number;
  readonly action?: 'ADD' | 'REMOVE';
  readonly destination?: string;
  readonly nextHop?: {
    readonly targetAddress: string;
    readonly targetVni: number;
    readonly type: 'STANDARD' | 'NAT' | 'LOADBALANCER_TARGET';
    readonly natPortRangeFrom: number;
    readonly natPortRangeTo: number;
  };
}

export interface GoldenVector {
  readonly id: string;
  readonly use: 'both' | 'decode' | 'reject';
  readonly note: string;
  readonly frame: string;
  readonly message: GoldenMessage;
}

const GOLDEN_FILE = fileURLToPath(new URL('../../fixtures/golden-frames.json', import.meta.url));

/** The frames Go MetalBond's encoder produces (test/fixtures/golden-frames.json). */
export function goldenVectors(): GoldenVector[] {
  return (JSON.parse(readFileSync(GOLDEN_FILE, 'utf8')) as { vectors: GoldenVector[] }).vectors;
}
