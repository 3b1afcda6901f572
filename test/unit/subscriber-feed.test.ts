import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { DeliveryKind, RouteTable, type Delivery } from '../../src/routing/route-table.js';
import { SubscriberFeed } from '../../src/routing/subscriber-feed.js';

interface Peer {
  readonly name: string;
}

/**
 * A subscriber as the server shell drives it: live frames and backlog frames go to one ordered
 * stream, applied to the client's view in order; every change is checked for duplicates.
 */
class Subscriber {
  readonly feed: SubscriberFeed<Peer>;
  /** The client's view: vni -> keys. */
  readonly view = new Map<number, Set<string>>();
  readonly synced: number[] = [];
  subscribes = 0;

  constructor(
    readonly peer: Peer,
    readonly table: RouteTable<Peer>,
  ) {
    this.feed = new SubscriberFeed(peer, table);
  }

  frame(vni: number, key: string, remove: boolean): void {
    const v = this.view.get(vni);
    assert.ok(v, `${this.peer.name}: frame for VNI ${String(vni)} not subscribed`);
    if (remove) {
      assert.ok(v.has(key), `${this.peer.name}: REMOVE of ${key} never sent`);
      v.delete(key);
    } else {
      assert.ok(!v.has(key), `${this.peer.name}: duplicate ADD of ${key}`);
      v.add(key);
    }
  }

  /** Produces at most `budget` frames (0: until the backlog is empty). */
  produce(budget: number): boolean {
    let n = 0;
    return this.feed.produce(
      (key, remove) => {
        this.frame(vniOf(key), key, remove);
        n++;
        return budget === 0 || n < budget;
      },
      (d) => {
        this.synced.push(d.vni);
        // SYNCED: the client's view equals the server's view right now.
        assert.deepEqual(
          [...(this.view.get(d.vni) ?? [])].sort(),
          tableView(this.table, this.peer, d.vni),
          `${this.peer.name}: view at SYNCED of VNI ${String(d.vni)}`,
        );
      },
    );
  }
}

/** Keys are `${vni}:${name}` in these tests. */
function vniOf(key: string): number {
  return Number(key.slice(0, key.indexOf(':')));
}

function tableView(t: RouteTable<Peer>, p: Peer, vni: number): string[] {
  return [...t.entries(vni)]
    .filter(([, owners]) => owners.some((o) => o !== p))
    .map(([k]) => k)
    .sort();
}

/** Routes a table decision to the subscribers, as the server's fan-out does. */
function deliver(
  subs: readonly Subscriber[],
  t: RouteTable<Peer>,
  vni: number,
  remove: boolean,
  d: Delivery<Peer>,
): void {
  const e = d.entry;
  if (d.kind === DeliveryKind.NONE || e === undefined) return;
  for (const s of subs) {
    if (!t.isSubscribed(s.peer, vni)) continue;
    if (d.kind === DeliveryKind.ALL_EXCEPT ? s.peer === d.peer : s.peer !== d.peer) continue;
    if (!s.feed.filtering || s.feed.change(vni, e, remove)) s.frame(vni, e.key, remove);
  }
}

