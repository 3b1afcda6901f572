/**
 * Desired and known kernel state per kernel route, pure. A kernel route is keyed by (table, masked
 * prefix): 10.0.1.7/24 and 10.0.1.0/24 are one kernel route. Its legs are the distinct next-hop
 * addresses of the tsbond routes that map to it (several routes, e.g. NAT hops with different port
 * ranges, can share an address), sorted by address bytes.
 *
 * Legs are handled as text: each address as 32 lowercase hex digits (sorting the text sorts the
 * bytes), a set of legs as the sorted addresses joined with ','.
 */

import { IPV6_LEG_GATEWAY, LWTUNNEL_ENCAP_IP6 } from './constants.js';
import type { DecodedRoute } from './decode.js';
import type { AddressFamily } from './encode.js';
import { formatIP, parseIP, parseIPv6 } from '../model/ip.js';
import type { Route, Vni } from '../model/route.js';

export interface KernelRouteState {
  /** `${table} ${hex}/${len}`, with `@${priority}` for a route at a non-default metric. */
  readonly id: string;
  readonly family: AddressFamily;
  readonly table: number;
  /** Destination with host bits cleared. */
  readonly dst: Uint8Array;
  readonly dstLen: number;
  /** Metric of a route found in the kernel at a non-default metric (never ours to write). */
  readonly priority: number | undefined;
  /** `${hopHex}|${vni}|${destination}|${targetVni}|${type}|${from}|${to}` per tsbond route. */
  members: string[];
  /** Legs the kernel holds as far as we know; undefined: no such route in the kernel. */
  kernel: string | undefined;
  /** Legs found in the kernel at start, kept (and merged in) until the table is reconciled. */
  held: string | undefined;
  /** Queued for a write. */
  queued: boolean;
  /** Sequence number of the request in flight for this route (0: none). */
  inFlight: number;
  /** Write counter value when a request for this route was last sent. */
  sentAt: number;
  /** errno name of the last refusal (logged once per name), cleared by a success. */
  failed: string | undefined;
  /** The legs ('' for a delete) the kernel refused with `failed`: not sent again unchanged. */
  failedFor: string;
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

export function routeId(table: number, dst: Uint8Array, dstLen: number, priority?: number): string {
  const base = `${String(table)} ${toHex(dst)}/${String(dstLen)}`;
  return priority === undefined ? base : `${base}@${String(priority)}`;
}

export function newRouteState(
  family: AddressFamily,
  table: number,
  maskedDst: Uint8Array,
  dstLen: number,
  priority?: number,
): KernelRouteState {
  return {
    id: routeId(table, maskedDst, dstLen, priority),
    family,
    table,
    dst: maskedDst,
    dstLen,
    priority,
    members: [],
    kernel: undefined,
    held: undefined,
    queued: false,
    inFlight: 0,
    sentAt: 0,
    failed: undefined,
    failedFor: '',
  };
}

/** `10.0.1.0/24 table 100` for logs. */
export function describeRoute(s: KernelRouteState): string {
  const metric = s.priority === undefined ? '' : ` metric ${String(s.priority)}`;
  return `${formatIP(s.dst)}/${String(s.dstLen)} table ${String(s.table)}${metric}`;
}

/** Canonical IPv6 text of a leg. */
export function legAddress(hex: string): string {
  return formatIP(fromHex(hex));
}

/** The member string of a tsbond route (its identity, next-hop address first, as hex). */
export function memberOf(vni: Vni, route: Route): string {
  const hop = parseIPv6(route.nextHop.address);
  if (hop === undefined) throw new RangeError(`next hop ${route.nextHop.address} is not IPv6`);
  const h = route.nextHop;
  const d = route.destination;
  return `${toHex(hop)}|${String(vni)}|${d.address}/${String(d.prefixLength)}|${String(h.targetVni)}|${h.type}|${String(h.natPortRangeFrom)}|${String(h.natPortRangeTo)}`;
}

/** Destination bytes (masked) and family of a tsbond route. */
export function kernelDestination(route: Route): {
  family: AddressFamily;
  dst: Uint8Array;
  dstLen: number;
} {
  const bytes = parseIP(route.destination.address);
  if (bytes === undefined) throw new RangeError(`bad destination ${route.destination.address}`);
  const dstLen = route.destination.prefixLength;
  return { family: bytes.length === 4 ? 4 : 6, dst: maskAddress(bytes, dstLen), dstLen };
}

/** Adds a member; false when it was already there. */
export function addMember(s: KernelRouteState, member: string): boolean {
  if (s.members.includes(member)) return false;
  s.members.push(member);
  return true;
}

/** Removes a member; false when it was not there. */
export function removeMember(s: KernelRouteState, member: string): boolean {
  const i = s.members.indexOf(member);
  if (i === -1) return false;
  s.members.splice(i, 1);
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
  const hops = s.members.map((m) => m.slice(0, 32));
  if (tableHeld && s.held !== undefined) hops.push(...splitLegs(s.held));
  return joinLegs(hops);
}

const GATEWAY = parseIPv6(IPV6_LEG_GATEWAY) as Uint8Array;

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a?.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The legs of a route found in the kernel, as written by tsbond: sorted encap destinations. A
 * route with a leg tsbond would not write (another device, no ip6 encap, another gateway) or with
 * a repeated address (Go MetalBond writes one leg per route, not per address) gets a leading '!',
 * so it never equals a desired set and is rewritten.
 */
export function kernelLegs(r: DecodedRoute, ifindex: number): string {
  let foreign = r.legs.length === 0;
  const hexes: string[] = [];
  for (const leg of r.legs) {
    const ok =
      leg.ifindex === ifindex &&
      leg.encapType === LWTUNNEL_ENCAP_IP6 &&
      leg.encapDst !== undefined &&
      (r.family === 4 ? leg.gateway === undefined : sameBytes(leg.gateway, GATEWAY));
    if (!ok) foreign = true;
    if (leg.encapDst !== undefined) hexes.push(toHex(leg.encapDst));
  }
  hexes.sort();
  if (new Set(hexes).size !== hexes.length) foreign = true;
  return `${foreign ? '!' : ''}${hexes.join(',')}`;
}
