/**
 * Desired and known kernel state per kernel route, pure. A kernel route is keyed by (table, masked
 * prefix): 10.0.1.7/24 and 10.0.1.0/24 are one kernel route. Its legs are the distinct next-hop
 * addresses of the tsbond routes that map to it (several routes, e.g. NAT hops with different port
 * ranges, can share an address), sorted by address bytes.
 *
 * Legs are handled as text: each address as 32 lowercase hex digits (sorting the text sorts the
 * bytes), a set of legs as the sorted addresses joined with ','.
 */

import { LWTUNNEL_ENCAP_IP6 } from './constants.js';
import type { DecodedRoute } from './decode.js';
import type { AddressFamily } from './encode.js';
import type { NhObject } from './nexthops.js';
import { formatIP, parseIP, parseIPv6 } from '../model/ip.js';
import type { Route, Vni } from '../model/route.js';

/** What the kernel holds for a route: the object of ours it uses, or no route ('none'), a route
 * that uses none of our objects ('other': legs written inline, someone else's object), or not
 * known ('unknown': an acknowledgement was lost). */
export type KernelSide = NhObject | 'none' | 'other' | 'unknown';

export interface KernelRouteState {
  /** `${table} ${prefix}/${len}`, with `@${priority}` for a route at a non-default metric. */
  readonly id: string;
  readonly family: AddressFamily;
  readonly table: number;
  /** Canonical text of the destination address, host bits cleared. */
  readonly prefix: string;
  readonly dstLen: number;
  /** Its bytes, once needed (see destinationBytes). */
  dstBytes: Uint8Array | undefined;
  /** Metric of a route found in the kernel at a non-default metric (never ours to write). */
  readonly priority: number | undefined;
  /** `${hopHex}|${vni}|${destination}|${targetVni}|${type}|${from}|${to}` per tsbond route. */
  members: string[];
  /** The next hop of each member (hex, the cached string: its hash is computed once). */
  hops: string[];
  /** Legs found in the kernel at start, kept (and merged in) until the table is reconciled. */
  held: string | undefined;
  /** Members or held legs changed since `want` was last looked up. */
  legsChanged: boolean;
  /** The object for the desired legs (acquired from the registry), undefined: no route wanted. */
  want: NhObject | undefined;
  kernel: KernelSide;
  /** Queued for a write. */
  queued: boolean;
  /** Sequence number of the request in flight for this route (0: none). */
  inFlight: number;
  /** Write counter value when a request for this route was last sent. */
  sentAt: number;
  /** errno name of the last refusal (logged once per name), cleared by a success. */
  failed: string | undefined;
  /** The object (or undefined for a delete) the kernel refused with `failed`: not sent again. */
  failedFor: NhObject | undefined;
}

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** Clears the host bits of an address. */
export function maskAddress(bytes: Uint8Array, prefixLength: number): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let bit = prefixLength; bit < out.length * 8; bit++) {
    const i = bit >> 3;
    out[i] = (out[i] ?? 0) & ~(0x80 >> (bit & 7));
  }
  return out;
}

export function routeId(table: number, prefix: string, dstLen: number, priority?: number): string {
  const base = `${String(table)} ${prefix}/${String(dstLen)}`;
  return priority === undefined ? base : `${base}@${String(priority)}`;
}

export function newRouteState(
  family: AddressFamily,
  table: number,
  prefix: string,
  dstLen: number,
  priority?: number,
): KernelRouteState {
  return {
    id: routeId(table, prefix, dstLen, priority),
    family,
    table,
    prefix,
    dstLen,
    dstBytes: undefined,
    priority,
    members: [],
    hops: [],
    held: undefined,
    legsChanged: false,
    want: undefined,
    kernel: 'none',
    queued: false,
    inFlight: 0,
    sentAt: 0,
    failed: undefined,
    failedFor: undefined,
  };
}

/** A route found in the kernel (its destination has no host bits). */
export function foundRouteState(
  family: AddressFamily,
  table: number,
  dst: Uint8Array,
  dstLen: number,
  priority: number | undefined,
): KernelRouteState {
  const s = newRouteState(family, table, formatIP(dst), dstLen, priority);
  s.dstBytes = dst;
  return s;
}

