import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  DeliveryKind,
  RouteTable,
  type Delivery,
  type WithdrawVisitor,
} from '../../src/routing/route-table.js';

interface Peer {
  name: string;
}

interface Withdrawal {
  vni: number;
  key: string;
  delivery: Shape;
}

interface Shape {
  kind: DeliveryKind;
  peer: Peer | undefined;
}

/** A delivery without its entry (compared by shape). */
function shape(d: Delivery<Peer>): Shape {
  return { kind: d.kind, peer: d.peer };
}

/** A visitor for removePeer / unsubscribe that collects what it is given. */
function collector(): [WithdrawVisitor<Peer>, Withdrawal[]] {
  const out: Withdrawal[] = [];
  return [(vni, e, kind, peer) => out.push({ vni, key: e.key, delivery: { kind, peer } }), out];
}

/** A subscriber's current view: the routes of `vni` some other peer owns. */
function view(t: RouteTable<Peer>, p: Peer, vni: number): string[] {
  return [...t.entries(vni)].filter(([, owners]) => owners.some((o) => o !== p)).map(([k]) => k);
}

function removePeer(t: RouteTable<Peer>, p: Peer): Withdrawal[] {
  const [visit, out] = collector();
  t.removePeer(p, visit);
  return out;
}

function unsubscribe(t: RouteTable<Peer>, p: Peer, vni: number): Withdrawal[] | undefined {
  const [visit, out] = collector();
  return t.unsubscribe(p, vni, visit) === undefined ? undefined : out;
}

/** Applies a delivery to the simulated views of the subscribers, checking the shape of each change. */
class Views {
  readonly seen = new Map<Peer, Map<number, Set<string>>>();
  constructor(private readonly table: RouteTable<Peer>) {}

  private viewOf(p: Peer, vni: number): Set<string> {
    let m = this.seen.get(p);
    if (!m) this.seen.set(p, (m = new Map<number, Set<string>>()));
    let s = m.get(vni);
    if (!s) m.set(vni, (s = new Set()));
    return s;
  }

  apply(vni: number, key: string, add: boolean, d: Shape): void {
    const recipients: Peer[] = [];
    if (d.kind === DeliveryKind.ALL_EXCEPT) {
      for (const s of this.table.subscribersOf(vni) ?? []) if (s !== d.peer) recipients.push(s);
    } else if (d.kind === DeliveryKind.ONLY && d.peer && this.table.isSubscribed(d.peer, vni)) {
      recipients.push(d.peer);
    }
    for (const r of recipients) {
      const v = this.viewOf(r, vni);
      if (add) {
        assert.ok(!v.has(key), `duplicate ADD of ${key} to ${r.name}`);
        v.add(key);
      } else {
        assert.ok(v.has(key), `REMOVE of ${key} never added to ${r.name}`);
        v.delete(key);
      }
    }
  }

  snapshot(p: Peer, vni: number, keys: string[]): void {
    const v = this.viewOf(p, vni);
    assert.equal(v.size, 0);
    for (const k of keys) v.add(k);
  }

  drop(p: Peer, vni: number): void {
    this.seen.get(p)?.delete(vni);
  }
}

