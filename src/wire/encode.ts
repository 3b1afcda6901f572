/**
 * Frame encoders, byte-identical to Go MetalBond's (protobuf-go) output: proto3 defaults omitted,
 * fields in ascending order, `destination` and `nextHop` always present on UPDATE, NAT ports only
 * on NAT next hops. Every function returns a complete frame (header + payload).
 */

import { EncodingError } from '../errors.js';
import {
  HEADER_SIZE,
  HELLO_FEATURES_FIELD,
  MAX_PAYLOAD_SIZE,
  MAX_REFUSAL_REASON_BYTES,
  MessageType,
  PROTOCOL_VERSION,
  WireNextHopType,
  type Message,
  type MessageTypeCode,
  type UpdateMessage,
  type WireDestination,
  type WireNextHop,
} from './messages.js';
import { varintSize, writeVarint } from './protobuf.js';

const UINT32_MAX = 0xffffffff;

function checkUint32(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > UINT32_MAX) {
    throw new EncodingError(`${name} must be an integer in 0..4294967295, got ${String(v)}`);
  }
}

function frame(type: MessageTypeCode, payloadSize: number): Buffer {
  if (payloadSize > MAX_PAYLOAD_SIZE) {
    throw new EncodingError(
      `message too long: ${String(payloadSize)} bytes > maximum of ${String(MAX_PAYLOAD_SIZE)} bytes`,
    );
  }
  const buf = Buffer.allocUnsafe(HEADER_SIZE + payloadSize);
  buf[0] = PROTOCOL_VERSION;
  buf.writeUInt16BE(payloadSize, 1);
  buf[3] = type;
  return buf;
}

const varintField = (v: number): number => (v === 0 ? 0 : 1 + varintSize(v));

/** Key of HELLO field 1000 (wire type varint): the bytes `c0 3e`. */
const FEATURES_KEY = HELLO_FEATURES_FIELD << 3;

/**
 * HELLO. `features` (tsbond extension) is written as field 1000 when given, even when 0; without it
 * the frame is exactly what Go MetalBond sends.
 */
export function encodeHello(
  keepaliveInterval: number,
  isServer: boolean,
  features?: number,
): Buffer {
  checkUint32('keepaliveInterval', keepaliveInterval);
  if (features !== undefined) checkUint32('features', features);
  const size =
    varintField(keepaliveInterval) +
    (isServer ? 2 : 0) +
    (features === undefined ? 0 : varintSize(FEATURES_KEY) + varintSize(features));
  const buf = frame(MessageType.HELLO, size);
  let p = HEADER_SIZE;
  if (keepaliveInterval !== 0) {
    buf[p++] = 0x08;
    p = writeVarint(buf, p, keepaliveInterval);
  }
  if (isServer) {
    buf[p++] = 0x10;
    buf[p++] = 1;
  }
  if (features !== undefined) {
    p = writeVarint(buf, p, FEATURES_KEY);
    writeVarint(buf, p, features);
  }
  return buf;
}

/** SYNCED (tsbond extension, type 100): payload field 1 `vni` (VNI 0: empty payload). */
export function encodeSynced(vni: number): Buffer {
  return encodeSubscription(MessageType.SYNCED, vni);
}

/**
 * REFUSED (tsbond extension, type 101): field 1 kind, 2 vni, 3 reason (cut to 200 bytes at a
 * character boundary), 4 the refused UPDATE's payload.
 */
export function encodeRefused(
  kind: number,
  vni: number,
  reason: string,
  update?: Uint8Array,
): Buffer {
  checkUint32('kind', kind);
  checkUint32('vni', vni);
  const text = cutUtf8(reason, MAX_REFUSAL_REASON_BYTES);
  const size =
    varintField(kind) +
    varintField(vni) +
    bytesField(text.length) +
    bytesField(update?.length ?? 0);
  const buf = frame(MessageType.REFUSED, size);
  let p = HEADER_SIZE;
  if (kind !== 0) {
    buf[p++] = 0x08;
    p = writeVarint(buf, p, kind);
  }
  if (vni !== 0) {
    buf[p++] = 0x10;
    p = writeVarint(buf, p, vni);
  }
  if (text.length > 0) {
    buf[p++] = 0x1a;
    p = writeVarint(buf, p, text.length);
    buf.set(text, p);
    p += text.length;
  }
  if (update !== undefined && update.length > 0) {
    buf[p++] = 0x22;
    p = writeVarint(buf, p, update.length);
    buf.set(update, p);
  }
  return buf;
}

/** UTF-8 bytes of `s`, at most `max` of them, never splitting a character. */
function cutUtf8(s: string, max: number): Buffer {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return b;
  let end = max;
  // Back up over continuation bytes (10xxxxxx) to the start of the cut character.
  while (end > 0 && ((b[end] ?? 0) & 0xc0) === 0x80) end--;
  return b.subarray(0, end);
}

const KEEPALIVE_FRAME = Buffer.from([PROTOCOL_VERSION, 0, 0, MessageType.KEEPALIVE]);

export function encodeKeepalive(): Buffer {
  return Buffer.from(KEEPALIVE_FRAME);
}

