/**
 * Payload decoders. Any field order, repeated fields (last scalar wins, submessages merge) and
 * unknown fields are accepted, as by the protobuf decoders of both references. Malformed protobuf
 * raises ProtocolError. Semantic checks of UPDATEs live in model/validate.ts.
 */

import { ProtocolError } from '../errors.js';
import {
  HELLO_FEATURES_FIELD,
  MESSAGE_TYPE_NAMES,
  MessageType,
  type HelloMessage,
  type Message,
  type RefusedMessage,
  type UpdateMessage,
} from './messages.js';
import { Reader, WIRE_LEN, WIRE_VARINT } from './protobuf.js';

/**
 * The wire types of a message's known fields, by field number. Unknown fields are skipped, as by
 * both references; a known field with another wire type is malformed (ProtocolError), except where
 * `lenient` says to ignore it (HELLO field 1000).
 */
interface FieldSpec {
  readonly name: string;
  readonly types: readonly (number | undefined)[];
  readonly lenient?: ReadonlySet<number>;
}

const HELLO_SPEC: FieldSpec = {
  name: 'Hello',
  types: [undefined, WIRE_VARINT, WIRE_VARINT],
  lenient: new Set([HELLO_FEATURES_FIELD]),
};
const SUBSCRIPTION_SPEC: FieldSpec = { name: 'Subscription', types: [undefined, WIRE_VARINT] };
const UPDATE_SPEC: FieldSpec = {
  name: 'Update',
  types: [undefined, WIRE_VARINT, WIRE_VARINT, WIRE_LEN, WIRE_LEN],
};
const DESTINATION_SPEC: FieldSpec = {
  name: 'Destination',
  types: [undefined, WIRE_VARINT, WIRE_LEN, WIRE_VARINT],
};
const NEXT_HOP_SPEC: FieldSpec = {
  name: 'NextHop',
  types: [undefined, WIRE_LEN, WIRE_VARINT, WIRE_VARINT, WIRE_VARINT, WIRE_VARINT],
};
const REFUSED_SPEC: FieldSpec = {
  name: 'Refused',
  types: [undefined, WIRE_VARINT, WIRE_VARINT, WIRE_LEN, WIRE_LEN],
};

/**
 * Reads the next field's tag. Returns its number when the caller must read its value; skips the
 * field and returns 0 when it is unknown (or lenient with another wire type).
 */
function nextField(r: Reader, spec: FieldSpec): number {
  const tag = r.uint32();
  const field = tag >>> 3;
  const wt = tag & 7;
  const expected = spec.types[field];
  if (expected === undefined) {
    if (field === HELLO_FEATURES_FIELD && spec.lenient?.has(field) === true && wt === WIRE_VARINT) {
      return field;
    }
    r.skip(wt);
    return 0;
  }
  if (wt !== expected) {
    throw new ProtocolError(`field ${spec.name}.${String(field)} has wire type ${String(wt)}`);
  }
  return field;
}

export function decodeHello(p: Uint8Array, start = 0, end = p.length): HelloMessage {
  const r = new Reader(p, start, end);
  let keepaliveInterval = 0;
  let isServer = false;
  let features: number | undefined;
  while (r.pos < end) {
    switch (nextField(r, HELLO_SPEC)) {
      case 1:
        keepaliveInterval = r.uint32();
        break;
      case 2:
        isServer = r.uint32() !== 0;
        break;
      case HELLO_FEATURES_FIELD:
        features = r.uint32();
        break;
    }
  }
  return features === undefined
    ? { type: 'HELLO', keepaliveInterval, isServer }
    : { type: 'HELLO', keepaliveInterval, isServer, features };
}

/** Decodes the Subscription payload of SUBSCRIBE/UNSUBSCRIBE (and SYNCED) into its VNI. */
export function decodeSubscriptionVni(p: Uint8Array, start = 0, end = p.length): number {
  const r = new Reader(p, start, end);
  let vni = 0;
  while (r.pos < end) if (nextField(r, SUBSCRIPTION_SPEC) === 1) vni = r.uint32();
  return vni;
}

export function decodeRefused(p: Uint8Array, start = 0, end = p.length): RefusedMessage {
  const r = new Reader(p, start, end);
  let kind = 0;
  let vni = 0;
  let reason = '';
  let update: Uint8Array | undefined;
  while (r.pos < end) {
    switch (nextField(r, REFUSED_SPEC)) {
      case 1:
        kind = r.uint32();
        break;
      case 2:
        vni = r.uint32();
        break;
      case 3: {
        const s = r.lengthDelimited();
        reason = Buffer.from(p.buffer, p.byteOffset + s, r.pos - s).toString('utf8');
        break;
      }
      case 4: {
        const s = r.lengthDelimited();
        update = new Uint8Array(p.subarray(s, r.pos));
        break;
      }
    }
  }
  return update === undefined
    ? { type: 'REFUSED', kind, vni, reason }
    : { type: 'REFUSED', kind, vni, reason, update };
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
      switch (nextField(r, UPDATE_SPEC)) {
        case 1:
          this.action = r.uint32();
          break;
        case 2:
          this.vni = r.uint32();
          break;
        case 3: {
          const s = r.lengthDelimited();
          this.hasDestination = true;
          this.parseDestination(p, s, r.pos);
          break;
        }
        case 4: {
          const s = r.lengthDelimited();
          this.hasNextHop = true;
          this.parseNextHop(p, s, r.pos);
          break;
        }
      }
    }
    return this;
  }

  private parseDestination(p: Uint8Array, start: number, end: number): void {
    const r = this.subReader.reset(p, start, end);
    while (r.pos < end) {
      switch (nextField(r, DESTINATION_SPEC)) {
        case 1:
          this.ipVersion = r.uint32();
          break;
        case 2:
          this.prefixStart = r.lengthDelimited();
          this.prefixEnd = r.pos;
          break;
        case 3:
          this.prefixLength = r.uint32();
          break;
      }
    }
  }

  private parseNextHop(p: Uint8Array, start: number, end: number): void {
    const r = this.subReader.reset(p, start, end);
    while (r.pos < end) {
      switch (nextField(r, NEXT_HOP_SPEC)) {
        case 1:
          this.addressStart = r.lengthDelimited();
          this.addressEnd = r.pos;
          break;
        case 2:
          this.targetVni = r.uint32();
          break;
        case 3:
          this.hopType = r.uint32();
          break;
        case 4:
          this.natFrom = r.uint32();
          break;
        case 5:
          this.natTo = r.uint32();
          break;
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
    case MessageType.SYNCED:
      return { type: 'SYNCED', vni: decodeSubscriptionVni(p, start, end) };
    case MessageType.REFUSED:
      return decodeRefused(p, start, end);
    default:
      throw new ProtocolError(`unknown message type ${String(type)}`);
  }
}

export function messageTypeName(type: number): string {
  return MESSAGE_TYPE_NAMES[type] ?? `type ${String(type)}`;
}
