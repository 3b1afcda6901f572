/**
 * Seeds of the fuzzer: the golden frames (test/fixtures/golden-frames.json), valid traffic of both
 * roles (handshakes, SUBSCRIBE/UNSUBSCRIBE, UPDATEs of every route kind), the tsbond extension
 * frames (SYNCED type 100, REFUSED type 101, HELLO field 1000 `features`), and field 1000 with
 * every wire type added to every message type.
 */

import { readFileSync } from 'node:fs';

import {
  PB,
  WT_EGROUP,
  WT_I32,
  WT_I64,
  WT_LEN,
  WT_SGROUP,
  WT_VARINT,
  field1000,
  frame,
} from './proto.js';
import type { Rng } from './rng.js';

export const T = {
  HELLO: 1,
  KEEPALIVE: 2,
  SUBSCRIBE: 3,
  UNSUBSCRIBE: 4,
  UPDATE: 5,
  SYNCED: 100,
  REFUSED: 101,
} as const;

/** Feature bits of HELLO field 1000. */
export const FEATURES = { REASSEMBLY: 1, SYNC_MARKER: 2, REFUSALS: 4 } as const;
export const ALL_FEATURES = FEATURES.REASSEMBLY | FEATURES.SYNC_MARKER | FEATURES.REFUSALS;

export interface GoldenFrame {
  readonly id: string;
  readonly use: 'both' | 'decode' | 'reject';
  readonly frame: Buffer;
}

export function goldenFrames(): GoldenFrame[] {
  const url = new URL('../../test/fixtures/golden-frames.json', import.meta.url);
  const json = JSON.parse(readFileSync(url, 'utf8')) as {
    vectors: { id: string; use: GoldenFrame['use']; frame: string }[];
  };
  return json.vectors.map((v) => ({ id: v.id, use: v.use, frame: Buffer.from(v.frame, 'hex') }));
}

// ---- payload builders (independent of src/wire) ----

export function helloPayload(keepalive: number, isServer: boolean, features?: number): Buffer {
  const p = new PB();
  if (keepalive !== 0) p.varint(1, keepalive);
  if (isServer) p.varint(2, 1);
  if (features !== undefined) p.varint(1000, features);
  return p.build();
}

export function subscriptionPayload(vni: number): Buffer {
  return vni === 0 ? Buffer.alloc(0) : new PB().varint(1, vni).build();
}

/** SYNCED (type 100): field 1 vni; VNI 0 is the empty payload. */
export function syncedPayload(vni: number): Buffer {
  return subscriptionPayload(vni);
}

/** REFUSED (type 101): kind, vni, reason (<= 200 bytes), the refused UPDATE payload. */
export function refusedPayload(
  kind: number,
  vni: number,
  reason: string,
  update?: Uint8Array,
): Buffer {
  const p = new PB();
  if (kind !== 0) p.varint(1, kind);
  if (vni !== 0) p.varint(2, vni);
  if (reason !== '') p.string(3, reason);
  if (update !== undefined && update.length > 0) p.bytes(4, update);
  return p.build();
}

export interface RouteSpec {
  action: number;
  vni: number;
  v6: boolean;
  prefix: Uint8Array;
  prefixLength: number;
  hop: Uint8Array;
  targetVni: number;
  type: number;
  natFrom: number;
  natTo: number;
}

/** UPDATE payload in canonical (Go/rustbond/tsbond encoder) form. */
export function updatePayload(r: RouteSpec): Buffer {
  const d = new PB();
  if (r.v6) d.varint(1, 1);
  d.bytes(2, r.prefix);
  if (r.prefixLength !== 0) d.varint(3, r.prefixLength);
  const h = new PB();
  h.bytes(1, r.hop);
  if (r.targetVni !== 0) h.varint(2, r.targetVni);
  if (r.type !== 0) h.varint(3, r.type);
  if (r.type === 1) {
    if (r.natFrom !== 0) h.varint(4, r.natFrom);
    if (r.natTo !== 0) h.varint(5, r.natTo);
  }
  const u = new PB();
  if (r.action !== 0) u.varint(1, r.action);
  if (r.vni !== 0) u.varint(2, r.vni);
  u.bytes(3, d.build());
  u.bytes(4, h.build());
  return u.build();
}