function encodeSubscription(type: MessageTypeCode, vni: number): Buffer {
  checkUint32('vni', vni);
  const buf = frame(type, varintField(vni));
  if (vni !== 0) {
    buf[HEADER_SIZE] = 0x08;
    writeVarint(buf, HEADER_SIZE + 1, vni);
  }
  return buf;
}

export function encodeSubscribe(vni: number): Buffer {
  return encodeSubscription(MessageType.SUBSCRIBE, vni);
}

export function encodeUnsubscribe(vni: number): Buffer {
  return encodeSubscription(MessageType.UNSUBSCRIBE, vni);
}

function bytesField(len: number): number {
  return len === 0 ? 0 : 1 + varintSize(len) + len;
}

function destinationSize(d: WireDestination): number {
  return varintField(d.ipVersion) + bytesField(d.prefix.length) + varintField(d.prefixLength);
}

function natPorts(h: WireNextHop): boolean {
  return h.type === WireNextHopType.NAT;
}

function nextHopSize(h: WireNextHop): number {
  let n = bytesField(h.targetAddress.length) + varintField(h.targetVni) + varintField(h.type);
  if (natPorts(h)) n += varintField(h.natPortRangeFrom) + varintField(h.natPortRangeTo);
  return n;
}

function checkUpdate(u: UpdateMessage): void {
  checkUint32('action', u.action);
  checkUint32('vni', u.vni);
  const d = u.destination;
  if (d !== undefined) {
    checkUint32('destination.ipVersion', d.ipVersion);
    checkUint32('destination.prefixLength', d.prefixLength);
  }
  const h = u.nextHop;
  if (h !== undefined) {
    checkUint32('nextHop.targetVni', h.targetVni);
    checkUint32('nextHop.type', h.type);
    checkUint32('nextHop.natPortRangeFrom', h.natPortRangeFrom);
    checkUint32('nextHop.natPortRangeTo', h.natPortRangeTo);
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_DESTINATION: WireDestination = { ipVersion: 0, prefix: EMPTY, prefixLength: 0 };
const EMPTY_NEXT_HOP: WireNextHop = {
  targetAddress: EMPTY,
  targetVni: 0,
  type: 0,
  natPortRangeFrom: 0,
  natPortRangeTo: 0,
};

/**
 * Encodes an UPDATE. A missing destination or next hop is written as an empty submessage, as both
 * references do.
 */
export function encodeUpdate(u: UpdateMessage): Buffer {
  checkUpdate(u);
  const d = u.destination ?? EMPTY_DESTINATION;
  const h = u.nextHop ?? EMPTY_NEXT_HOP;
  const dSize = destinationSize(d);
  const hSize = nextHopSize(h);
  const size =
    varintField(u.action) +
    varintField(u.vni) +
    1 +
    varintSize(dSize) +
    dSize +
    1 +
    varintSize(hSize) +
    hSize;
  const buf = frame(MessageType.UPDATE, size);
  let p = HEADER_SIZE;
  if (u.action !== 0) {
    buf[p++] = 0x08;
    p = writeVarint(buf, p, u.action);
  }
  if (u.vni !== 0) {
    buf[p++] = 0x10;
    p = writeVarint(buf, p, u.vni);
  }
  buf[p++] = 0x1a;
  p = writeVarint(buf, p, dSize);
  if (d.ipVersion !== 0) {
    buf[p++] = 0x08;
    p = writeVarint(buf, p, d.ipVersion);
  }
  if (d.prefix.length !== 0) {
    buf[p++] = 0x12;
    p = writeVarint(buf, p, d.prefix.length);
    buf.set(d.prefix, p);
    p += d.prefix.length;
  }
  if (d.prefixLength !== 0) {
    buf[p++] = 0x18;
    p = writeVarint(buf, p, d.prefixLength);
  }
  buf[p++] = 0x22;
  p = writeVarint(buf, p, hSize);
  if (h.targetAddress.length !== 0) {
    buf[p++] = 0x0a;
    p = writeVarint(buf, p, h.targetAddress.length);
    buf.set(h.targetAddress, p);
    p += h.targetAddress.length;
  }
  if (h.targetVni !== 0) {
    buf[p++] = 0x10;
    p = writeVarint(buf, p, h.targetVni);
  }
  if (h.type !== 0) {
    buf[p++] = 0x18;
    p = writeVarint(buf, p, h.type);
  }
  if (natPorts(h)) {
    if (h.natPortRangeFrom !== 0) {
      buf[p++] = 0x20;
      p = writeVarint(buf, p, h.natPortRangeFrom);
    }
    if (h.natPortRangeTo !== 0) {
      buf[p++] = 0x28;
      writeVarint(buf, p, h.natPortRangeTo);
    }
  }
  return buf;
}

/** Encodes any message as a complete frame. */
export function encodeMessage(m: Message): Buffer {
  switch (m.type) {
    case 'HELLO':
      return encodeHello(m.keepaliveInterval, m.isServer, m.features);
    case 'KEEPALIVE':
      return encodeKeepalive();
    case 'SUBSCRIBE':
      return encodeSubscribe(m.vni);
    case 'UNSUBSCRIBE':
      return encodeUnsubscribe(m.vni);
    case 'UPDATE':
      return encodeUpdate(m);
    case 'SYNCED':
      return encodeSynced(m.vni);
    case 'REFUSED':
      return encodeRefused(m.kind, m.vni, m.reason, m.update);
  }
}
