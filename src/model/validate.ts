/**
 * Semantic validation of decoded UPDATEs (behaviour.md, Wire). An invalid UPDATE is dropped alone;
 * it is never stored or forwarded (such routes poison rustbond peers).
 */

import { InvalidUpdateError } from '../errors.js';
import type { UpdateFields } from '../wire/decode.js';
import type { UpdateMessage } from '../wire/messages.js';
import { WireAction, WireIpVersion, WireNextHopType } from '../wire/messages.js';
import { canonicalRouteKey } from '../wire/route-key.js';
import { AddressTextCache, formatIPv4, formatIPv6 } from './ip.js';
import { NEXT_HOP_TYPES, type Route, type Vni } from './route.js';

export type RouteAction = 'ADD' | 'REMOVE';

/** Invalid UPDATEs logged per peer (or server) by default before further ones are only counted. */
export const INVALID_UPDATE_LOG_LIMIT = 20;

/** Stable labels of the invalid-UPDATE reasons (metrics), by the reason text's start. */
const REASON_CODES: readonly [string, string][] = [
  ['missing destination', 'missing_destination'],
  ['missing nextHop', 'missing_next_hop'],
  ['unknown action', 'unknown_action'],
  ['unknown ipVersion', 'unknown_ip_version'],
  ['ipVersion', 'ip_version_mismatch'],
  ['prefix length', 'prefix_length'],
  ['next hop is', 'next_hop_address'],
  ['unknown next hop type', 'unknown_next_hop_type'],
  ['NAT port range', 'nat_ports'],
];

/** A stable label for a reason given by updateInvalidReason(). */
export function invalidReasonCode(reason: string): string {
  for (const [start, code] of REASON_CODES) if (reason.startsWith(start)) return code;
  return 'other';
}

/** A validated UPDATE. */
export interface RouteUpdate {
  readonly action: RouteAction;
  readonly vni: Vni;
  readonly route: Route;
}

/**
 * Returns why an UPDATE is invalid, or undefined when it is valid. Scalar arguments so that the
 * hot path can call it on a parsed buffer without allocating.
 */
export function updateInvalidReason(
  action: number,
  hasDestination: boolean,
  ipVersion: number,
  prefixBytes: number,
  prefixLength: number,
  hasNextHop: boolean,
  addressBytes: number,
  hopType: number,
  natFrom: number,
  natTo: number,
): string | undefined {
  if (!hasDestination) return 'missing destination';
  if (!hasNextHop) return 'missing nextHop';
  if (action !== WireAction.ADD && action !== WireAction.REMOVE) {
    return `unknown action ${String(action)}`;
  }
  if (ipVersion !== WireIpVersion.IPv4 && ipVersion !== WireIpVersion.IPv6) {
    return `unknown ipVersion ${String(ipVersion)}`;
  }
  const expected = ipVersion === WireIpVersion.IPv4 ? 4 : 16;
  if (prefixBytes !== expected) {
    return `ipVersion ${ipVersion === WireIpVersion.IPv4 ? 'IPv4' : 'IPv6'} with a ${String(prefixBytes)}-byte prefix`;
  }
  if (prefixLength > expected * 8) {
    return `prefix length ${String(prefixLength)} above ${String(expected * 8)}`;
  }
  if (addressBytes !== 16) {
    return `next hop is ${String(addressBytes)} bytes, not a 16-byte IPv6 address`;
  }
  if (hopType > WireNextHopType.LOADBALANCER_TARGET) {
    return `unknown next hop type ${String(hopType)}`;
  }
  if (hopType === WireNextHopType.NAT) {
    if (natFrom > 65535 || natTo > 65535) {
      return `NAT port range ${String(natFrom)}-${String(natTo)} above 65535`;
    }
    if (natFrom > natTo) return `NAT port range from ${String(natFrom)} > to ${String(natTo)}`;
  }
  return undefined;
}

export function fieldsInvalidReason(f: UpdateFields): string | undefined {
  return updateInvalidReason(
    f.action,
    f.hasDestination,
    f.ipVersion,
    f.prefixEnd - f.prefixStart,
    f.prefixLength,
    f.hasNextHop,
    f.addressEnd - f.addressStart,
    f.hopType,
    f.natFrom,
    f.natTo,
  );
}

/** Canonical key of a valid parsed UPDATE (see wire/route-key.ts). */
export function fieldsRouteKey(f: UpdateFields): string {
  return canonicalRouteKey(
    f.vni,
    f.buf,
    f.prefixStart,
    f.prefixEnd,
    f.prefixLength,
    f.buf,
    f.addressStart,
    f.addressEnd,
    f.targetVni,
    f.hopType,
    f.natFrom,
    f.natTo,
  );
}

/**
 * The route of a valid parsed UPDATE. NAT ports of a non-NAT hop are dropped (they are never sent,
 * so keeping them would make two routes that look identical on the wire).
 */
const nextHopText = new AddressTextCache();