/** A random valid route of any kind (IPv4/IPv6, STANDARD/NAT/LB, targetVni, ports). */
export function randomRoute(rng: Rng, vni?: number, action = 0): RouteSpec {
  const v6 = rng.chance(0.4);
  const prefix = v6 ? rng.bytes(16) : rng.bytes(4);
  if (v6) {
    prefix[0] = 0x20;
    prefix[1] = 0x01;
  }
  const hop = rng.bytes(16);
  hop[0] = 0xfd;
  const type = rng.pick([0, 0, 1, 2]);
  const natFrom = type === 1 ? rng.int(65536) : 0;
  const natTo = type === 1 ? rng.range(natFrom, 65535) : 0;
  return {
    action,
    vni: vni ?? rng.pick([0, 1, 100, 200, 4094, 16777215, rng.interestingU32()]),
    v6,
    prefix,
    prefixLength: rng.int(v6 ? 129 : 33),
    hop,
    targetVni: rng.chance(0.2) ? rng.interestingU32() : 0,
    type,
    natFrom,
    natTo,
  };
}

export function updateFrame(r: RouteSpec): Buffer {
  return frame(T.UPDATE, updatePayload(r));
}

/** Inserts field 1000 of wire type `wt` at the start, in the middle or at the end of a payload. */
export function withField1000(
  payload: Uint8Array,
  wt: number,
  where: 'start' | 'end',
  value = ALL_FEATURES,
): Buffer {
  const f = Buffer.from(field1000(wt, value));
  return where === 'start' ? Buffer.concat([f, payload]) : Buffer.concat([payload, f]);
}

const ALL_WIRE_TYPES = [WT_VARINT, WT_I64, WT_LEN, WT_SGROUP, WT_EGROUP, WT_I32, 6, 7];

/**
 * Every message type with field 1000 of every wire type, at the start and at the end of the
 * payload, and inside the UPDATE's destination and next hop.
 */
export function field1000Frames(rng: Rng): Buffer[] {
  const base: [number, Buffer][] = [
    [T.HELLO, helloPayload(5, false)],
    [T.HELLO, helloPayload(5, true)],
    [T.KEEPALIVE, Buffer.alloc(0)],
    [T.SUBSCRIBE, subscriptionPayload(100)],
    [T.UNSUBSCRIBE, subscriptionPayload(100)],
    [T.UPDATE, updatePayload(randomRoute(rng, 100))],
    [T.SYNCED, syncedPayload(100)],
    [T.REFUSED, refusedPayload(1, 100, 'limit', updatePayload(randomRoute(rng, 100)))],
  ];
  const out: Buffer[] = [];
  for (const [type, payload] of base) {
    for (const wt of ALL_WIRE_TYPES) {
      for (const where of ['start', 'end'] as const) {
        out.push(frame(type, withField1000(payload, wt, where, rng.interestingU32())));
      }
    }
  }
  // Nested: field 1000 inside Destination and NextHop of an UPDATE.
  for (const wt of ALL_WIRE_TYPES) {
    const r = randomRoute(rng, 100);
    const d = new PB().bytes(2, r.prefix).raw(field1000(wt, 7)).build();
    const h = new PB().raw(field1000(wt, 7)).bytes(1, r.hop).build();
    out.push(frame(T.UPDATE, new PB().varint(2, 100).bytes(3, d).bytes(4, h).build()));
  }
  return out;
}

