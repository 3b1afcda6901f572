import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { DeliveryKind, RouteTable, type Delivery } from '../../src/routing/route-table.js';

interface Peer {
  name: string;
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

  apply(vni: number, key: string, add: boolean, d: Delivery<Peer>): void {
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
    assert.deepEqual(t.add(a, 1, 'r'), { kind: DeliveryKind.ALL_EXCEPT, peer: a });
    assert.deepEqual(t.add(b, 1, 'r'), { kind: DeliveryKind.ONLY, peer: a });
    assert.deepEqual(t.add(b, 1, 'r'), { kind: DeliveryKind.NONE, peer: undefined });
    assert.equal(t.size, 1);
    assert.deepEqual(t.remove(a, 1, 'r'), { kind: DeliveryKind.ONLY, peer: b });
    assert.deepEqual(t.remove(a, 1, 'r'), { kind: DeliveryKind.NONE, peer: undefined });
    assert.deepEqual(t.removePeer(b), [
      { vni: 1, key: 'r', delivery: { kind: DeliveryKind.ALL_EXCEPT, peer: b } },
    ]);
    assert.equal(t.size, 0);
  });

  it("snapshot excludes the subscriber's own routes and repeats nothing", () => {
    const t = new RouteTable<Peer>();
    t.add(a, 1, 'x');
    t.add(b, 1, 'y');
    t.add(a, 1, 'z');
    t.add(b, 1, 'z');
    assert.deepEqual(t.subscribe(a, 1)?.sort(), ['y', 'z']);
    assert.equal(t.subscribe(a, 1), undefined);
    assert.deepEqual([...t.view(a, 1)].sort(), ['y', 'z']);
  });

  it('unsubscribe withdraws what the peer owns in that VNI only', () => {
    const t = new RouteTable<Peer>();
    t.subscribe(a, 1);
    t.subscribe(a, 2);
    t.add(a, 1, 'x');
    t.add(a, 2, 'y');
    const w = t.unsubscribe(a, 1);
    assert.deepEqual(w, [
      { vni: 1, key: 'x', delivery: { kind: DeliveryKind.ALL_EXCEPT, peer: a } },
    ]);
    assert.equal(t.unsubscribe(a, 1), undefined);
    assert.equal(t.routeCount(2), 1);
    assert.equal(t.ownedCount(a), 1);
    assert.deepEqual([...t.subscriptionsOf(a)], [2]);
  });

  it('a peer that leaves is fully forgotten', () => {
    const t = new RouteTable<Peer>();
    t.subscribe(a, 1);
    t.add(a, 1, 'x');
    t.add(a, 7, 'y');
    assert.equal(t.removePeer(a).length, 2);
    assert.equal(t.size, 0);
    assert.equal(t.subscribersOf(1), undefined);
    assert.deepEqual([...t.vnis()], []);
    assert.equal(t.ownedCount(a), 0);
  });

  it('subscribers always see exactly the routes other peers own (random operation sequences)', () => {
    const peers = ['p0', 'p1', 'p2', 'p3'].map((name) => ({ name }));
    const op = fc.record({
      kind: fc.constantFrom('add', 'add', 'add', 'remove', 'remove', 'sub', 'unsub', 'leave'),
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
              const snap = t.subscribe(p, o.vni);
              if (snap) views.snapshot(p, o.vni, snap);
              break;
            }
            case 'unsub': {
              const w = t.unsubscribe(p, o.vni);
              if (w) {
                views.drop(p, o.vni);
                for (const x of w) views.apply(x.vni, x.key, false, x.delivery);
                for (const [k, s] of owners) if (k.startsWith(`${String(o.vni)}|`)) s.delete(p);
              }
              break;
            }
            case 'leave': {
              for (const v of t.subscriptionsOf(p)) views.drop(p, v);
              const w = t.removePeer(p);
              for (const v of [0, 1]) views.drop(p, v);
              for (const x of w) views.apply(x.vni, x.key, false, x.delivery);
              for (const s of owners.values()) s.delete(p);
              break;
            }
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
        }
      }),
      { numRuns: 1500 },
    );
  });
});