describe('RouteTable', () => {
  const a = { name: 'a' };
  const b = { name: 'b' };
  const c = { name: 'c' };

  it('two announcers of one route: one ADD, REMOVE only when the last one leaves', () => {
    const t = new RouteTable<Peer>();
    t.subscribe(c, 1);
    assert.deepEqual(shape(t.add(a, 1, 'r')), { kind: DeliveryKind.ALL_EXCEPT, peer: a });
    assert.deepEqual(shape(t.add(b, 1, 'r')), { kind: DeliveryKind.ONLY, peer: a });
    assert.deepEqual(shape(t.add(b, 1, 'r')), { kind: DeliveryKind.NONE, peer: undefined });
    assert.equal(t.size, 1);
    assert.deepEqual(shape(t.remove(a, 1, 'r')), { kind: DeliveryKind.ONLY, peer: b });
    assert.deepEqual(shape(t.remove(a, 1, 'r')), { kind: DeliveryKind.NONE, peer: undefined });
    assert.deepEqual(removePeer(t, b), [
      { vni: 1, key: 'r', delivery: { kind: DeliveryKind.ALL_EXCEPT, peer: b } },
    ]);
    assert.equal(t.size, 0);
  });

  it('tells whether the caller became or stopped being an owner; withdrawIn keeps the subscription', () => {
    const t = new RouteTable<Peer>();
    assert.equal(t.add(a, 1, 'r').owned, true);
    assert.equal(t.add(a, 1, 'r').owned, false, 'a duplicate ADD');
    assert.equal(t.add(b, 1, 'r').owned, true, 'a co-owner');
    assert.equal(t.add(b, 1, 'r').owned, false);
    assert.equal(t.remove(c, 1, 'r').owned, false, 'not an owner');
    assert.equal(t.remove(a, 1, 'r').owned, true);
    assert.equal(t.remove(a, 1, 'r').owned, false);
    assert.equal(t.owns(b, 1, 'r'), true);
    assert.equal(t.owns(a, 1, 'r'), false);
    t.add(b, 1, 's');
    t.add(b, 2, 'x');
    assert.equal(t.ownedIn(b, 1), 2);
    assert.deepEqual(t.ownedVnis(b).sort(), [1, 2]);
    t.subscribe(b, 1);
    t.subscribe(c, 1);
    const [visit, out] = collector();
    assert.equal(t.withdrawIn(b, 1, visit), 2);
    assert.equal(out.length, 2);
    assert.equal(t.isSubscribed(b, 1), true);
    assert.equal(t.ownedIn(b, 1), 0);
    assert.equal(t.size, 1);
  });

  it("snapshot excludes the subscriber's own routes and repeats nothing", () => {
    const t = new RouteTable<Peer>();
    t.add(a, 1, 'x');
    t.add(b, 1, 'y');
    t.add(a, 1, 'z');
    t.add(b, 1, 'z');
    assert.equal(t.subscribe(a, 1), true);
    assert.equal(t.subscribe(a, 1), false);
    assert.deepEqual(view(t, a, 1).sort(), ['y', 'z']);
    assert.equal(t.isVisible(a, 1, 'x'), false);
    assert.equal(t.isVisible(a, 1, 'y'), true);
    assert.equal(t.isVisible(a, 1, 'z'), true);
    assert.equal(t.isVisible(b, 1, 'y'), false);
  });

  it('unsubscribe withdraws what the peer owns in that VNI only', () => {
    const t = new RouteTable<Peer>();
    t.subscribe(a, 1);
    t.subscribe(a, 2);
    t.add(a, 1, 'x');
    t.add(a, 2, 'y');
    const w = unsubscribe(t, a, 1);
    assert.deepEqual(w, [
      { vni: 1, key: 'x', delivery: { kind: DeliveryKind.ALL_EXCEPT, peer: a } },
    ]);
    assert.equal(unsubscribe(t, a, 1), undefined);
    assert.equal(t.routeCount(2), 1);
    assert.equal(t.ownedCount(a), 1);
    assert.deepEqual([...t.subscriptionsOf(a)], [2]);
  });

  it('a peer that leaves is fully forgotten', () => {
    const t = new RouteTable<Peer>();
    t.subscribe(a, 1);
    t.add(a, 1, 'x');
    t.add(a, 7, 'y');
    assert.equal(removePeer(t, a).length, 2);
    assert.equal(t.sweep(100), false);
    assert.equal(t.size, 0);
    assert.equal(t.subscribersOf(1), undefined);
    assert.deepEqual([...t.vnis()], []);
    assert.equal(t.ownedCount(a), 0);
  });

  it('withdrawn routes are gone at once; sweep() only gives the memory back', () => {
    const t = new RouteTable<Peer>();
    t.subscribe(c, 1);
    for (let i = 0; i < 10; i++) t.add(a, 1, `k${String(i)}`);
    t.add(b, 1, 'k0');
    const w = removePeer(t, a);
    // k0 still has b: only b learns it (ONLY), the other nine go to every subscriber but a.
    assert.equal(w.length, 10);
    assert.deepEqual(w[0], { vni: 1, key: 'k0', delivery: { kind: DeliveryKind.ONLY, peer: b } });
    assert.equal(t.size, 1);
    assert.equal(t.routeCount(1), 1);
    assert.equal(t.subscribe(b, 1), true);
    assert.deepEqual(view(t, b, 1), []);
    assert.deepEqual(view(t, c, 1), ['k0']);
    assert.equal(t.sweepPending, true);
    // Re-announced before the sweep: a new route again (ADD to all), and the sweep keeps it.
    assert.deepEqual(shape(t.add(c, 1, 'k5')), { kind: DeliveryKind.ALL_EXCEPT, peer: c });
    assert.equal(t.remove(a, 1, 'k6').kind, DeliveryKind.NONE);
    assert.equal(t.sweep(4), true);
    assert.equal(t.sweep(100), false);
    assert.equal(t.sweepPending, false);
    assert.deepEqual([...t.entries(1)].map(([k]) => k).sort(), ['k0', 'k5']);
    assert.deepEqual(shape(t.remove(c, 1, 'k5')), { kind: DeliveryKind.ALL_EXCEPT, peer: c });
    assert.deepEqual(removePeer(t, b), [
      { vni: 1, key: 'k0', delivery: { kind: DeliveryKind.ALL_EXCEPT, peer: b } },
    ]);
    assert.equal(t.sweep(100), false);
    assert.deepEqual([...t.vnis()], []);
    assert.equal(t.size, 0);
  });

  it('a route withdrawn twice before a sweep (re-announced in between) is swept once', () => {
    const t = new RouteTable<Peer>();
    t.add(a, 1, 'r');
    removePeer(t, a);
    t.add(b, 1, 'r');
    assert.equal(removePeer(t, b).length, 1);
    t.add(c, 1, 'r');
    t.remove(c, 1, 'r');
    t.add(a, 1, 'r');
    assert.equal(t.sweep(1000), false);
    assert.deepEqual([...t.entries(1)], [['r', [a]]]);
    assert.equal(t.size, 1);
  });

  it('subscribers always see exactly the routes other peers own (random operation sequences)', () => {
    const peers = ['p0', 'p1', 'p2', 'p3'].map((name) => ({ name }));
    const op = fc.record({
      kind: fc.constantFrom(
        'add',
        'add',
        'add',
        'remove',
        'remove',
        'sub',
        'unsub',
        'leave',
        'sweep',
      ),
      peer: fc.nat({ max: 3 }),
      vni: fc.nat({ max: 1 }),
      key: fc.constantFrom('k0', 'k1', 'k2'),
    });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 80 }), (ops) => {
        const t = new RouteTable<Peer>();
        const views = new Views(t);
        const owners = new Map<string, Set<Peer>>(); // `${vni}|${key}` -> owners (the model)
        for (const o of ops) {
          const p = peers[o.peer];
          assert.ok(p);
          const id = `${String(o.vni)}|${o.key}`;
          switch (o.kind) {
            case 'add':
              views.apply(o.vni, o.key, true, t.add(p, o.vni, o.key));
              if (!owners.has(id)) owners.set(id, new Set());
              owners.get(id)?.add(p);
              break;
            case 'remove':
              views.apply(o.vni, o.key, false, t.remove(p, o.vni, o.key));
              owners.get(id)?.delete(p);
              break;
            case 'sub': {
              if (t.subscribe(p, o.vni)) views.snapshot(p, o.vni, view(t, p, o.vni));
              break;
            }
            case 'unsub': {
              const w = unsubscribe(t, p, o.vni);
              if (w) {
                views.drop(p, o.vni);
                for (const x of w) views.apply(x.vni, x.key, false, x.delivery);
                for (const [k, s] of owners) if (k.startsWith(`${String(o.vni)}|`)) s.delete(p);
              }
              break;
            }
            case 'leave': {
              for (const v of t.subscriptionsOf(p)) views.drop(p, v);
              const w = removePeer(t, p);
              for (const v of [0, 1]) views.drop(p, v);
              for (const x of w) views.apply(x.vni, x.key, false, x.delivery);
              for (const s of owners.values()) s.delete(p);
              break;
            }
            case 'sweep':
              // Withdrawn entries leave the VNI maps a few at a time; nothing visible changes.
              t.sweep(o.peer);
              break;
          }
          // The invariant: each subscriber's view is exactly the routes some other peer owns.
          for (const s of peers) {
            for (const vni of [0, 1]) {
              const expected = new Set<string>();
              if (t.isSubscribed(s, vni)) {
                for (const [id2, set] of owners) {
                  const [v, k = ''] = id2.split('|');
                  if (Number(v) === vni && [...set].some((x) => x !== s)) expected.add(k);
                }
              }
              const actual = views.seen.get(s)?.get(vni) ?? new Set<string>();
              assert.deepEqual(
                [...actual].sort(),
                [...expected].sort(),
                `${s.name} vni ${String(vni)}`,
              );
            }
          }
          const distinct = [...owners.values()].filter((s) => s.size > 0).length;
          assert.equal(t.size, distinct);
          // Queries see the model (withdrawn entries not swept yet included).
          for (const vni of [0, 1]) {
            const expected = [...owners]
              .filter(([id2, set]) => id2.startsWith(`${String(vni)}|`) && set.size > 0)
              .map(
                ([id2, set]) =>
                  `${id2.slice(2)}:${[...set]
                    .map((x) => x.name)
                    .sort()
                    .join(',')}`,
              )
              .sort();
            const actual = [...t.entries(vni)]
              .map(
                ([k, os]) =>
                  `${k}:${os
                    .map((x) => x.name)
                    .sort()
                    .join(',')}`,
              )
              .sort();
            assert.deepEqual(actual, expected, `entries of vni ${String(vni)}`);
            assert.equal(t.routeCount(vni), expected.length);
            assert.equal([...t.vnis()].includes(vni), expected.length > 0);
          }
          for (const p of peers) {
            const n = [...owners.values()].filter((set) => set.has(p)).length;
            assert.equal(t.ownedCount(p), n, `ownedCount(${p.name})`);
          }
        }
      }),
      { numRuns: 1500 },
    );
  });
});