describe('SubscriberFeed', () => {
  it('a snapshot is walked by a cursor, in steps, with changes during it', () => {
    const t = new RouteTable<Peer>();
    const pub = { name: 'pub' };
    const s = new Subscriber({ name: 's' }, t);
    for (let i = 0; i < 10; i++) t.add(pub, 1, `1:r${String(i)}`);
    assert.equal(t.subscribe(s.peer, 1), true);
    s.view.set(1, new Set());
    s.feed.subscribed(1, true, 0);
    assert.equal(s.feed.filtering, true);
    assert.equal(s.feed.backlogRoutes, 10);
    assert.equal(s.produce(3), true);
    assert.equal(s.view.get(1)?.size, 3);
    // r1 was passed: its REMOVE goes live. r8 was not: nothing now, the cursor skips it later.
    deliver([s], t, 1, true, t.remove(pub, 1, '1:r1'));
    deliver([s], t, 1, true, t.remove(pub, 1, '1:r8'));
    deliver([s], t, 1, false, t.add(pub, 1, '1:r10'));
    assert.equal(s.view.get(1)?.size, 2);
    assert.equal(s.produce(0), false);
    assert.deepEqual(s.synced, [1]);
    assert.equal(s.feed.filtering, false);
    assert.deepEqual([...(s.view.get(1) ?? [])].sort(), tableView(t, s.peer, 1));
  });

  it('behind: an add/remove pair is never sent, the rest as differences', () => {
    const t = new RouteTable<Peer>();
    const pub = { name: 'pub' };
    const s = new Subscriber({ name: 's' }, t);
    t.subscribe(s.peer, 1);
    s.view.set(1, new Set());
    s.feed.subscribed(1, false, 0);
    s.produce(0);
    deliver([s], t, 1, false, t.add(pub, 1, '1:a'));
    s.feed.behind = true;
    deliver([s], t, 1, true, t.remove(pub, 1, '1:a'));
    deliver([s], t, 1, false, t.add(pub, 1, '1:a'));
    deliver([s], t, 1, false, t.add(pub, 1, '1:b'));
    deliver([s], t, 1, true, t.remove(pub, 1, '1:b'));
    deliver([s], t, 1, false, t.add(pub, 1, '1:c'));
    // a and b are back to what was last sent: only c is owed (the backlog keeps no settled key).
    assert.equal(s.feed.backlogRoutes, 1);
    let frames = 0;
    s.feed.produce(
      (key, remove) => {
        frames++;
        s.frame(1, key, remove);
        return true;
      },
      () => undefined,
    );
    assert.equal(frames, 1); // only c: a is unchanged, b came and went
    assert.deepEqual([...(s.view.get(1) ?? [])].sort(), ['1:a', '1:c']);
  });

  it('a route re-added ahead of the cursor while its old entry is pending is sent once', () => {
    const t = new RouteTable<Peer>();
    const pub = { name: 'pub' };
    const s = new Subscriber({ name: 's' }, t);
    for (const k of ['a', 'b', 'c']) t.add(pub, 1, `1:${k}`);
    t.subscribe(s.peer, 1);
    s.view.set(1, new Set());
    s.feed.subscribed(1, true, 0);
    s.produce(1); // a sent, cursor past a
    s.feed.behind = true;
    deliver([s], t, 1, true, t.remove(pub, 1, '1:a')); // pending: a (sent visible)
    deliver([s], t, 1, false, t.add(pub, 1, '1:a')); // a new entry, behind the cursor
    assert.equal(s.produce(0), false);
    assert.deepEqual([...(s.view.get(1) ?? [])].sort(), ['1:a', '1:b', '1:c']);
    assert.deepEqual(s.synced, [1]);
  });

  it('unsubscribe cancels what is pending and reports an owed SYNCED', () => {
    const t = new RouteTable<Peer>();
    const pub = { name: 'pub' };
    const s = new Subscriber({ name: 's' }, t);
    for (let i = 0; i < 5; i++) t.add(pub, 1, `1:r${String(i)}`);
    t.subscribe(s.peer, 1);
    s.feed.subscribed(1, true, 7);
    const done = s.feed.unsubscribed(1);
    assert.equal(done?.vni, 1);
    assert.equal(done.marker, true);
    assert.equal(done.subscribedAt, 7);
    assert.equal(s.feed.filtering, false);
    assert.equal(s.feed.backlogRoutes, 0);
    assert.equal(s.feed.unsubscribed(1), undefined);
  });

  it('every subscriber ends with the exact view, without duplicates (random updates and drain speeds)', () => {
    const names = ['p0', 'p1', 'p2', 'p3'];
    const op = fc.oneof(
      fc.record({
        kind: fc.constantFrom('add', 'add', 'add', 'remove', 'remove'),
        peer: fc.nat({ max: 3 }),
        vni: fc.nat({ max: 1 }),
        key: fc.nat({ max: 5 }),
      }),
      fc.record({
        kind: fc.constantFrom('sub', 'unsub', 'leave', 'behind', 'ahead', 'sweep'),
        peer: fc.nat({ max: 3 }),
        vni: fc.nat({ max: 1 }),
        key: fc.constant(0),
      }),
      fc.record({
        kind: fc.constant('drain'),
        peer: fc.nat({ max: 3 }),
        vni: fc.constant(0),
        key: fc.nat({ max: 4 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 120 }), (ops) => {
        const t = new RouteTable<Peer>();
        let subs = names.map((name) => new Subscriber({ name }, t));
        for (const o of ops) {
          const s = subs[o.peer];
          assert.ok(s);
          const p = s.peer;
          const key = `${String(o.vni)}:k${String(o.key)}`;
          switch (o.kind) {
            case 'add':
              deliver(subs, t, o.vni, false, t.add(p, o.vni, key));
              break;
            case 'remove':
              deliver(subs, t, o.vni, true, t.remove(p, o.vni, key));
              break;
            case 'sub':
              if (t.subscribe(p, o.vni)) {
                s.subscribes++;
                s.view.set(o.vni, new Set());
                s.feed.subscribed(o.vni, true, 0);
              }
              break;
            case 'unsub': {
              const owed = s.feed.unsubscribed(o.vni);
              const withdrawn = t.unsubscribe(p, o.vni, (vni, e, kind, peer) => {
                deliver(subs, t, vni, true, { kind, peer, entry: e, owned: false });
              });
              if (withdrawn !== undefined) {
                if (owed !== undefined) s.synced.push(o.vni);
                s.view.delete(o.vni);
              } else {
                assert.equal(owed, undefined);
              }
              break;
            }
            case 'leave': {
              t.removePeer(p, (vni, e, kind, peer) => {
                deliver(subs, t, vni, true, { kind, peer, entry: e, owned: false });
              });
              // It comes back as a new peer object (a new connection).
              const fresh = new Subscriber({ name: p.name }, t);
              subs = subs.map((x) => (x === s ? fresh : x));
              break;
            }
            case 'behind':
              s.feed.behind = true;
              break;
            case 'ahead':
              if (!s.feed.hasBacklog) s.feed.behind = false;
              break;
            case 'sweep':
              t.sweep(o.peer + 1);
              break;
            case 'drain':
              s.produce(o.key);
              break;
          }
        }
        // Everything drains; then every view is exact and every subscription synced once.
        for (const s of subs) {
          s.produce(0);
          assert.equal(s.feed.hasBacklog, false);
          for (const [vni, v] of s.view) {
            assert.deepEqual([...v].sort(), tableView(t, s.peer, vni), `${s.peer.name} ${vni}`);
          }
          assert.equal(s.feed.syncingVnis().length, 0);
          assert.equal(s.synced.length, s.subscribes, `${s.peer.name}: one SYNCED per SUBSCRIBE`);
        }
      }),
      { numRuns: 3000 },
    );
  });
});
