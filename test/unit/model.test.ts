import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { InvalidArgumentError, InvalidUpdateError, ParseError } from '../../src/errors.js';
import { formatAnnouncement, parseAnnouncement } from '../../src/model/announcement.js';
import { AddressTextCache, formatIPv6, parseIPv4, parseIPv6 } from '../../src/model/ip.js';
import {
  formatNextHop,
  formatRoute,
  natNextHop,
  nextHop,
  parseDestination,
  parseVni,
  route,
  routesEqual,
} from '../../src/model/route.js';
import { validateUpdate } from '../../src/model/validate.js';
import {
  canonicalRoute,
  destinationKey,
  routeKey,
  routeToUpdate,
} from '../../src/model/wire-route.js';
import type { UpdateMessage } from '../../src/wire/messages.js';
import { vniOfKey } from '../../src/wire/route-key.js';

const addr = (s: string): Uint8Array => {
  const b = parseIPv6(s);
  assert.ok(b, s);
  return b;
};

describe('IP text', () => {
  const canon: [string, string][] = [
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:DB8::1', '2001:db8::1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:10.0.0.1', '::ffff:10.0.0.1'],
    ['::ffff:a00:1', '::ffff:10.0.0.1'],
    ['64:ff9b::192.0.2.33', '64:ff9b::c000:221'],
    ['fd00:0:0:0:0:0:0:1', 'fd00::1'],
  ];
  for (const [input, out] of canon) {
    it(`${input} -> ${out}`, () => {
      assert.equal(formatIPv6(addr(input)), out);
    });
  }
  it('refuses malformed text', () => {
    for (const s of [
      '',
      ':',
      ':::',
      '1::2::3',
      '1:2:3:4:5:6:7:8:9',
      '1:2:3:4:5:6:7',
      'g::1',
      '12345::',
      '1.2.3.4',
      '::1.2.3',
    ]) {
      assert.equal(parseIPv6(s), undefined, s);
    }
    for (const s of ['1.2.3', '256.1.1.1', '01.2.3.4', '1.2.3.4.5', 'a.b.c.d', '']) {
      assert.equal(parseIPv4(s), undefined, s);
    }
  });
  it('compresses like an independent formatter (WHATWG URL host) on zero-heavy addresses', () => {
    const group = fc.oneof(fc.constant(0), fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    fc.assert(
      fc.property(fc.array(group, { minLength: 8, maxLength: 8 }), (ws) => {
        const b = new Uint8Array(16);
        ws.forEach((w, i) => {
          b[i * 2] = w >> 8;
          b[i * 2 + 1] = w & 255;
        });
        const mapped = ws.slice(0, 5).every((w) => w === 0) && ws[5] === 0xffff;
        fc.pre(!mapped);
        const reference = new URL(`http://[${ws.map((w) => w.toString(16)).join(':')}]/`).hostname;
        assert.equal(`[${formatIPv6(b)}]`, reference);
      }),
      { numRuns: 5000 },
    );
  });

  it('round-trips any 16 bytes through text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const text = formatIPv6(b);
        assert.deepEqual(parseIPv6(text), b);
        assert.equal(formatIPv6(addr(text.toUpperCase())), text);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('AddressTextCache', () => {
  it('gives formatIPv6 text for any address, repeated or colliding', () => {
    const cache = new AddressTextCache();
    const addr = fc.uint8Array({ minLength: 16, maxLength: 16 });
    fc.assert(
      fc.property(fc.array(fc.tuple(addr, fc.nat({ max: 3 })), { maxLength: 50 }), (xs) => {
        const seen: Uint8Array[] = [];
        for (const [b, back] of xs) {
          // Sometimes an address seen before (a cache hit), sometimes one differing in byte 0
          // only (same slot, different text).
          const prev = seen[seen.length - 1 - back];
          let a: Uint8Array = b;
          if (prev !== undefined && back > 1) a = prev;
          if (prev !== undefined && back === 1) {
            a = Uint8Array.from(prev);
            a[0] = ((prev[0] ?? 0) + 1) & 0xff;
          }
          seen.push(a);
          const buf = new Uint8Array(20);
          buf.set(a, 3);
          assert.equal(cache.formatIPv6(buf, 3), formatIPv6(a));
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('route model', () => {
  it('keeps host bits', () => {
    const a = parseDestination('10.0.1.7/24');
    const b = parseDestination('10.0.1.0/24');
    assert.equal(a.address, '10.0.1.7');
    assert.notEqual(routeKey(1, route(a, '2001:db8::1')), routeKey(1, route(b, '2001:db8::1')));
  });
  it('parses IPv6 prefixes canonically', () => {
    assert.deepEqual(parseDestination('2001:DB8:1::/48'), {
      family: 6,
      address: '2001:db8:1::',
      prefixLength: 48,
    });
  });
  it('refuses bad prefixes, naming the part', () => {
    assert.throws(() => parseDestination('10.0.0.0'), /expected ADDRESS\/LENGTH/);
    assert.throws(
      () => parseDestination('10.0.0.0/33'),
      /prefix length '33' must be a number in 0..32/,
    );
    assert.throws(() => parseDestination('2001:db8::/129'), /0..128/);
    assert.throws(() => parseDestination('10.0.0.300/24'), /'10.0.0.300' is not an IP address/);
  });
  it('builds next hops and refuses invalid ones', () => {
    assert.equal(
      formatNextHop(nextHop('2001:db8::1', { targetVni: 500 })),
      '2001:db8::1 (VNI: 500)',
    );
    assert.equal(
      formatNextHop(natNextHop('2001:db8::2', 1024, 2048)),
      '2001:db8::2 [NAT ports 1024-2048]',
    );
    assert.equal(
      formatNextHop(nextHop('2001:db8::3', { type: 'LOADBALANCER_TARGET' })),
      '2001:db8::3 [LB]',
    );
    assert.throws(() => nextHop('192.168.1.1'), /must be IPv6/);
    assert.throws(() => natNextHop('::1', 2, 1), InvalidArgumentError);
    assert.throws(() => natNextHop('::1', 0, 65536), InvalidArgumentError);
    assert.throws(
      () => nextHop('::1', { natPortRangeFrom: 1, natPortRangeTo: 2 }),
      /NAT port range given for a STANDARD/,
    );
  });
  it('routeKey is injective over the identity fields', () => {
    const base = route('10.0.0.0/8', '2001:db8::3');
    const variants = [
      base,
      route('10.0.0.0/9', '2001:db8::3'),
      route('10.0.0.1/8', '2001:db8::3'),
      route('10.0.0.0/8', '2001:db8::4'),
      route('10.0.0.0/8', nextHop('2001:db8::3', { targetVni: 1 })),
      route('10.0.0.0/8', nextHop('2001:db8::3', { type: 'LOADBALANCER_TARGET' })),
      route('10.0.0.0/8', natNextHop('2001:db8::3', 0, 0)),
      route('10.0.0.0/8', natNextHop('2001:db8::3', 1, 2)),
      route('::ffff:10.0.0.0/104', '2001:db8::3'),
    ];
    const keys = new Set(variants.map((r) => routeKey(100, r)));
    assert.equal(keys.size, variants.length);
    assert.notEqual(routeKey(100, base), routeKey(101, base));
    assert.equal(routeKey(100, base), routeKey(100, route('10.0.0.0/8', '2001:0db8::0003')));
    assert.ok(routesEqual(base, route('10.0.0.0/8', '2001:db8:0::3')));
  });
  it('vniOfKey reads back the VNI of any route key (0 included, all of uint32)', () => {
    const r = route('10.0.0.0/8', '2001:db8::3');
    for (const v of [0, 1, 127, 128, 16383, 16384, 0xffffffff])
      assert.equal(vniOfKey(routeKey(v, r)), v);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (v) => vniOfKey(routeKey(v, r)) === v),
    );
  });
  it('formats routes', () => {
    assert.equal(formatRoute(route('10.0.1.0/24', '2001:db8::1')), '10.0.1.0/24 via 2001:db8::1');
  });
  it('parses VNIs', () => {
    assert.equal(parseVni('4294967295'), 4294967295);
    assert.throws(() => parseVni('4294967296'), ParseError);
    assert.throws(() => parseVni('-1'), ParseError);
    assert.throws(() => parseVni('1e3'), ParseError);
  });
});

describe('UPDATE validation', () => {
  const good = routeToUpdate('ADD', 100, route('10.0.1.0/24', '2001:db8::1'));
  const gd = good.destination;
  const gh = good.nextHop;
  assert.ok(gd && gh);
  const withDest = (
    d: Partial<NonNullable<UpdateMessage['destination']>> | undefined,
  ): UpdateMessage => ({
    ...good,
    destination: d && { ...gd, ...d },
  });
  const withHop = (
    h: Partial<NonNullable<UpdateMessage['nextHop']>> | undefined,
  ): UpdateMessage => ({
    ...good,
    nextHop: h && { ...gh, ...h },
  });
  const invalid: [string, UpdateMessage, RegExp][] = [
    ['missing destination', withDest(undefined), /missing destination/],
    ['missing nextHop', withHop(undefined), /missing nextHop/],
    ['unknown action', { ...good, action: 7 }, /unknown action 7/],
    ['unknown ipVersion', withDest({ ipVersion: 2 }), /unknown ipVersion 2/],
    ['IPv6 with 4 bytes', withDest({ ipVersion: 1 }), /ipVersion IPv6 with a 4-byte prefix/],
    [
      'IPv4 with 16 bytes',
      withDest({ prefix: new Uint8Array(16) }),
      /ipVersion IPv4 with a 16-byte prefix/,
    ],
    ['empty destination', withDest({ prefix: new Uint8Array(0) }), /0-byte prefix/],
    ['prefix length 33', withDest({ prefixLength: 33 }), /prefix length 33 above 32/],
    ['prefix length 280', withDest({ prefixLength: 280 }), /prefix length 280 above 32/],
    ['4-byte next hop', withHop({ targetAddress: new Uint8Array(4) }), /next hop is 4 bytes/],
    ['empty next hop', withHop({ targetAddress: new Uint8Array(0) }), /next hop is 0 bytes/],
    ['unknown type', withHop({ type: 9 }), /unknown next hop type 9/],
    [
      'NAT from > to',
      withHop({ type: 1, natPortRangeFrom: 5, natPortRangeTo: 4 }),
      /from 5 > to 4/,
    ],
    [
      'NAT port 70000',
      withHop({ type: 1, natPortRangeFrom: 1, natPortRangeTo: 70000 }),
      /above 65535/,
    ],
  ];
  for (const [name, m, re] of invalid) {
    it(`refuses ${name}, naming it`, () => {
      assert.throws(
        () => validateUpdate(m),
        (e: unknown) => e instanceof InvalidUpdateError && re.test(e.message),
      );
    });
  }
  it('accepts IPv6 /128 and a NAT range with from = to', () => {
    validateUpdate(routeToUpdate('ADD', 1, route('2001:db8::1/128', natNextHop('::1', 7, 7))));
  });
});

describe('the public API refuses routes every server drops (hand-built objects too)', () => {
  const dest = parseDestination('10.0.1.0/24');
  const hop = (h: Partial<ReturnType<typeof nextHop>>): ReturnType<typeof nextHop> => ({
    ...nextHop('2001:db8::1'),
    ...h,
  });
  const bad: [string, Parameters<typeof routeToUpdate>[2], RegExp][] = [
    [
      'a NAT port above 65535',
      {
        destination: dest,
        nextHop: hop({ type: 'NAT', natPortRangeFrom: 1, natPortRangeTo: 70000 }),
      },
      /NAT ports must be integers in 0..65535/,
    ],
    [
      'NAT from > to',
      { destination: dest, nextHop: hop({ type: 'NAT', natPortRangeFrom: 9, natPortRangeTo: 8 }) },
      /from 9 > to 8/,
    ],
    [
      'a fractional port',
      {
        destination: dest,
        nextHop: hop({ type: 'NAT', natPortRangeFrom: 1.5, natPortRangeTo: 8 }),
      },
      /NAT ports must be integers/,
    ],
    [
      'ports on a STANDARD hop',
      { destination: dest, nextHop: hop({ natPortRangeFrom: 1, natPortRangeTo: 2 }) },
      /NAT port range given for a STANDARD next hop/,
    ],
    [
      'an unknown type',
      { destination: dest, nextHop: hop({ type: 'ANYCAST' as 'NAT' }) },
      /unknown next hop type 'ANYCAST'/,
    ],
    [
      'a targetVni out of range',
      { destination: dest, nextHop: hop({ targetVni: -1 }) },
      /targetVni must be an integer/,
    ],
    [
      'an IPv4 next hop',
      { destination: dest, nextHop: hop({ address: '192.168.1.1' }) },
      /IPv6 required/,
    ],
    [
      'a prefix length above 32',
      { destination: { ...dest, prefixLength: 33 }, nextHop: hop({}) },
      /invalid prefix length 33/,
    ],
    [
      'a family that does not match',
      { destination: { ...dest, family: 6 }, nextHop: hop({}) },
      /family 6 does not match/,
    ],
  ];
  for (const [name, r, re] of bad) {
    it(`refuses ${name} with INVALID_ARGUMENT`, () => {
      assert.throws(
        () => routeToUpdate('ADD', 1, r),
        (e: unknown) =>
          e instanceof InvalidArgumentError && e.code === 'INVALID_ARGUMENT' && re.test(e.message),
      );
    });
  }

  it('canonicalises address text: 2001:DB8::/48 and 2001:db8:0::/48 are one destination', () => {
    const upper = {
      destination: { family: 6 as const, address: '2001:DB8::', prefixLength: 48 },
      nextHop: { ...nextHop('2001:db8::1'), address: '2001:0DB8::1' },
    };
    const lower = route('2001:db8:0::/48', '2001:db8::1');
    assert.equal(destinationKey(1, upper), '1|2001:db8::/48');
    assert.equal(destinationKey(1, upper), destinationKey(1, lower));
    assert.equal(routeKey(1, upper), routeKey(1, lower));
    assert.deepEqual(canonicalRoute(1, upper).route, lower);
  });
});

describe('announcement strings', () => {
  const ok: [string, string][] = [
    ['100#10.0.1.0/24@2001:db8::1', '100#10.0.1.0/24@2001:db8::1'],
    ['200#10.0.2.0/24@2001:db8::2#nat#1024#2048', '200#10.0.2.0/24@2001:db8::2#nat#1024#2048'],
    ['100#10.0.3.0/24@2001:db8::3#lb', '100#10.0.3.0/24@2001:db8::3#lb'],
    ['100#10.0.3.0/24@2001:db8::3#std', '100#10.0.3.0/24@2001:db8::3'],
    ['23#10.0.23.0/24#2001:db8::1#LB', '23#10.0.23.0/24@2001:db8::1#lb'],
    ['23#10.0.23.0/24#2001:db8::1', '23#10.0.23.0/24@2001:db8::1'],
    ['100#10.0.0.0/24#2001:db8::2#NAT#1024#2048', '100#10.0.0.0/24@2001:db8::2#nat#1024#2048'],
    ['100#10.0.0.0/24#2001:db8::2#NAT#0#65535', '100#10.0.0.0/24@2001:db8::2#nat#0#65535'],
    [
      '23#2001:db8:1::/48#2001:db8::cafe#LoadBalancer_Target',
      '23#2001:db8:1::/48@2001:db8::cafe#lb',
    ],
    ['7#10.0.0.0/8#2001:db8::1#Standard', '7#10.0.0.0/8@2001:db8::1'],
  ];
  for (const [input, out] of ok) {
    it(`parses ${input}`, () => {
      assert.equal(formatAnnouncement(parseAnnouncement(input)), out);
    });
  }
  const bad: [string, RegExp][] = [
    ['100', /missing or empty part/],
    ['abc#10.0.0.0/24@::1', /invalid VNI 'abc'/],
    ['100#10.0.0.0/24', /missing next hop/],
    ['100#10.0.0.0/33@::1', /prefix length '33'/],
    ['100#10.0.0.0/24@10.0.0.1', /next hops must be IPv6/],
    ['100#10.0.0.0/24@::1#foo', /unknown type 'foo'/],
    ['100#10.0.0.0/24@::1#nat', /NAT needs both ports/],
    ['100#10.0.0.0/24@::1#nat#1', /NAT needs both ports/],
    ['100#10.0.0.0/24@::1#nat#70000#70001', /NAT from port '70000'/],
    ['100#10.0.0.0/24@::1#nat#20#10', /from 20 > to 10/],
    ['100#10.0.0.0/24@::1#lb#1#2', /only NAT takes ports/],
    ['100#10.0.0.0/24##::1', /missing or empty part/],
  ];
  for (const [input, re] of bad) {
    it(`refuses ${input}`, () => {
      assert.throws(
        () => parseAnnouncement(input),
        (e: unknown) =>
          e instanceof ParseError &&
          re.test(e.message) &&
          e.message.includes('expected VNI#PREFIX@NEXTHOP'),
      );
    });
  }
  it('round-trips arbitrary announcements', () => {
    fc.assert(
      fc.property(
        fc.nat({ max: 0xffffffff }),
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.nat({ max: 32 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.constantFrom('STANDARD', 'NAT', 'LOADBALANCER_TARGET'),
        fc.nat({ max: 65535 }),
        fc.nat({ max: 65535 }),
        (vni, p, len, hop, type, a, b) => {
          const r = route(
            parseDestination(`${[...p].join('.')}/${String(len)}`),
            nextHop(
              formatIPv6(hop),
              type === 'NAT'
                ? { type, natPortRangeFrom: Math.min(a, b), natPortRangeTo: Math.max(a, b) }
                : { type },
            ),
          );
          const back = parseAnnouncement(formatAnnouncement({ vni, route: r }));
          assert.equal(back.vni, vni);
          assert.ok(routesEqual(back.route, r));
        },
      ),
      { numRuns: 1000 },
    );
  });
});