export function fieldsRoute(f: UpdateFields): Route {
  const b = f.buf;
  const v4 = f.prefixEnd - f.prefixStart === 4;
  const nat = f.hopType === WireNextHopType.NAT;
  return {
    destination: {
      family: v4 ? 4 : 6,
      address: v4 ? formatIPv4(b, f.prefixStart) : formatIPv6(b, f.prefixStart),
      prefixLength: f.prefixLength,
    },
    nextHop: {
      address: nextHopText.formatIPv6(b, f.addressStart),
      targetVni: f.targetVni,
      type: NEXT_HOP_TYPES[f.hopType] ?? 'STANDARD',
      natPortRangeFrom: nat ? f.natFrom : 0,
      natPortRangeTo: nat ? f.natTo : 0,
    },
  };
}

/** Reads a uint32 varint at `p` into varintValue; returns its end. */
function readVarint(b: Uint8Array, p: number): number {
  let v = 0;
  let mul = 1;
  for (;;) {
    const c = b[p++] ?? 0;
    v += (c & 0x7f) * mul;
    if (c < 0x80) break;
    mul *= 128;
  }
  varintValue = v;
  return p;
}

/** Value of the last readVarint() (module scratch: the caller reads it at once). */
let varintValue = 0;

/**
 * The route of a canonical UPDATE payload whose key starts at `keyStart` (the payload after the
 * action field), as accepted by canonicalUpdateKeyStart(): the same route fieldsRoute() gives for
 * it, read straight from the known layout without a general decode.
 */
export function canonicalPayloadRoute(b: Buffer, keyStart: number): Route {
  let p = keyStart;
  if (b[p] === 0x10) p = readVarint(b, p + 1);
  // Destination: 1a len [08 01] 12 n bytes [18 prefixLength]
  const dEnd = p + 2 + (b[p + 1] ?? 0);
  p += 2;
  const v6 = b[p] === 0x08;
  if (v6) p += 2;
  const prefixStart = p + 2;
  p = prefixStart + (v6 ? 16 : 4);
  let prefixLength = 0;
  if (p < dEnd) {
    p = readVarint(b, p + 1);
    prefixLength = varintValue;
  }
  // Next hop: 22 len 0a 10 [16 bytes] [10 targetVni] [18 type] [20 from] [28 to]
  const hEnd = p + 2 + (b[p + 1] ?? 0);
  const addressStart = p + 4;
  p = addressStart + 16;
  let targetVni = 0;
  if (p < hEnd && b[p] === 0x10) {
    p = readVarint(b, p + 1);
    targetVni = varintValue;
  }
  let type = 0;
  if (p < hEnd && b[p] === 0x18) {
    type = b[p + 1] ?? 0;
    p += 2;
  }
  let from = 0;
  let to = 0;
  if (p < hEnd && b[p] === 0x20) {
    p = readVarint(b, p + 1);
    from = varintValue;
  }
  if (p < hEnd && b[p] === 0x28) {
    readVarint(b, p + 1);
    to = varintValue;
  }
  const nat = type === WireNextHopType.NAT;
  return {
    destination: {
      family: v6 ? 6 : 4,
      address: v6 ? formatIPv6(b, prefixStart) : formatIPv4(b, prefixStart),
      prefixLength,
    },
    nextHop: {
      address: nextHopText.formatIPv6(b, addressStart),
      targetVni,
      type: NEXT_HOP_TYPES[type] ?? 'STANDARD',
      natPortRangeFrom: nat ? from : 0,
      natPortRangeTo: nat ? to : 0,
    },
  };
}

/** Validates a decoded UPDATE message; throws InvalidUpdateError naming the invalid part. */
export function validateUpdate(m: UpdateMessage): RouteUpdate {
  const d = m.destination;
  const h = m.nextHop;
  const reason = updateInvalidReason(
    m.action,
    d !== undefined,
    d?.ipVersion ?? 0,
    d?.prefix.length ?? 0,
    d?.prefixLength ?? 0,
    h !== undefined,
    h?.targetAddress.length ?? 0,
    h?.type ?? 0,
    h?.natPortRangeFrom ?? 0,
    h?.natPortRangeTo ?? 0,
  );
  if (reason !== undefined || d === undefined || h === undefined) {
    throw new InvalidUpdateError(reason ?? 'incomplete');
  }
  const v4 = d.prefix.length === 4;
  const nat = h.type === WireNextHopType.NAT;
  return {
    action: m.action === WireAction.REMOVE ? 'REMOVE' : 'ADD',
    vni: m.vni,
    route: {
      destination: {
        family: v4 ? 4 : 6,
        address: v4 ? formatIPv4(d.prefix) : formatIPv6(d.prefix),
        prefixLength: d.prefixLength,
      },
      nextHop: {
        address: formatIPv6(h.targetAddress),
        targetVni: h.targetVni,
        type: NEXT_HOP_TYPES[h.type] ?? 'STANDARD',
        natPortRangeFrom: nat ? h.natPortRangeFrom : 0,
        natPortRangeTo: nat ? h.natPortRangeTo : 0,
      },
    },
  };
}
