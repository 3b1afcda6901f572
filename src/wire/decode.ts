/**
 * Payload decoders. Any field order, repeated fields (last scalar wins, submessages merge) and
 * unknown fields are accepted, as by the protobuf decoders of both references. Malformed protobuf
 * raises ProtocolError. Semantic checks of UPDATEs live in model/validate.ts.
 */

import { ProtocolError } from '../errors.js';
import {
  MESSAGE_TYPE_NAMES,
  MessageType,
  type HelloMessage,
  type Message,
  type UpdateMessage,
} from './messages.js';
import { Reader, WIRE_LEN, WIRE_VARINT } from './protobuf.js';

function expectWireType(field: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new ProtocolError(`field ${field} has wire type ${String(actual)}`);
  }
}

export function decodeHello(p: Uint8Array, start = 0, end = p.length): HelloMessage {
  const r = new Reader(p, start, end);
  let keepaliveInterval = 0;
  let isServer = false;
  while (r.pos < end) {
    const tag = r.uint32();
    const field = tag >>> 3;
    const wt = tag & 7;
    if (field === 1) {
      expectWireType('Hello.keepaliveInterval', wt, WIRE_VARINT);
      keepaliveInterval = r.uint32();
    } else if (field === 2) {
      expectWireType('Hello.isServer', wt, WIRE_VARINT);
      isServer = r.uint32() !== 0;
    } else {
      r.skip(wt);
    }
  }
  return { type: 'HELLO', keepaliveInterval, isServer };
}

/** Decodes the Subscription payload of SUBSCRIBE/UNSUBSCRIBE into its VNI. */
export function decodeSubscriptionVni(p: Uint8Array, start = 0, end = p.length): number {
  const r = new Reader(p, start, end);
  let vni = 0;
  while (r.pos < end) {
    const tag = r.uint32();
    const wt = tag & 7;
    if (tag >>> 3 === 1) {
      expectWireType('Subscription.vni', wt, WIRE_VARINT);
      vni = r.uint32();
    } else {
      r.skip(wt);
    }
  }
  return vni;
}

/**
 * Mutable, reusable result of parsing an UPDATE payload without copying: byte fields are given as
 * offsets into the parsed buffer. The server's hot path parses into one instance per connection.
 */
export class UpdateFields {
  buf: Uint8Array = new Uint8Array(0);
  action = 0;
  vni = 0;
  hasDestination = false;
  ipVersion = 0;
  prefixStart = 0;
  prefixEnd = 0;
  prefixLength = 0;
  hasNextHop = false;
  addressStart = 0;
  addressEnd = 0;
  targetVni = 0;
  hopType = 0;
  natFrom = 0;
  natTo = 0;
  private readonly reader = new Reader(new Uint8Array(0), 0, 0);
  private readonly subReader = new Reader(new Uint8Array(0), 0, 0);

