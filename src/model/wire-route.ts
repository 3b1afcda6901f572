/** Conversion between the route model and wire UPDATEs. */

import { InvalidArgumentError } from '../errors.js';
import { UpdateFields } from '../wire/decode.js';
import { encodeUpdate } from '../wire/encode.js';
import { WireAction, WireIpVersion, type UpdateMessage } from '../wire/messages.js';
import { parseIP, parseIPv6 } from './ip.js';
import { NEXT_HOP_TYPES, checkVni, type Route, type Vni } from './route.js';
import { fieldsRoute, type RouteAction } from './validate.js';

export function routeToUpdate(action: RouteAction, vni: Vni, r: Route): UpdateMessage {
  checkVni(vni);
  const prefix = parseIP(r.destination.address);
  const target = parseIPv6(r.nextHop.address);
  if (prefix === undefined) {
    throw new InvalidArgumentError(`invalid destination address '${r.destination.address}'`);
  }
  if (target === undefined) {
    throw new InvalidArgumentError(
      `invalid next hop address '${r.nextHop.address}': IPv6 required`,
    );
  }
  if (r.destination.prefixLength > prefix.length * 8 || r.destination.prefixLength < 0) {
    throw new InvalidArgumentError(`invalid prefix length ${String(r.destination.prefixLength)}`);
  }
  const type = NEXT_HOP_TYPES.indexOf(r.nextHop.type);
  if (type === -1) throw new InvalidArgumentError(`unknown next hop type '${r.nextHop.type}'`);
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

/** Identity of (vni, destination), for ECMP grouping and loop prevention. */
export function destinationKey(vni: Vni, r: Route): string {
  return `${String(vni)}|${r.destination.address}/${String(r.destination.prefixLength)}`;
}

/** The (vni, route) a canonical key stands for. */
export function routeFromKey(key: string): { vni: Vni; route: Route } {
  const f = new UpdateFields().parse(Buffer.from(key, 'latin1'));
  return { vni: f.vni, route: fieldsRoute(f) };
}
