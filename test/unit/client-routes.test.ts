import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { Backoff } from '../../src/client/backoff.js';
import { nextHop, route } from '../../src/model/route.js';
import { destinationKey, routeFromKey, routeKey } from '../../src/model/wire-route.js';
import { AddResult, ClientRoutes } from '../../src/routing/client-routes.js';
import { destinationHash, destinationKeyOf, vniOfKey } from '../../src/wire/route-key.js';

const routes = [
  route('10.0.0.0/24', '2001:db8::1'),
  route('10.0.0.0/24', '2001:db8::2'),
  route('10.0.1.0/24', '2001:db8::1'),
];

/** A ClientRoutes whose handler calls are applied to a set, failing on a duplicate or a stray. */
function tracked(): { cr: ClientRoutes; held: Set<string>; calls: string[] } {
  const held = new Set<string>();
  const calls: string[] = [];
  const cr = new ClientRoutes((action, vni, key) => {
    const k = `${String(vni)} ${key}`;
    calls.push(`${action} ${k}`);
    if (action === 'add') {
      assert.ok(!held.has(k), 'duplicate addRoute');
      held.add(k);
    } else {
      assert.ok(held.delete(k), 'removeRoute of a route not held');
    }
  });
  return { cr, held, calls };
}

describe('ClientRoutes (HA dedup, graceful restart, loop prevention)', () => {
  it('hands a route over once for two servers and takes it back with the last one', () => {
    const { cr, calls } = tracked();
    const key = routeKey(1, routes[0] ?? route('0.0.0.0/0', '::1'));
    const dest = destinationKeyOf(key);
    assert.equal(cr.add(0, key, 1), AddResult.NEW);
    assert.equal(cr.add(0, key, 1), AddResult.DUPLICATE);
    assert.equal(cr.add(1, key, 1), AddResult.KNOWN);
    assert.equal(cr.freshCount(0), 1);
    assert.equal(cr.freshCount(1), 1);
    // Loop prevention: announcing the destination afterwards takes the route back (the index by
    // destination is built then), withdrawing it hands it over again.
    cr.announce(dest);
    cr.withdraw(dest);
    assert.deepEqual(calls, [`add 1 ${key}`, `remove 1 ${key}`, `add 1 ${key}`]);
    calls.length = 0;
    cr.removeFresh(0, key);
    assert.equal(calls.length, 0);
    assert.equal(cr.removeFresh(1, key), true);
    assert.equal(cr.removeFresh(1, key), false);
    assert.deepEqual(calls, [`remove 1 ${key}`]);
    assert.equal(cr.size, 0);
  });

  it('keeps a stale route until its server re-sends it (no call) or drops it', () => {
    const { cr, calls } = tracked();
    const [k0, k1] = routes.map((r) => routeKey(1, r));
    assert.ok(k0 !== undefined && k1 !== undefined);
    cr.add(0, k0, 1);
    cr.add(0, k1, 1);
    const lost: string[] = [];
    assert.equal(
      cr.sessionLost(0, (k, v) => {
        assert.equal(v, 1);
        lost.push(k);
      }),
      2,
    );
    assert.deepEqual(lost, [k0, k1]);
    assert.equal(cr.freshCount(0), 0);
    assert.equal(cr.stale, 2);
    assert.equal(cr.isStale(k0), true);
    assert.equal(cr.add(0, k0, 1), AddResult.CONFIRMED);
    assert.equal(cr.stale, 1);
    cr.dropStale(0, k1);
    assert.equal(cr.stale, 0);
    assert.deepEqual(calls, [`add 1 ${k0}`, `add 1 ${k1}`, `remove 1 ${k1}`]);
    assert.equal([...cr.delivered()].length, 1);
  });

  it('keeps the invariant under any sequence of reports, lost sessions, re-syncs and announcements', () => {
    const op = fc.record({
      kind: fc.constantFrom(
        'add',
        'add',
        'remove',
        'lost',
        'resync',
        'expire',
        'announce',
        'withdraw',
        'unsubscribe',
      ),
      server: fc.nat({ max: 2 }),
      r: fc.nat({ max: 2 }),
      vni: fc.constantFrom(1, 300),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const { cr, held } = tracked();
        const fresh = [new Set<string>(), new Set<string>(), new Set<string>()];
        const stale = [new Set<string>(), new Set<string>(), new Set<string>()];
        const announced = new Set<string>();
        for (const o of ops) {
          const r = routes[o.r];
          const f = fresh[o.server];
          const st = stale[o.server];
          assert.ok(r && f && st);
          const key = routeKey(o.vni, r);
          const dest = destinationKeyOf(key);
          assert.equal(vniOfKey(key), o.vni);
          switch (o.kind) {
            case 'add': {
              const dup = f.has(key);
              f.add(key);
              const was = st.delete(key);
              const got = cr.add(o.server, key, o.vni);
              if (dup) assert.equal(got, AddResult.DUPLICATE);
              else assert.equal(got === AddResult.CONFIRMED, was);
              break;
            }
            case 'remove':
              assert.equal(cr.removeFresh(o.server, key), f.delete(key));
              break;
            case 'unsubscribe': {
              const mine = [...f].filter((k) => vniOfKey(k) === o.vni);
              for (const k of mine) f.delete(k);
              assert.equal(cr.removeFreshVni(o.server, o.vni), mine.length);
              break;
            }
            case 'lost': {
              const told: string[] = [];
              const n = cr.sessionLost(o.server, (k, v) => {
                assert.equal(v, vniOfKey(k));
                told.push(k);
              });
              assert.equal(n, f.size);
              assert.deepEqual(told.sort(), [...f].sort());
              for (const k of f) st.add(k);
              f.clear();
              break;
            }
            case 'resync':
            case 'expire':
              for (const k of st) cr.dropStale(o.server, k);
              st.clear();
              break;
            case 'announce':
              if (!announced.has(dest)) {
                announced.add(dest);
                cr.announce(dest);
              }
              break;
            case 'withdraw':
              if (announced.delete(dest)) cr.withdraw(dest);
              break;
          }
          // Invariant: held = routes some server carries, fresh or stale, whose destination we
          // do not announce; stale = carried only by stale copies.
          const carried = new Set([...fresh, ...stale].flatMap((x) => [...x]));
          const expected = [...carried].filter((k) => !announced.has(destinationKeyOf(k)));
          assert.deepEqual(
            [...held].sort(),
            expected.map((k) => `${String(vniOfKey(k))} ${k}`).sort(),
          );
          assert.equal(cr.size, carried.size);
          fresh.forEach((x, i) => {
            assert.equal(cr.freshCount(i), x.size);
          });
          assert.equal([...cr.delivered()].length, expected.length);
          const freshAll = new Set(fresh.flatMap((x) => [...x]));
          assert.equal(cr.stale, [...carried].filter((k) => !freshAll.has(k)).length);
          for (const h of cr.delivered()) {
            assert.equal(h.fresh === 0, !freshAll.has(h.key));
          }
          // Counts kept per handler call equal the held set.
          assert.equal(cr.heldCount(1) + cr.heldCount(300), held.size);
          assert.equal(
            cr.kindCounts().reduce((a, b) => a + b, 0),
            held.size,
          );
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('loop prevention tells apart destinations whose index hashes collide', () => {
    // Two destinations with the same destinationHash (30 bits: a pair turns up among some 50k
    // pseudo-random IPv6 prefixes; structured IPv4 runs do not collide).
    const seen = new Map<number, string>();
    let pair: [string, string] | undefined;
    let x = 12345;
    const next = (): string => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return ((x >>> 8) & 0xffff).toString(16);
    };
    for (let i = 0; pair === undefined && i < 1 << 20; i++) {
      const key = routeKey(7, route(`2001:${next()}:${next()}:${next()}::/64`, '2001:db8::1'));
      const dest = destinationKeyOf(key);
      const h = destinationHash(dest, dest.length);
      const other = seen.get(h);
      if (other !== undefined && destinationKeyOf(other) !== dest) pair = [other, key];
      else seen.set(h, key);
    }
    assert.ok(pair !== undefined, 'no collision found');
    const [ka, kb] = pair;
    const da = destinationKeyOf(ka);
    const db = destinationKeyOf(kb);
    assert.notEqual(da, db);
    assert.equal(destinationHash(da, da.length), destinationHash(db, db.length));
    const { cr, calls } = tracked();
    cr.add(0, ka, 7);
    cr.add(0, kb, 7);
    cr.announce(da); // index built here: both keys in one bucket
    assert.deepEqual(calls, [`add 7 ${ka}`, `add 7 ${kb}`, `remove 7 ${ka}`]);
    // A route to the other destination arriving now is handed over; one to ours is held back.
    const kb2 = routeKey(7, { ...routeFromKey(kb).route, nextHop: nextHop('2001:db8::2') });
    const ka2 = routeKey(7, { ...routeFromKey(ka).route, nextHop: nextHop('2001:db8::2') });
    cr.add(1, kb2, 7);
    cr.add(1, ka2, 7);
    assert.deepEqual(calls.slice(3), [`add 7 ${kb2}`]);
    cr.withdraw(da);
    assert.deepEqual(calls.slice(4).sort(), [`add 7 ${ka}`, `add 7 ${ka2}`].sort());
    assert.deepEqual([...cr.heldBack()], []);
  });

  it('destination identity is canonical (2001:DB8::/48 is 2001:db8::/48)', () => {
    // Hand-built, not through parseDestination (which canonicalises the text itself).
    const a = {
      destination: { family: 6, address: '2001:DB8:0::', prefixLength: 48 },
      nextHop: { ...nextHop('2001:db8::1'), address: '2001:DB8::1' },
    } as const;
    const b = route('2001:db8::/48', '2001:db8::2');
    assert.equal(destinationKey(1, a), destinationKey(1, b));
    assert.equal(destinationKeyOf(routeKey(1, a)), destinationKeyOf(routeKey(1, b)));
    assert.notEqual(destinationKeyOf(routeKey(1, a)), destinationKeyOf(routeKey(2, a)));
  });
});

describe('Backoff', () => {
  it('grows exponentially with jitter in [base/2, base] up to the cap, and resets', () => {
    const lo = new Backoff({ minMs: 1000, maxMs: 10000 }, () => 0);
    const hi = new Backoff({ minMs: 1000, maxMs: 10000 }, () => 1);
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map(() => lo.next()),
      [500, 1000, 2000, 4000, 5000, 5000],
    );
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map(() => hi.next()),
      [1000, 2000, 4000, 8000, 10000, 10000],
    );
    hi.reset();
    assert.equal(hi.next(), 1000);
  });
});