/** The destination address bytes of a route (host bits clear). */
export function destinationBytes(s: KernelRouteState): Uint8Array {
  s.dstBytes ??= parseIP(s.prefix);
  if (s.dstBytes === undefined) throw new RangeError(`bad prefix ${s.prefix}`);
  return s.dstBytes;
}

/** Sets the legs found at start (they count in the desired legs while the table is held). */
export function setHeld(s: KernelRouteState, legs: string | undefined): void {
  s.held = legs;
  s.legsChanged = true;
}

/** `10.0.1.0/24 table 100` for logs. */
export function describeRoute(s: KernelRouteState): string {
  const metric = s.priority === undefined ? '' : ` metric ${String(s.priority)}`;
  return `${s.prefix}/${String(s.dstLen)} table ${String(s.table)}${metric}`;
}

/** Canonical IPv6 text of a leg. */
export function legAddress(hex: string): string {
  return formatIP(fromHex(hex));
}

/** Next-hop address text -> hex; few distinct addresses, many routes. */
const hopHexCache = new Map<string, string>();

export function hopHex(address: string): string {
  let hex = hopHexCache.get(address);
  if (hex === undefined) {
    const bytes = parseIPv6(address);
    if (bytes === undefined) throw new RangeError(`next hop ${address} is not IPv6`);
    hex = toHex(bytes);
    if (hopHexCache.size >= 65536) hopHexCache.clear();
    hopHexCache.set(address, hex);
  }
  return hex;
}

/** The member string of a tsbond route (its identity, next-hop address first, as hex). */
export function memberOf(vni: Vni, route: Route, hop = hopHex(route.nextHop.address)): string {
  const h = route.nextHop;
  const d = route.destination;
  return `${hop}|${String(vni)}|${d.address}/${String(d.prefixLength)}|${String(h.targetVni)}|${h.type}|${String(h.natPortRangeFrom)}|${String(h.natPortRangeTo)}`;
}

/**
 * Family and masked prefix text of a tsbond route's destination. Host routes (/32, /128), the
 * common case, need no parsing: the model's text is canonical.
 */
export function kernelDestination(route: Route): {
  family: AddressFamily;
  prefix: string;
  dstLen: number;
} {
  const d = route.destination;
  const dstLen = d.prefixLength;
  if (dstLen === (d.family === 4 ? 32 : 128))
    return { family: d.family, prefix: d.address, dstLen };
  const bytes = parseIP(d.address);
  if (bytes === undefined) throw new RangeError(`bad destination ${d.address}`);
  return { family: d.family, prefix: formatIP(maskAddress(bytes, dstLen)), dstLen };
}

/** Adds a member; false when it was already there. */
export function addMember(s: KernelRouteState, member: string, hop = member.slice(0, 32)): boolean {
  if (s.members.includes(member)) return false;
  s.members.push(member);
  s.hops.push(hop);
  s.legsChanged = true;
  return true;
}

/** Removes a member; false when it was not there. */
export function removeMember(s: KernelRouteState, member: string): boolean {
  const i = s.members.indexOf(member);
  if (i === -1) return false;
  s.members.splice(i, 1);
  s.hops.splice(i, 1);
  s.legsChanged = true;
  return true;
}

/** Sorted distinct legs of a list of hex addresses, joined; undefined when empty. */
export function joinLegs(hexes: Iterable<string>): string | undefined {
  const set = [...new Set(hexes)].sort();
  return set.length === 0 ? undefined : set.join(',');
}

export function splitLegs(legs: string): string[] {
  return legs.split(',');
}

/**
 * The legs this route should have in the kernel: its members' distinct next-hop addresses, plus,
 * while its table is held (not yet reconciled after a start), the legs found at start.
 */
export function desiredLegs(s: KernelRouteState, tableHeld: boolean): string | undefined {
  const held = tableHeld ? s.held : undefined;
  if (held === undefined && s.hops.length === 1) return s.hops[0];
  const hops = [...s.hops];
  if (held !== undefined) hops.push(...splitLegs(held));
  return joinLegs(hops);
}

/** The next hops (ip6 encap destinations) of a route found in the kernel, as a legs string. */
export function foundLegs(r: DecodedRoute): string | undefined {
  const hexes: string[] = [];
  for (const leg of r.legs) {
    if (leg.encapType === LWTUNNEL_ENCAP_IP6 && leg.encapDst !== undefined)
      hexes.push(toHex(leg.encapDst));
  }
  return joinLegs(hexes);
}
