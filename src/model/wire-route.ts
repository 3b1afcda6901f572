/** Conversion between the route model and wire UPDATEs. */

import { InvalidArgumentError } from '../errors.js';
import { UpdateFields } from '../wire/decode.js';
import { encodeUpdate } from '../wire/encode.js';
import {
  WireAction,
  WireIpVersion,
  type UpdateMessage,
  type WireDestination,
} from '../wire/messages.js';
import { formatIP, parseIP, parseIPv6 } from './ip.js';
import {
  MAX_PORT,
  NEXT_HOP_TYPES,
  checkVni,
  isVni,
  type NextHop,
  type Route,
  type Vni,
} from './route.js';
import { fieldsRoute, type RouteAction } from './validate.js';

/**
 * The UPDATE for a route given through the public API, validated as every server validates what
 * it receives (behaviour.md, Wire): a route the servers would drop is refused here with
 * INVALID_ARGUMENT, whether it was built with nextHop()/parseDestination() or by hand. Address
 * text may be in any valid form ('2001:DB8::1/48'); the wire form is canonical.
 */
export function routeToUpdate(action: RouteAction, vni: Vni, r: Route): UpdateMessage {
  checkVni(vni);
  const d = r.destination;
  const h = r.nextHop;
  const prefix = parseIP(d.address);
  const target = parseIPv6(h.address);
  if (prefix === undefined) {
    throw new InvalidArgumentError(`invalid destination address '${d.address}'`);
  }
  if (target === undefined) {
    throw new InvalidArgumentError(`invalid next hop address '${h.address}': IPv6 required`);
  }
  if (d.family !== (prefix.length === 4 ? 4 : 6)) {
    throw new InvalidArgumentError(
      `destination family ${String(d.family)} does not match address '${d.address}'`,
    );
  }
  if (
    !Number.isInteger(d.prefixLength) ||
    d.prefixLength > prefix.length * 8 ||
    d.prefixLength < 0
  ) {
    throw new InvalidArgumentError(`invalid prefix length ${String(d.prefixLength)}`);
  }
  const type = NEXT_HOP_TYPES.indexOf(h.type);
  if (type === -1) throw new InvalidArgumentError(`unknown next hop type '${h.type}'`);
  if (!isVni(h.targetVni)) {
    throw new InvalidArgumentError(
      `targetVni must be an integer in 0..4294967295, got ${String(h.targetVni)}`,
    );
  }
  checkPorts(h);
  return {
    type: 'UPDATE',
    action: action === 'REMOVE' ? WireAction.REMOVE : WireAction.ADD,
    vni,
    destination: {
      ipVersion: prefix.length === 4 ? WireIpVersion.IPv4 : WireIpVersion.IPv6,
      prefix,
      prefixLength: r.destination.prefixLength,
    },
    nextHop: {
      targetAddress: target,
      targetVni: r.nextHop.targetVni,
      type,
      natPortRangeFrom: r.nextHop.natPortRangeFrom,
      natPortRangeTo: r.nextHop.natPortRangeTo,
    },
  };
}

function isPort(v: number): boolean {
  return Number.isInteger(v) && v >= 0 && v <= MAX_PORT;
}

function checkPorts(h: NextHop): void {
  const from = h.natPortRangeFrom;
  const to = h.natPortRangeTo;
  if (!isPort(from) || !isPort(to)) {
    throw new InvalidArgumentError(
      `NAT ports must be integers in 0..${String(MAX_PORT)}, got ${String(from)}-${String(to)}`,
    );
  }
  if (h.type !== 'NAT' && (from !== 0 || to !== 0)) {
    throw new InvalidArgumentError(`NAT port range given for a ${h.type} next hop`);
  }
  if (from > to)
    throw new InvalidArgumentError(`NAT port range from ${String(from)} > to ${String(to)}`);
}

/** Complete UPDATE frame for a route. */
export function encodeRouteUpdate(action: RouteAction, vni: Vni, r: Route): Buffer {
  return encodeUpdate(routeToUpdate(action, vni, r));
}

/**
 * Canonical identity of (vni, route): equal for equal routes, different otherwise; the same key
 * the server derives from the wire (wire/route-key.ts).
 */
export function routeKey(vni: Vni, r: Route): string {
  return encodeRouteUpdate('ADD', vni, r).toString('latin1', 4);
}

/**
 * Identity of (vni, destination), for ECMP grouping and loop prevention: `VNI|ADDRESS/LENGTH` in
 * canonical text (so '2001:DB8::/48' and '2001:db8::/48' are one destination).
 */
export function destinationKey(vni: Vni, r: Route): string {
  const u = routeToUpdate('ADD', vni, r);
  const d = u.destination as WireDestination;
  return `${String(vni)}|${formatIP(d.prefix)}/${String(d.prefixLength)}`;
}

/** The canonical form of a route (validated as routeToUpdate does) and its key. */
export function canonicalRoute(vni: Vni, r: Route): { key: string; route: Route } {
  const key = routeKey(vni, r);
  return { key, route: routeFromKey(key).route };
}

/** The (vni, route) a canonical key stands for. */
export function routeFromKey(key: string): { vni: Vni; route: Route } {
  const f = new UpdateFields().parse(Buffer.from(key, 'latin1'));
  return { vni: f.vni, route: fieldsRoute(f) };
}
