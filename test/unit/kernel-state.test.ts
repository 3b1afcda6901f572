/** Pure parts of the kernel route installer: keys and legs, the nexthop registry, the hold, flags. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { parseInstallRoutes } from '../../src/cli/kernel-flags.js';
import { NEXTHOP_ID_BASE } from '../../src/kernel/constants.js';
import { StartupHold } from '../../src/kernel/hold.js';
import { NexthopRegistry } from '../../src/kernel/nexthops.js';
import {
  addMember,
  desiredLegs,
  joinLegs,
  kernelDestination,
  hopHex,
  maskAddress,
  memberKey,
  newRouteState,
  removeMember,
  toHex,
} from '../../src/kernel/route-state.js';
import { parseIP } from '../../src/model/ip.js';
import { natNextHop, nextHop, parseDestination, route } from '../../src/model/route.js';

const hex = (a: string): string => toHex(parseIP(a) as Uint8Array);

describe('kernel route keys and legs', () => {
  it('clears exactly the host bits', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), fc.nat(128), (bytes, len) => {
        const m = maskAddress(bytes, len);
        for (let bit = 0; bit < 128; bit++) {
          const get = (b: Uint8Array): number => ((b[bit >> 3] ?? 0) >> (7 - (bit & 7))) & 1;
          assert.equal(get(m), bit < len ? get(bytes) : 0);
        }
      }),
    );
  });

  it('puts 10.0.1.7/24 and 10.0.1.0/24 on one kernel destination', () => {
    const a = kernelDestination(route('10.0.1.7/24', '2001:db8::1'));
    const b = kernelDestination(route(parseDestination('10.0.1.0/24'), '2001:db8::2'));
    assert.deepEqual(a, b);
    assert.equal(a.family, 4);
  });

  it('sorts legs by address bytes (not by text) and dedupes them', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ minLength: 16, maxLength: 16 }), { minLength: 1 }),
        (addrs) => {
          const legs = joinLegs(addrs.map(toHex))?.split(',') ?? [];
          const bytes = [...new Set(addrs.map((a) => Buffer.from(a).toString('hex')))].sort(
            (x, y) => Buffer.compare(Buffer.from(x, 'hex'), Buffer.from(y, 'hex')),
          );
          assert.deepEqual(legs, bytes);
        },
      ),
    );
    assert.equal(joinLegs([]), undefined);
    assert.equal(
      joinLegs([hex('2001:db8::10'), hex('2001:db8::9')]),
      `${hex('2001:db8::9')},${hex('2001:db8::10')}`,
    );
  });

  it('tells tsbond routes apart by everything but keeps one leg per address', () => {
    const s = newRouteState(4, 100, '10.0.2.0', 24);
    const d = parseDestination('10.0.2.0/24');
    const routes = [
      { vni: 1, route: { destination: d, nextHop: natNextHop('2001:db8::a', 1, 2) } },
      { vni: 1, route: { destination: d, nextHop: natNextHop('2001:db8::a', 3, 4) } },
      {
        vni: 1,
        route: { destination: d, nextHop: nextHop('2001:db8::a', { type: 'LOADBALANCER_TARGET' }) },
      },
      { vni: 1, route: { destination: d, nextHop: nextHop('2001:db8::a', { targetVni: 7 }) } },
      { vni: 2, route: { destination: d, nextHop: nextHop('2001:db8::a') } },
      { vni: 1, route: { destination: d, nextHop: nextHop('2001:db8::a') } },
      { vni: 1, route: route('10.0.2.7/24', '2001:db8::a') },
    ];
    const keys = routes.map((r) => memberKey(r.vni, r.route, s.prefix));
    assert.equal(new Set(keys).size, routes.length);
    assert.equal(keys[4], 2, 'a plain route is known by its VNI alone');
    const hop = hopHex('2001:db8::a');
    for (const k of keys) assert.equal(addMember(s, hop, k), true);
    assert.equal(addMember(s, hop, keys[0] ?? ''), false, 'a route counts once');
    assert.equal(addMember(s, hopHex('2001:db8::b'), keys[0] ?? ''), true, 'another next hop');
    assert.equal(desiredLegs(s, false), `${hex('2001:db8::a')},${hex('2001:db8::b')}`);
    assert.equal(removeMember(s, hopHex('2001:db8::b'), keys[0] ?? ''), true);
    assert.equal(removeMember(s, hopHex('2001:db8::b'), keys[0] ?? ''), false, 'already gone');
    assert.equal(desiredLegs(s, false), hex('2001:db8::a'));
    for (const k of keys) assert.equal(removeMember(s, hop, k), true);
    assert.equal(desiredLegs(s, false), undefined);
  });

  it('merges the legs found at start while the table is held', () => {
    const s = newRouteState(4, 100, '10.0.1.0', 24);
    const r = route('10.0.1.0/24', '2001:db8::b');
    addMember(s, hopHex(r.nextHop.address), memberKey(1, r, s.prefix));
    s.held = hex('2001:db8::a');
    assert.equal(desiredLegs(s, true), `${hex('2001:db8::a')},${hex('2001:db8::b')}`);
    assert.equal(desiredLegs(s, false), hex('2001:db8::b'));
  });
});

describe('nexthop registry', () => {
  it('shares one object per address and one group per set, counting users', () => {
    const r = new NexthopRegistry();
    const a = hex('2001:db8::a');
    const b = hex('2001:db8::b');
    const g1 = r.acquire(`${a},${b}`);
    const g2 = r.acquire(`${a},${b}`);
    assert.equal(g1, g2);
    assert.equal(g1.users, 2);
    const hopA = r.acquire(a);
    assert.equal(g1.members[0], hopA);
    assert.equal(hopA.users, 2, 'the group and the route');
    assert.ok(g1.id >= NEXTHOP_ID_BASE);
    r.release(g1);
    r.release(g1);
    assert.deepEqual(
      r.forget(g1).map((m) => m.key),
      [a, b],
    );
    assert.equal(hopA.users, 1);
    assert.notEqual(r.acquire(`${a},${b}`), g1, 'a new group after the old one is forgotten');
  });

  it('never allocates a taken id and retires duplicates found in the kernel', () => {
    const r = new NexthopRegistry();
    r.markTaken(NEXTHOP_ID_BASE);
    r.markTaken(NEXTHOP_ID_BASE + 1);
    const o = r.acquire(hex('2001:db8::a'));
    assert.equal(o.id, NEXTHOP_ID_BASE + 2);
    r.reassign(o);
    assert.equal(o.id, NEXTHOP_ID_BASE + 3);
    const first = r.adopt(17, hex('2001:db8::b'), []);
    const dup = r.adopt(18, hex('2001:db8::b'), []);
    assert.equal(first.retired, false);
    assert.equal(dup.retired, true);
    assert.equal(r.forKey(hex('2001:db8::b')), first);
    assert.equal(r.deletable(dup), true);
  });
});

describe('start-up hold', () => {
  it('releases a table once every VNI mapped to it has re-synced', () => {
    const h = new StartupHold(
      new Map([
        [1, 10],
        [2, 10],
        [3, 30],
      ]),
      true,
    );
    assert.equal(h.vniSynced(1), undefined);
    assert.equal(h.isHeld(10), true);
    assert.equal(h.vniSynced(2), 10);
    assert.equal(h.isHeld(10), false);
    assert.equal(h.vniSynced(9), undefined, 'a VNI without a table');
    assert.deepEqual(h.releaseAll(), [30]);
    assert.equal(h.anyHeld, false);
  });

  it('holds nothing with hold time 0', () => {
    assert.equal(new StartupHold(new Map([[1, 10]]), false).isHeld(10), false);
  });
});

describe('--install-routes values', () => {
  it('parses VNI#TABLE', () => {
    assert.deepEqual(parseInstallRoutes('100#1000'), [100, 1000]);
    assert.deepEqual(parseInstallRoutes('4294967295#4294967295'), [4294967295, 4294967295]);
  });
  for (const bad of ['100', '100#', '#100', 'x#1', '1#x', '1#0', '1#4294967296', '1#2#3', '-1#5']) {
    it(`refuses '${bad}'`, () => {
      assert.throws(() => parseInstallRoutes(bad), /expected VNI#TABLE/);
    });
  }
});