  /** Parses `p[start, end)`; throws ProtocolError when the payload is not valid protobuf. */
  parse(p: Uint8Array, start = 0, end = p.length): this {
    this.buf = p;
    this.action = 0;
    this.vni = 0;
    this.hasDestination = false;
    this.ipVersion = 0;
    this.prefixStart = this.prefixEnd = 0;
    this.prefixLength = 0;
    this.hasNextHop = false;
    this.addressStart = this.addressEnd = 0;
    this.targetVni = 0;
    this.hopType = 0;
    this.natFrom = 0;
    this.natTo = 0;
    const r = this.reader.reset(p, start, end);
    while (r.pos < end) {
      const tag = r.uint32();
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          expectWireType('Update.action', wt, WIRE_VARINT);
          this.action = r.uint32();
          break;
        case 2:
          expectWireType('Update.vni', wt, WIRE_VARINT);
          this.vni = r.uint32();
          break;
        case 3: {
          expectWireType('Update.destination', wt, WIRE_LEN);
          const s = r.lengthDelimited();
          this.hasDestination = true;
          this.parseDestination(p, s, r.pos);
          break;
        }
        case 4: {
          expectWireType('Update.nextHop', wt, WIRE_LEN);
          const s = r.lengthDelimited();
          this.hasNextHop = true;
          this.parseNextHop(p, s, r.pos);
          break;
        }
        default:
          r.skip(wt);
      }
    }
    return this;
  }

  private parseDestination(p: Uint8Array, start: number, end: number): void {
    const r = this.subReader.reset(p, start, end);
    while (r.pos < end) {
      const tag = r.uint32();
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          expectWireType('Destination.ipVersion', wt, WIRE_VARINT);
          this.ipVersion = r.uint32();
          break;
        case 2:
          expectWireType('Destination.prefix', wt, WIRE_LEN);
          this.prefixStart = r.lengthDelimited();
          this.prefixEnd = r.pos;
          break;
        case 3:
          expectWireType('Destination.prefixLength', wt, WIRE_VARINT);
          this.prefixLength = r.uint32();
          break;
        default:
          r.skip(wt);
      }
    }
  }

  private parseNextHop(p: Uint8Array, start: number, end: number): void {
    const r = this.subReader.reset(p, start, end);
    while (r.pos < end) {
      const tag = r.uint32();
      const wt = tag & 7;
      switch (tag >>> 3) {
        case 1:
          expectWireType('NextHop.targetAddress', wt, WIRE_LEN);
          this.addressStart = r.lengthDelimited();
          this.addressEnd = r.pos;
          break;
        case 2:
          expectWireType('NextHop.targetVNI', wt, WIRE_VARINT);
          this.targetVni = r.uint32();
          break;
        case 3:
          expectWireType('NextHop.type', wt, WIRE_VARINT);
          this.hopType = r.uint32();
          break;
        case 4:
          expectWireType('NextHop.natPortRangeFrom', wt, WIRE_VARINT);
          this.natFrom = r.uint32();
          break;
        case 5:
          expectWireType('NextHop.natPortRangeTo', wt, WIRE_VARINT);
          this.natTo = r.uint32();
          break;
        default:
          r.skip(wt);
      }
    }
  }

  /** A standalone message with copied byte fields. */
  toMessage(): UpdateMessage {
    const b = this.buf;
    return {
      type: 'UPDATE',
      action: this.action,
      vni: this.vni,
      destination: this.hasDestination
        ? {
            ipVersion: this.ipVersion,
            prefix: new Uint8Array(b.subarray(this.prefixStart, this.prefixEnd)),
            prefixLength: this.prefixLength,
          }
        : undefined,
      nextHop: this.hasNextHop
        ? {
            targetAddress: new Uint8Array(b.subarray(this.addressStart, this.addressEnd)),
            targetVni: this.targetVni,
            type: this.hopType,
            natPortRangeFrom: this.natFrom,
            natPortRangeTo: this.natTo,
          }
        : undefined,
    };
  }
}

export function decodeUpdate(p: Uint8Array, start = 0, end = p.length): UpdateMessage {
  return new UpdateFields().parse(p, start, end).toMessage();
}

/** Decodes the payload of a frame of the given type. KEEPALIVE payloads are ignored, as by both references. */
export function decodePayload(type: number, p: Uint8Array, start = 0, end = p.length): Message {
  switch (type) {
    case MessageType.HELLO:
      return decodeHello(p, start, end);
    case MessageType.KEEPALIVE:
      return { type: 'KEEPALIVE' };
    case MessageType.SUBSCRIBE:
      return { type: 'SUBSCRIBE', vni: decodeSubscriptionVni(p, start, end) };
    case MessageType.UNSUBSCRIBE:
      return { type: 'UNSUBSCRIBE', vni: decodeSubscriptionVni(p, start, end) };
    case MessageType.UPDATE:
      return decodeUpdate(p, start, end);
    default:
      throw new ProtocolError(`unknown message type ${String(type)}`);
  }
}

export function messageTypeName(type: number): string {
  return MESSAGE_TYPE_NAMES[type] ?? `type ${String(type)}`;
}
