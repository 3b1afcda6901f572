/**
 * MetalBond messages as they are on the wire (proto/metalbond.proto). Enum fields hold the raw
 * number received, so that a decodable but unknown value can be reported by validation instead of
 * failing the whole stream.
 */

export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 4;
/** Largest payload either reference sends; larger is refused on send and on receive. */
export const MAX_PAYLOAD_SIZE = 1188;

export const MessageType = {
  HELLO: 1,
  KEEPALIVE: 2,
  SUBSCRIBE: 3,
  UNSUBSCRIBE: 4,
  UPDATE: 5,
} as const;
export type MessageTypeName = keyof typeof MessageType;
export type MessageTypeCode = (typeof MessageType)[MessageTypeName];

export const MESSAGE_TYPE_NAMES: Readonly<Record<number, MessageTypeName | undefined>> = {
  1: 'HELLO',
  2: 'KEEPALIVE',
  3: 'SUBSCRIBE',
  4: 'UNSUBSCRIBE',
  5: 'UPDATE',
};

/** Wire values of the proto enums. */
export const WireAction = { ADD: 0, REMOVE: 1 } as const;
export const WireIpVersion = { IPv4: 0, IPv6: 1 } as const;
export const WireNextHopType = { STANDARD: 0, NAT: 1, LOADBALANCER_TARGET: 2 } as const;

export interface HelloMessage {
  readonly type: 'HELLO';
  readonly keepaliveInterval: number;
  readonly isServer: boolean;
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

export type Message =
  HelloMessage | KeepaliveMessage | SubscribeMessage | UnsubscribeMessage | UpdateMessage;
