/**
 * MetalBond messages as they are on the wire (proto/metalbond.proto). Enum fields hold the raw
 * number received, so that a decodable but unknown value can be reported by validation instead of
 * failing the whole stream.
 */

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 4;
/** Largest payload either reference sends; larger is refused on send and on receive. */
export const MAX_PAYLOAD_SIZE = 1188;

/** Frame header: version(1) | payload length(2, big-endian) | type(1). */
export const HEADER_LENGTH_OFFSET = 1;
export const HEADER_TYPE_OFFSET = 3;
/** The largest complete frame. */
export const MAX_FRAME_SIZE = HEADER_SIZE + MAX_PAYLOAD_SIZE;

export const MessageType = {
  HELLO: 1,
  KEEPALIVE: 2,
  SUBSCRIBE: 3,
  UNSUBSCRIBE: 4,
  UPDATE: 5,
  /** tsbond extension (SYNC_MARKER): a subscription's routes are complete. */
  SYNCED: 100,
  /** tsbond extension (REFUSALS): the server refused an UPDATE or SUBSCRIBE. */
  REFUSED: 101,
} as const;
export type MessageTypeName = keyof typeof MessageType;
export type MessageTypeCode = (typeof MessageType)[MessageTypeName];

export const MESSAGE_TYPE_NAMES: Readonly<Record<number, MessageTypeName | undefined>> = {
  1: 'HELLO',
  2: 'KEEPALIVE',
  3: 'SUBSCRIBE',
  4: 'UNSUBSCRIBE',
  5: 'UPDATE',
  100: 'SYNCED',
  101: 'REFUSED',
};

/** Whether `type` is one of the five message types of the MetalBond protocol. */
export function isCoreMessageType(type: number): boolean {
  return type >= MessageType.HELLO && type <= MessageType.UPDATE;
}

/**
 * tsbond feature bits, carried in HELLO field 1000 (docs/protocol.md). Invisible to Go MetalBond and
 * rustbond, which skip unknown fields.
 */
export const Feature = {
  /** The sender reassembles the TCP stream at any split: writes to it need no pacing. */
  REASSEMBLY: 1,
  /** SYNCED messages (type 100), needed on both sides. */
  SYNC_MARKER: 2,
  /** REFUSED messages (type 101), needed on both sides. */
  REFUSALS: 4,
} as const;
/** Every feature this implementation has. */
export const ALL_FEATURES = Feature.REASSEMBLY | Feature.SYNC_MARKER | Feature.REFUSALS;
/** HELLO field number of the feature bits (key bytes `c0 3e`). */
export const HELLO_FEATURES_FIELD = 1000;

/** REFUSED.kind: what was refused. */
export const RefusedKind = { UPDATE: 1, SUBSCRIBE: 2 } as const;
/** Longest REFUSED reason sent, in bytes (longer ones are cut). */
export const MAX_REFUSAL_REASON_BYTES = 200;

/** Wire values of the proto enums. */
export const WireAction = { ADD: 0, REMOVE: 1 } as const;
export const WireIpVersion = { IPv4: 0, IPv6: 1 } as const;
export const WireNextHopType = { STANDARD: 0, NAT: 1, LOADBALANCER_TARGET: 2 } as const;

export interface HelloMessage {
  readonly type: 'HELLO';
  readonly keepaliveInterval: number;
  readonly isServer: boolean;
  /** tsbond feature bits (field 1000); absent when the field was not on the wire. */
  readonly features?: number;
}

export interface KeepaliveMessage {
  readonly type: 'KEEPALIVE';
}

export interface SubscribeMessage {
  readonly type: 'SUBSCRIBE';
  readonly vni: number;
}

export interface UnsubscribeMessage {
  readonly type: 'UNSUBSCRIBE';
  readonly vni: number;
}

export interface WireDestination {
  /** 0 = IPv4, 1 = IPv6 (raw value as received). */
  readonly ipVersion: number;
  readonly prefix: Uint8Array;
  readonly prefixLength: number;
}

export interface WireNextHop {
  readonly targetAddress: Uint8Array;
  readonly targetVni: number;
  /** 0 = STANDARD, 1 = NAT, 2 = LOADBALANCER_TARGET (raw value as received). */
  readonly type: number;
  readonly natPortRangeFrom: number;
  readonly natPortRangeTo: number;
}

export interface UpdateMessage {
  readonly type: 'UPDATE';
  /** 0 = ADD, 1 = REMOVE (raw value as received). */
  readonly action: number;
  readonly vni: number;
  /** Absent when the field was not on the wire (an invalid UPDATE, refused by validation). */
  readonly destination?: WireDestination | undefined;
  readonly nextHop?: WireNextHop | undefined;
}

export interface SyncedMessage {
  readonly type: 'SYNCED';
  readonly vni: number;
}

export interface RefusedMessage {
  readonly type: 'REFUSED';
  /** RefusedKind: 1 = UPDATE, 2 = SUBSCRIBE (raw value as received). */
  readonly kind: number;
  readonly vni: number;
  readonly reason: string;
  /** The refused UPDATE's payload (kind UPDATE). */
  readonly update?: Uint8Array;
}

export type Message =
  | HelloMessage
  | KeepaliveMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | UpdateMessage
  | SyncedMessage
  | RefusedMessage;
