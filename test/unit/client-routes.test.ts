import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { Backoff } from '../../src/client/backoff.js';
import { route } from '../../src/model/route.js';
import { destinationKey, routeKey } from '../../src/model/wire-route.js';
import { ClientRoutes, type HandlerCall } from '../../src/routing/client-routes.js';

const routes = [
  route('10.0.0.0/24', '2001:db8::1'),
  route('10.0.0.0/24', '2001:db8::2'),
  route('10.0.1.0/24', '2001:db8::1'),
];

/** Applies handler calls to a multiset, failing on a duplicate add or a remove of nothing. */
function apply(held: Map<string, number>, calls: HandlerCall[]): void {
  for (const c of calls) {
    const k = `${String(c.vni)} ${routeKey(c.vni, c.route)}`;
    const n = held.get(k) ?? 0;
    if (c.action === 'add') {
      assert.equal(n, 0, 'duplicate addRoute');
      held.set(k, 1);
    } else {
      assert.equal(n, 1, 'removeRoute of a route not held');
      held.delete(k);
    }
  }
}

describe('ClientRoutes (HA dedup + loop prevention)', () => {
  it('hands a route over once for two servers and takes it back with the last one', () => {
    const cr = new ClientRoutes();
    const r = routes[0];
    assert.ok(r);
    const key = routeKey(1, r);
    const dest = destinationKey(1, r);
    assert.equal(cr.addOrigin(0, key, 1, r, dest).length, 1);
    assert.equal(cr.addOrigin(1, key, 1, r, dest).length, 0);
    assert.equal(cr.removeOrigin(0, key).length, 0);
    assert.deepEqual(cr.removeOrigin(1, key), [{ action: 'remove', vni: 1, route: r }]);
    assert.equal(cr.size, 0);
  });

  it('keeps the invariant under any sequence of server reports and own announcements', () => {
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('add' as const),
        server: fc.nat({ max: 2 }),
        r: fc.nat({ max: 2 }),
      }),
      fc.record({
        kind: fc.constant('remove' as const),
        server: fc.nat({ max: 2 }),
        r: fc.nat({ max: 2 }),
      }),
      fc.record({
        kind: fc.constant('lost' as const),
        server: fc.nat({ max: 2 }),
        r: fc.constant(0),
      }),
      fc.record({
        kind: fc.constant('announce' as const),
        server: fc.constant(0),
        r: fc.nat({ max: 2 }),
      }),
      fc.record({
        kind: fc.constant('withdraw' as const),
        server: fc.constant(0),
        r: fc.nat({ max: 2 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const cr = new ClientRoutes();
        const held = new Map<string, number>();
        const perServer = [new Set<string>(), new Set<string>(), new Set<string>()];
        const announced = new Set<number>();
        for (const o of ops) {
          const r = routes[o.r];
          const server = perServer[o.server];
          assert.ok(r && server);
          const key = routeKey(1, r);
          const dest = destinationKey(1, r);
          switch (o.kind) {
            case 'add':
              if (!server.has(key)) {
                server.add(key);
                apply(held, cr.addOrigin(o.server, key, 1, r, dest));
              }
              break;
            case 'remove':
              if (server.delete(key)) apply(held, cr.removeOrigin(o.server, key));
              break;
            case 'lost':
              apply(held, cr.removeServer(o.server, [...server]));
              server.clear();
              break;
            case 'announce':
              if (!announced.has(o.r)) {
                announced.add(o.r);
                apply(held, cr.announce(dest));
              }
              break;
            case 'withdraw':
              if (announced.delete(o.r)) apply(held, cr.withdraw(dest));
              break;
          }
          // Invariant: held = routes some server reports whose destination we do not announce.
          const ownDests = new Set([...announced].map((i) => destinationKey(1, routes[i] ?? r)));
          const expected = new Set<string>();
          for (const s of perServer) {
            for (const k of s) {
              const rr = routes.find((x) => routeKey(1, x) === k);
              if (rr && !ownDests.has(destinationKey(1, rr))) expected.add(`1 ${k}`);
            }
          }
          assert.deepEqual([...held.keys()].sort(), [...expected].sort());
          assert.equal(cr.delivered().length, expected.size);
        }
      }),
      { numRuns: 2000 },
    );
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
