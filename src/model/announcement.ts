/**
 * Announcement strings of the CLIs (behaviour.md, Announcement strings):
 * - rustbond form `VNI#PREFIX@NEXTHOP[#TYPE[#FROM#TO]]`, e.g. `100#10.0.1.0/24@2001:db8::1`
 * - Go form `VNI#PREFIX#NEXTHOP[#TYPE][#FROM#TO]`, e.g. `200#10.0.2.0/24#2001:db8::2#NAT#1024#2048`
 * Type words (any case): std|standard, nat, lb|loadbalancer|loadbalancer_target. NAT needs both
 * ports (0..65535, from <= to); other types take none.
 */

import { MetalBondError, ParseError } from '../errors.js';
import {
  nextHop,
  parseDestination,
  parseVni,
  formatDestination,
  type NextHop,
  type NextHopType,
  type Route,
  type Vni,
} from './route.js';

export interface Announcement {
  readonly vni: Vni;
  readonly route: Route;
}

const FORMS =
  'expected VNI#PREFIX@NEXTHOP[#TYPE[#FROM#TO]] (e.g. 100#10.0.1.0/24@2001:db8::1, 200#10.0.2.0/24@2001:db8::2#nat#1024#2048) ' +
  'or VNI#PREFIX#NEXTHOP[#TYPE][#FROM#TO] (e.g. 100#10.0.0.0/24#2001:db8::2#NAT#1024#2048)';

const TYPE_WORDS: Readonly<Record<string, NextHopType | undefined>> = {
  std: 'STANDARD',
  standard: 'STANDARD',
  nat: 'NAT',
  lb: 'LOADBALANCER_TARGET',
  loadbalancer: 'LOADBALANCER_TARGET',
  loadbalancer_target: 'LOADBALANCER_TARGET',
};

function bad(text: string, what: string): ParseError {
  return new ParseError(`invalid announcement '${text}': ${what}; ${FORMS}`);
}

function port(text: string, name: string, value: string): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535) {
    throw bad(text, `NAT ${name} port '${value}' must be a number in 0..65535`);
  }
  return Number(value);
}

export function parseAnnouncement(text: string): Announcement {
  const parts = text.trim().split('#');
  if (parts.length < 2 || parts.some((p) => p === '')) throw bad(text, 'missing or empty part');
  const [vniText = '', second = ''] = parts;
  let prefixText: string;
  let hopText: string;
  let rest: string[];
  if (second.includes('@')) {
    const at = second.indexOf('@');
    prefixText = second.slice(0, at);
    hopText = second.slice(at + 1);
    rest = parts.slice(2);
  } else {
    if (parts.length < 3) throw bad(text, "missing next hop (after '@' or a third '#' part)");
    prefixText = second;
    hopText = parts[2] ?? '';
    rest = parts.slice(3);
  }
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (e) {
      if (e instanceof MetalBondError) throw bad(text, e.message);
      throw e;
    }
  };
  const vni = wrap(() => parseVni(vniText));
  const destination = wrap(() => parseDestination(prefixText));
  let type: NextHopType = 'STANDARD';
  let from = 0;
  let to = 0;
  if (rest.length > 0) {
    const word = rest[0] ?? '';
    const t = TYPE_WORDS[word.toLowerCase()];
    if (t === undefined) {
      throw bad(
        text,
        `unknown type '${word}' (std|standard, nat, lb|loadbalancer|loadbalancer_target)`,
      );
    }
    type = t;
    const ports = rest.slice(1);
    if (type === 'NAT') {
      if (ports.length !== 2) throw bad(text, 'NAT needs both ports: #nat#FROM#TO');
      from = port(text, 'from', ports[0] ?? '');
      to = port(text, 'to', ports[1] ?? '');
      if (from > to) throw bad(text, `NAT port range from ${String(from)} > to ${String(to)}`);
    } else if (ports.length > 0) {
      throw bad(text, `unexpected '${ports.join('#')}' after type ${word}: only NAT takes ports`);
    }
  }
  const hop: NextHop = wrap(() =>
    nextHop(hopText, { type, natPortRangeFrom: from, natPortRangeTo: to }),
  );
  return { vni, route: { destination, nextHop: hop } };
}

const TYPE_OUT: Readonly<Record<NextHopType, string>> = {
  STANDARD: '',
  NAT: '#nat',
  LOADBALANCER_TARGET: '#lb',
};

/**
 * Formats in the rustbond form, NAT ports appended; parseAnnouncement(format(a)) equals a for
 * every route without a targetVni (the string forms of both references cannot carry one).
 */
export function formatAnnouncement(a: Announcement): string {
  const h = a.route.nextHop;
  const ports =
    h.type === 'NAT' ? `#${String(h.natPortRangeFrom)}#${String(h.natPortRangeTo)}` : '';
  return `${String(a.vni)}#${formatDestination(a.route.destination)}@${h.address}${TYPE_OUT[h.type]}${ports}`;
}
