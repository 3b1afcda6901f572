/**
 * The route model: what users of the library see. Addresses are canonical text (RFC 5952 for
 * IPv6), so two equal routes always compare and print the same.
 */

import { InvalidArgumentError, ParseError } from '../errors.js';
import { formatIP, parseIP, parseIPv6 } from './ip.js';

/** A VXLAN-style virtual network identifier, uint32 on the wire. */
export type Vni = number;

export const NEXT_HOP_TYPES = ['STANDARD', 'NAT', 'LOADBALANCER_TARGET'] as const;
export type NextHopType = (typeof NEXT_HOP_TYPES)[number];

export type IpFamily = 4 | 6;

/** Highest NAT port. */
export const MAX_PORT = 65535;

export interface Destination {
  readonly family: IpFamily;
  /** Canonical address text; host bits are kept (10.0.1.7/24 is not 10.0.1.0/24). */
  readonly address: string;
  readonly prefixLength: number;
}

export interface NextHop {
  /** Canonical IPv6 text of the underlay address (always IPv6 on the wire). */
  readonly address: string;
  /** 0 = not set. */
  readonly targetVni: number;
  readonly type: NextHopType;
  /** NAT port range; 0/0 for non-NAT hops. */
  readonly natPortRangeFrom: number;
  readonly natPortRangeTo: number;
}

export interface Route {
  readonly destination: Destination;
  readonly nextHop: NextHop;
}

export function isVni(v: unknown): v is Vni {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff;
}

export function checkVni(v: number): Vni {
  if (!isVni(v))
    throw new InvalidArgumentError(`VNI must be an integer in 0..4294967295, got ${String(v)}`);
  return v;
}

/** Parses a VNI from decimal text. */
export function parseVni(text: string): Vni {
  if (!/^[0-9]{1,10}$/.test(text) || Number(text) > 0xffffffff) {
    throw new ParseError(`invalid VNI '${text}': expected a decimal number in 0..4294967295`);
  }
  return Number(text);
}

/** Parses `ADDRESS/LENGTH` (IPv4 or IPv6); host bits are kept. */
export function parseDestination(text: string): Destination {
  const slash = text.indexOf('/');
  if (slash === -1) {
    throw new ParseError(`invalid prefix '${text}': expected ADDRESS/LENGTH, e.g. 10.0.1.0/24`);
  }
  const bytes = parseIP(text.slice(0, slash));
  const lenText = text.slice(slash + 1);
  if (bytes === undefined) {
    throw new ParseError(
      `invalid prefix '${text}': '${text.slice(0, slash)}' is not an IP address`,
    );
  }
  const max = bytes.length * 8;
  if (!/^[0-9]{1,3}$/.test(lenText) || Number(lenText) > max) {
    throw new ParseError(
      `invalid prefix '${text}': prefix length '${lenText}' must be a number in 0..${String(max)}`,
    );
  }
  return destinationFromBytes(bytes, Number(lenText));
}

export function destinationFromBytes(bytes: Uint8Array, prefixLength: number): Destination {
  if (bytes.length !== 4 && bytes.length !== 16) {
    throw new InvalidArgumentError(
      `destination address must be 4 or 16 bytes, got ${String(bytes.length)}`,
    );
  }
  const family: IpFamily = bytes.length === 4 ? 4 : 6;
  if (!Number.isInteger(prefixLength) || prefixLength < 0 || prefixLength > bytes.length * 8) {
    throw new InvalidArgumentError(
      `prefix length must be in 0..${String(bytes.length * 8)}, got ${String(prefixLength)}`,
    );
  }
  return { family, address: formatIP(bytes), prefixLength };
}

export function formatDestination(d: Destination): string {
  return `${d.address}/${String(d.prefixLength)}`;
}

function parseNextHopAddress(text: string): string {
  const bytes = parseIPv6(text);
  if (bytes === undefined) {
    throw new ParseError(
      text.includes(':')
        ? `invalid next hop '${text}': not an IPv6 address`
        : `invalid next hop '${text}': next hops must be IPv6 addresses (IPv4 next hops poison rustbond peers)`,
    );
  }
  return formatIP(bytes);
}

function checkPort(name: string, v: number): void {
  if (!Number.isInteger(v) || v < 0 || v > MAX_PORT) {
    throw new InvalidArgumentError(
      `${name} must be an integer in 0..${String(MAX_PORT)}, got ${String(v)}`,
    );
  }
}

export interface NextHopOptions {
  readonly targetVni?: number;
  readonly type?: NextHopType;
  readonly natPortRangeFrom?: number;
  readonly natPortRangeTo?: number;
}

/**
 * Builds a next hop from an IPv6 address. Ports are only allowed on NAT hops and must satisfy
 * from <= to.
 */
export function nextHop(address: string, options: NextHopOptions = {}): NextHop {
  const type = options.type ?? 'STANDARD';
  if (!NEXT_HOP_TYPES.includes(type))
    throw new InvalidArgumentError(`unknown next hop type '${type as string}'`);
  const targetVni = checkVni(options.targetVni ?? 0);
  const from = options.natPortRangeFrom ?? 0;
  const to = options.natPortRangeTo ?? 0;
  checkPort('natPortRangeFrom', from);
  checkPort('natPortRangeTo', to);
  if (type !== 'NAT' && (from !== 0 || to !== 0)) {
    throw new InvalidArgumentError(`NAT port range given for a ${type} next hop`);
  }
  if (from > to)
    throw new InvalidArgumentError(`NAT port range from ${String(from)} > to ${String(to)}`);
  return {
    address: parseNextHopAddress(address),
    targetVni,
    type,
    natPortRangeFrom: from,
    natPortRangeTo: to,
  };
}

export function natNextHop(address: string, from: number, to: number, targetVni = 0): NextHop {
  return nextHop(address, { type: 'NAT', natPortRangeFrom: from, natPortRangeTo: to, targetVni });
}

export function loadBalancerNextHop(address: string, targetVni = 0): NextHop {
  return nextHop(address, { type: 'LOADBALANCER_TARGET', targetVni });
}

/** `2001:db8::1`, `2001:db8::1 (VNI: 500)`, `2001:db8::2 [NAT ports 1024-2048]`, `2001:db8::3 [LB]`. */
export function formatNextHop(h: NextHop): string {
  let s = h.address;
  if (h.targetVni !== 0) s += ` (VNI: ${String(h.targetVni)})`;
  if (h.type === 'NAT')
    s += ` [NAT ports ${String(h.natPortRangeFrom)}-${String(h.natPortRangeTo)}]`;
  else if (h.type === 'LOADBALANCER_TARGET') s += ' [LB]';
  return s;
}

export function route(destination: Destination | string, hop: NextHop | string): Route {
  return {
    destination: typeof destination === 'string' ? parseDestination(destination) : destination,
    nextHop: typeof hop === 'string' ? nextHop(hop) : hop,
  };
}

export function formatRoute(r: Route): string {
  return `${formatDestination(r.destination)} via ${formatNextHop(r.nextHop)}`;
}

export function routesEqual(a: Route, b: Route): boolean {
  const x = a.nextHop;
  const y = b.nextHop;
  return (
    a.destination.address === b.destination.address &&
    a.destination.prefixLength === b.destination.prefixLength &&
    x.address === y.address &&
    x.targetVni === y.targetVni &&
    x.type === y.type &&
    x.natPortRangeFrom === y.natPortRangeFrom &&
    x.natPortRangeTo === y.natPortRangeTo
  );
}
