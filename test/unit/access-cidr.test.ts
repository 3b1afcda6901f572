import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  CidrList,
  addressBytes,
  cidrContains,
  isAllowed,
  parseCidr,
} from '../../src/access/cidr.js';
import { ParseError } from '../../src/errors.js';
import { formatIPv4, formatIPv6 } from '../../src/model/ip.js';

/** Reference: containment by BigInt masks, written independently of the module. */
function big(b: Uint8Array): bigint {
  let x = 0n;
  for (const v of b) x = (x << 8n) | BigInt(v);
  return x;
}
function refContains(net: Uint8Array, bits: number, addr: Uint8Array): boolean {
  const mask = bits === 0 ? 0n : ((1n << BigInt(bits)) - 1n) << BigInt(128 - bits);
  return (big(net) & mask) === (big(addr) & mask);
}
const v4 = fc.uint8Array({ minLength: 4, maxLength: 4 });
const v6 = fc.uint8Array({ minLength: 16, maxLength: 16 });
const asMapped = (b: Uint8Array): Uint8Array =>
  Uint8Array.from([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, ...b]);

describe('CIDR parsing', () => {
  it('parses both families, clears host bits, prints canonical text', () => {
    assert.equal(parseCidr('10.1.2.3/8').text, '10.0.0.0/8');
    assert.equal(parseCidr('10.1.2.3').text, '10.1.2.3/32');
    assert.equal(parseCidr('2001:DB8::1/32').text, '2001:db8::/32');
    assert.equal(parseCidr('::/0').text, '::/0');
    assert.equal(parseCidr('0.0.0.0/0').text, '0.0.0.0/0');
    assert.equal(parseCidr('fd00::1').text, 'fd00::1/128');
    assert.equal(parseCidr(' 192.168.0.0/16 ').text, '192.168.0.0/16');
  });

  it('takes an IPv4-mapped IPv6 prefix of length >= 96 as the IPv4 prefix', () => {
    const c = parseCidr('::ffff:10.0.0.0/104');
    assert.equal(c.family, 4);
    assert.equal(c.text, '10.0.0.0/8');
    assert.equal(parseCidr('::ffff:0:0/96').text, '0.0.0.0/0');
  });

  it('refuses malformed prefixes with a message naming the bad part', () => {
    for (const [bad, part] of [
      ['10.0.0.0/33', "'33'"],
      ['10.0.0/8', "'10.0.0'"],
      ['10.0.0.0/', "''"],
      ['2001:db8::/129', "'129'"],
      ['2001:db8:::/32', "'2001:db8:::'"],
      ['10.0.0.0/08', "'08'"],
      ['10.0.0.0/8/8', "'8/8'"],
      ['', "''"],
      ['abc', "'abc'"],
      ['010.0.0.0/8', "'010.0.0.0'"],
    ] as const) {
      assert.throws(
        () => parseCidr(bad),
        (e: unknown) => e instanceof ParseError && e.message.includes(part),
        bad,
      );
    }
  });

  it('round-trips its canonical text (property)', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.tuple(v4, fc.nat({ max: 32 })).map(([a, p]) => `${formatIPv4(a)}/${String(p)}`),
          fc.tuple(v6, fc.nat({ max: 128 })).map(([a, p]) => `${formatIPv6(a)}/${String(p)}`),
        ),
        (text) => {
          const c = parseCidr(text);
          assert.equal(parseCidr(c.text).text, c.text);
          assert.deepEqual(parseCidr(c.text).bytes, c.bytes);
        },
      ),
      { numRuns: 3000 },
    );
  });
});

