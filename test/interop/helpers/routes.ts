/**
 * Routes as the interop tests compare them: one canonical line per (vni, route), e.g.
 * `100 10.0.1.0/24 via 2001:db8::1 (VNI: 500) [NAT ports 1024-2048]` (tsbond's formatRoute), no
 * matter whether the route was read from a Go client's /routes.json, a rustbond-peer JSON line or
 * a tsbond RouteHandler call. Also the announcement strings of each peer's CLI.
 */

import {
  formatRoute,
  nextHop,
  parseDestination,
  type NextHopType,
  type Route,
  type Vni,
} from '../../../src/model/route.js';

export interface VniRoute {
  readonly vni: Vni;
  readonly route: Route;
}

/** `VNI PREFIX via HOP...`, the canonical comparison form. */
export function routeLine(vni: Vni, route: Route): string {
  return `${String(vni)} ${formatRoute(route)}`;
}

export function lines(routes: readonly VniRoute[]): string[] {
  return routes.map((r) => routeLine(r.vni, r.route)).sort();
}

export interface RouteSpec {
  readonly vni: Vni;
  readonly prefix: string;
  readonly hop: string;
  readonly type?: NextHopType;
  readonly targetVni?: number;
  readonly natFrom?: number;
  readonly natTo?: number;
}

export function makeRoute(s: RouteSpec): VniRoute {
  const type = s.type ?? 'STANDARD';
  return {
    vni: s.vni,
    route: {
      destination: parseDestination(s.prefix),
      nextHop: nextHop(s.hop, {
        type,
        targetVni: s.targetVni ?? 0,
        natPortRangeFrom: type === 'NAT' ? (s.natFrom ?? 0) : 0,
        natPortRangeTo: type === 'NAT' ? (s.natTo ?? 0) : 0,
      }),
    },
  };
}

const TYPE_WORD: Record<NextHopType, string> = {
  STANDARD: 'std',
  NAT: 'nat',
  LOADBALANCER_TARGET: 'lb',
};

/**
 * Go CLI form `VNI#PREFIX#NEXTHOP[#TYPE][#FROM#TO]`. The Go CLI cannot express a target VNI and
 * rejects NAT ports above 32767 (ParseInt(..., 16)).
 */
export function goAnnouncement(r: VniRoute): string {
  const h = r.route.nextHop;
  const d = r.route.destination;
  if (h.targetVni !== 0) throw new Error('the Go CLI cannot announce a target VNI');
  const base = `${String(r.vni)}#${d.address}/${String(d.prefixLength)}#${h.address}`;
  if (h.type === 'NAT') {
    if (h.natPortRangeFrom > 32767 || h.natPortRangeTo > 32767) {
      throw new Error('the Go CLI rejects NAT ports above 32767');
    }
    return `${base}#NAT#${String(h.natPortRangeFrom)}#${String(h.natPortRangeTo)}`;
  }
  // Go matches substrings: "LB" -> LOADBALANCER_TARGET, "STD" -> STANDARD.
  return h.type === 'LOADBALANCER_TARGET' ? `${base}#LB` : `${base}#STD`;
}

/** rustbond-peer form `VNI#PREFIX@NEXTHOP[%TARGETVNI][#TYPE[#FROM#TO]]`. */
export function rustAnnouncement(r: VniRoute): string {
  const h = r.route.nextHop;
  const d = r.route.destination;
  const tv = h.targetVni !== 0 ? `%${String(h.targetVni)}` : '';
  const base = `${String(r.vni)}#${d.address}/${String(d.prefixLength)}@${h.address}${tv}#${TYPE_WORD[h.type]}`;
  return h.type === 'NAT'
    ? `${base}#${String(h.natPortRangeFrom)}#${String(h.natPortRangeTo)}`
    : base;
}

/** 10.B.C.D/32 for i in 0..2^24, a compact host route per index (bursts). */
export function burstPrefix(i: number, base = 10): string {
  return `${String(base)}.${String((i >> 16) & 255)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`;
}

const NEXT_HOP_TYPE_BY_NUMBER: readonly NextHopType[] = ['STANDARD', 'NAT', 'LOADBALANCER_TARGET'];

export function hopTypeFromNumber(n: number): NextHopType {
  const t = NEXT_HOP_TYPE_BY_NUMBER[n];
  if (t === undefined) throw new Error(`unknown next hop type number ${String(n)}`);
  return t;
}

export function hopTypeFromName(s: string): NextHopType {
  if (s === 'STANDARD' || s === 'NAT' || s === 'LOADBALANCER_TARGET') return s;
  throw new Error(`unknown next hop type name ${s}`);
}

/** Builds a route from the field values the peers report (numbers and strings). */
export function routeFromFields(
  vni: number,
  prefix: string,
  hop: string,
  type: NextHopType,
  targetVni: number,
  natFrom: number,
  natTo: number,
): VniRoute {
  return {
    vni,
    route: {
      destination: parseDestination(prefix),
      nextHop: nextHop(hop, {
        type,
        targetVni,
        // Ports on a non-NAT hop make nextHop() throw: a peer reporting them is a finding.
        natPortRangeFrom: natFrom,
        natPortRangeTo: natTo,
      }),
    },
  };
}
