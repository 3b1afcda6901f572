/**
 * Desired and known kernel state per kernel route, pure. A kernel route is keyed by (table, masked
 * prefix): 10.0.1.7/24 and 10.0.1.0/24 are one kernel route. Its legs are the distinct next-hop
 * addresses of the tsbond routes that map to it (several routes, e.g. NAT hops with different port
 * ranges, can share an address), sorted by address bytes.
 *
 * Legs are handled as text: each address as 32 lowercase hex digits (sorting the text sorts the
 * bytes), a set of legs as the sorted addresses joined with ','.
 *
 * A state is kept per kernel route, so it is kept small (a million routes): the destination as the
 * text the routes carry (bytes are written only into requests), the tsbond routes as pairs of
 * shared strings and numbers, no per-route key string (route-table.ts files states by their parts).
 */

import { LWTUNNEL_ENCAP_IP6 } from './constants.js';
import type { DecodedRoute } from './decode.js';
import type { AddressFamily } from './encode.js';
import type { NhObject } from './nexthops.js';
import { formatIP, parseIP, parseIPv6 } from '../model/ip.js';
import type { Destination, Route, Vni } from '../model/route.js';

/** What the kernel holds for a route: the object of ours it uses, or no route ('none'), a route
 * that uses none of our objects ('other': legs written inline, someone else's object), or not
 * known ('unknown': an acknowledgement was lost). */
export type KernelSide = NhObject | 'none' | 'other' | 'unknown';

export interface KernelRouteState {
  readonly family: AddressFamily;
  readonly table: number;
  /** Canonical text of the destination address, host bits cleared. */
  readonly prefix: string;
  readonly dstLen: number;
  /** Metric of a route found in the kernel at a non-default metric (never ours to write). */
  readonly priority: number | undefined;
  /**
   * The tsbond routes that map to this kernel route, two entries each: the next hop (32 hex
   * digits, the cached string of hopHex) and the route's identity among the routes of this kernel
   * route (memberKey: its VNI, or a string when it has more to tell it apart).
   */
  members: (string | number)[];
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

/** `${table} ${prefix}/${len}`, with `@${priority}` for a route at a non-default metric (logs, tests). */
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
    family,
    table,
    prefix,
    dstLen,
    priority,
    members: [],
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
  return newRouteState(family, table, formatIP(dst), dstLen, priority);
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

/**
 * The identity of a tsbond route among the routes of its kernel route (whose table, masked prefix
 * and prefix length they share): its VNI (a number, no allocation) for the common case of a
 * standard hop without target VNI whose destination is the kernel prefix itself, otherwise a
 * string of everything that tells two such routes apart. The next hop is kept beside it.
 */
export function memberKey(vni: Vni, route: Route, prefix: string): string | number {
  const h = route.nextHop;
  const d = route.destination;
  if (
    h.type === 'STANDARD' &&
    h.targetVni === 0 &&
    h.natPortRangeFrom === 0 &&
    h.natPortRangeTo === 0 &&
    d.address === prefix
  )
    return vni;
  return `${String(vni)}|${d.address}|${String(h.targetVni)}|${h.type}|${String(h.natPortRangeFrom)}|${String(h.natPortRangeTo)}`;
}

/** The masked prefix text of a destination. Host routes (/32, /128), the common case, need no
 * parsing: the model's text is canonical. */
export function maskedPrefix(d: Destination): string {
  if (d.prefixLength === (d.family === 4 ? 32 : 128)) return d.address;
  const bytes = parseIP(d.address);
  if (bytes === undefined) throw new RangeError(`bad destination ${d.address}`);
  return formatIP(maskAddress(bytes, d.prefixLength));
}

/**
 * Family and masked prefix text of a tsbond route's destination.
 */
export function kernelDestination(route: Route): {
  family: AddressFamily;
  prefix: string;
  dstLen: number;
} {
  const d = route.destination;
  return { family: d.family, prefix: maskedPrefix(d), dstLen: d.prefixLength };
}

/** Number of tsbond routes in a kernel route. */
export function memberCount(s: KernelRouteState): number {
  return s.members.length >> 1;
}

function memberIndex(s: KernelRouteState, hop: string, key: string | number): number {
  const m = s.members;
  for (let i = 0; i < m.length; i += 2) if (m[i + 1] === key && m[i] === hop) return i;
  return -1;
}

/** Adds a tsbond route (next hop as hex, memberKey); false when it was already there. */
export function addMember(s: KernelRouteState, hop: string, key: string | number): boolean {
  if (s.members.length === 0) {
    s.members = [hop, key]; // exact size: most kernel routes have one
  } else {
    if (memberIndex(s, hop, key) !== -1) return false;
    s.members.push(hop, key);
  }
  s.legsChanged = true;
  return true;
}

/** Removes a tsbond route; false when it was not there. */
export function removeMember(s: KernelRouteState, hop: string, key: string | number): boolean {
  const i = memberIndex(s, hop, key);
  if (i === -1) return false;
  s.members.splice(i, 2);
  s.legsChanged = true;
  return true;
}

/** Forgets every tsbond route of a kernel route. */
export function clearMembers(s: KernelRouteState): void {
  s.members = [];
  s.legsChanged = true;
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
  const m = s.members;
  if (held === undefined && m.length === 2) return m[0] as string;
  const hops: string[] = [];
  for (let i = 0; i < m.length; i += 2) hops.push(m[i] as string);
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