describe('address matching', () => {
  it('reads addresses as Node reports them', () => {
    assert.deepEqual(addressBytes('10.1.2.3'), addressBytes('::ffff:10.1.2.3'));
    assert.deepEqual(addressBytes('fe80::1%eth0'), addressBytes('fe80::1'));
    assert.deepEqual(addressBytes('[2001:db8::1]'), addressBytes('2001:db8::1'));
    assert.equal(addressBytes('localhost'), undefined);
    assert.equal(addressBytes(''), undefined);
  });

  it('matches IPv4 prefixes against plain and IPv4-mapped addresses', () => {
    const c = parseCidr('10.0.0.0/8');
    assert.ok(cidrContains(c, '10.200.3.4'));
    assert.ok(cidrContains(c, '::ffff:10.200.3.4'));
    assert.ok(!cidrContains(c, '11.0.0.1'));
    assert.ok(!cidrContains(c, '::ffff:11.0.0.1'));
    assert.ok(!cidrContains(c, '::a00:1'), 'IPv4-compatible (not mapped) is not IPv4');
    assert.ok(!cidrContains(c, 'not an address'));
    assert.ok(cidrContains(parseCidr('::/0'), '10.0.0.1'), '::/0 covers the mapped space');
    assert.ok(!cidrContains(parseCidr('2001:db8::/32'), '10.0.0.1'));
    assert.ok(cidrContains(parseCidr('::1/128'), '::1'));
    assert.ok(!cidrContains(parseCidr('::1/128'), '127.0.0.1'));
    assert.ok(cidrContains(parseCidr('0.0.0.0/0'), '::ffff:1.2.3.4'));
    assert.ok(!cidrContains(parseCidr('0.0.0.0/0'), '::1'));
  });

  it('IPv4: contains(a/p, b) equals the mask reference, plain and mapped (property)', () => {
    fc.assert(
      fc.property(v4, fc.nat({ max: 32 }), v4, fc.boolean(), (net, p, a, near) => {
        // Half of the cases: an address sharing a random-length prefix with the network.
        const addr = near ? Uint8Array.from(net.map((x, i) => (i < p >> 3 ? x : (a[i] ?? 0)))) : a;
        const c = parseCidr(`${formatIPv4(net)}/${String(p)}`);
        const want = refContains(asMapped(net), p + 96, asMapped(addr));
        assert.equal(cidrContains(c, formatIPv4(addr)), want);
        assert.equal(cidrContains(c, `::ffff:${formatIPv4(addr)}`), want);
      }),
      { numRuns: 5000 },
    );
  });

  it('IPv6: contains(a/p, b) equals the mask reference (property)', () => {
    fc.assert(
      fc.property(v6, fc.nat({ max: 128 }), v6, fc.nat({ max: 16 }), (net, p, a, shared) => {
        const addr = Uint8Array.from(net.map((x, i) => (i < shared ? x : (a[i] ?? 0))));
        const c = parseCidr(`${formatIPv6(net)}/${String(p)}`);
        assert.equal(cidrContains(c, formatIPv6(addr)), refContains(net, p, addr));
      }),
      { numRuns: 5000 },
    );
  });

  it('a list matches when any of its prefixes does; an empty or absent list allows all', () => {
    const allow = new CidrList(['10.0.0.0/8', '2001:db8::/32', '192.168.1.7']);
    assert.equal(allow.toString(), '10.0.0.0/8,2001:db8::/32,192.168.1.7/32');
    assert.ok(allow.matches('::ffff:10.9.9.9'));
    assert.ok(allow.matches('2001:db8:ffff::1'));
    assert.ok(allow.matches('192.168.1.7'));
    assert.ok(!allow.matches('192.168.1.8'));
    assert.equal(allow.match('10.1.1.1')?.text, '10.0.0.0/8');
    assert.ok(isAllowed(allow, '10.1.1.1'));
    assert.ok(!isAllowed(allow, '::1'));
    assert.ok(!isAllowed(allow, undefined), 'a socket without an address is refused');
    assert.ok(isAllowed(undefined, '::1'));
    assert.ok(isAllowed(new CidrList([]), '::1'));
  });

  it('list matching equals "some prefix contains" (property)', () => {
    const cidr = fc.oneof(
      fc.tuple(v4, fc.nat({ max: 32 })).map(([a, p]) => `${formatIPv4(a)}/${String(p)}`),
      fc.tuple(v6, fc.nat({ max: 16 })).map(([a, p]) => `${formatIPv6(a)}/${String(p)}`),
    );
    const addr = fc.oneof(
      v4.map((a) => formatIPv4(a)),
      v4.map((a) => `::ffff:${formatIPv4(a)}`),
      v6.map((a) => formatIPv6(a)),
    );
    fc.assert(
      fc.property(fc.array(cidr, { maxLength: 6 }), addr, (list, a) => {
        const l = new CidrList(list);
        assert.equal(
          l.matches(a),
          list.some((c) => cidrContains(parseCidr(c), a)),
        );
      }),
      { numRuns: 3000 },
    );
  });
});