/** The extension frames themselves, valid, with the golden SYNCED for VNI 100. */
export function extensionFrames(rng: Rng): Buffer[] {
  const out: Buffer[] = [
    Buffer.from('010002640864', 'hex'), // SYNCED VNI 100 (golden)
    frame(T.SYNCED, syncedPayload(0)),
    frame(T.SYNCED, syncedPayload(0xffffffff)),
    frame(T.REFUSED, refusedPayload(2, 100, 'not authorized to subscribe to VNI 100')),
    frame(T.REFUSED, refusedPayload(1, 100, 'x'.repeat(200), updatePayload(randomRoute(rng, 100)))),
    frame(T.REFUSED, refusedPayload(1, 7, 'é'.repeat(100), updatePayload(randomRoute(rng, 7, 1)))),
    frame(T.REFUSED, refusedPayload(3, 0, '', undefined)), // unknown kind
    frame(T.REFUSED, refusedPayload(1, 100, 'y'.repeat(1000))), // reason too long
  ];
  for (const f of [0, 1, 2, 4, 7, 8, 0xffffffff]) {
    out.push(frame(T.HELLO, helloPayload(5, false, f)));
    out.push(frame(T.HELLO, helloPayload(5, true, f)));
  }
  return out;
}

/** Every single seed frame (golden, extension, field-1000 variants, valid updates). */
export function seedFrames(rng: Rng): Buffer[] {
  const out = goldenFrames().map((g) => g.frame);
  out.push(...extensionFrames(rng), ...field1000Frames(rng));
  for (let i = 0; i < 64; i++) out.push(updateFrame(randomRoute(rng, undefined, rng.int(2))));
  return out;
}

export type Role = 'client' | 'server';

/**
 * Valid traffic as a peer of the given role sends it: a client talks to a server (HELLO,
 * KEEPALIVE, SUBSCRIBEs, UPDATEs, UNSUBSCRIBE), a server to a client (HELLO reply, KEEPALIVE,
 * snapshot UPDATEs, SYNCED, REFUSED). `handshake` false leaves the handshake out.
 */
export function traffic(rng: Rng, from: Role, handshake = true, maxFrames = 24): Buffer[] {
  const out: Buffer[] = [];
  const ext = rng.chance(0.5);
  if (handshake) {
    const k = rng.chance(0.9) ? rng.range(1, 30) : rng.interestingU32();
    out.push(frame(T.HELLO, helloPayload(k, from === 'server', ext ? ALL_FEATURES : undefined)));
    out.push(frame(T.KEEPALIVE, Buffer.alloc(0)));
  }
  const vnis = [rng.pick([100, 200, 1, 0, 16777215]), rng.interestingU32()];
  const n = rng.int(maxFrames);
  for (let i = 0; i < n; i++) {
    const vni = rng.pick(vnis);
    const x = rng.int(20);
    if (x < 11) {
      out.push(updateFrame(randomRoute(rng, vni, rng.chance(0.3) ? 1 : 0)));
    } else if (x < 13) {
      out.push(frame(T.KEEPALIVE, Buffer.alloc(0)));
    } else if (x < 16) {
      out.push(frame(from === 'client' ? T.SUBSCRIBE : T.SYNCED, subscriptionPayload(vni)));
    } else if (x < 17) {
      out.push(frame(from === 'client' ? T.UNSUBSCRIBE : T.SYNCED, subscriptionPayload(vni)));
    } else if (x < 18 && from === 'server') {
      // Only servers send REFUSED.
      out.push(
        frame(
          T.REFUSED,
          refusedPayload(rng.range(1, 2), vni, 'refused', updatePayload(randomRoute(rng, vni))),
        ),
      );
    } else if (x < 18) {
      out.push(updateFrame(randomRoute(rng, vni)));
    } else {
      // A decodable but semantically invalid UPDATE (dropped alone, the session lives).
      const r = randomRoute(rng, vni);
      switch (rng.int(5)) {
        case 0:
          r.prefixLength = r.v6 ? 129 + rng.int(100) : 33 + rng.int(100);
          break;
        case 1:
          r.hop = rng.bytes(rng.pick([0, 4, 15, 17]));
          break;
        case 2:
          r.type = rng.range(3, 200);
          break;
        case 3:
          r.type = 1;
          r.natFrom = 2000;
          r.natTo = 1000;
          break;
        default:
          r.action = rng.range(2, 9);
      }
      out.push(updateFrame(r));
    }
  }
  return out;
}
