import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { natNextHop, nextHop, route, type NextHop } from '../../src/model/route.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import {
  encodeHello,
  encodeKeepalive,
  encodeSubscribe,
  encodeUnsubscribe,
  encodeUpdate,
} from '../../src/wire/encode.js';
import { Feature } from '../../src/wire/messages.js';
import { formatRoute, type Route } from '../../src/model/route.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { rawPeer, startServer } from '../helpers/server-fixture.js';

const add = (vni: number, dest: string, hop: NextHop | string): Buffer =>
  encodeRouteUpdate('ADD', vni, route(dest, hop));
const del = (vni: number, dest: string, hop: NextHop | string): Buffer =>
  encodeRouteUpdate('REMOVE', vni, route(dest, hop));

/** A distinct /128 per index. */
const v6Dest = (i: number): string =>
  `2001:db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/128`;

/** Writes `n` frames in batches of 1000, honouring back-pressure. */
async function publish(p: RawPeer, n: number, frame: (i: number) => Buffer): Promise<void> {
  for (let i = 0; i < n;) {
    const frames: Buffer[] = [];
    for (let j = 0; j < 1000 && i < n; j++, i++) frames.push(frame(i));
    if (!p.socket.write(Buffer.concat(frames))) await new Promise((r) => p.socket.once('drain', r));
  }
}

const routeText = (vni: number, r: Route): string => `${String(vni)} ${formatRoute(r)}`;

function assertExactView(p: RawPeer, expected: string[]): void {
  assert.deepEqual(p.viewErrors, []);
  assert.deepEqual([...p.view].sort(), [...expected].sort());
}

/** The address the server sees for a raw peer. */
function localAddress(p: RawPeer): string {
  return `[${String(p.socket.localAddress)}]:${String(p.socket.localPort)}`;
}

describe('server handshake and keepalive', () => {
  it('answers HELLO with the negotiated keepalive and isServer, then KEEPALIVE; nothing before', async (t) => {
    const server = await startServer(t, { keepalive: 5 });
    const p = await RawPeer.connect(server.address.port);
    t.after(() => {
      p.close();
    });
    p.send(encodeHello(3, false));
    await p.until(() => p.bytes.length > 0);
    assert.equal(Buffer.concat(p.bytes).toString('hex'), '0100040108031001');
    p.send(encodeKeepalive());
    await p.until(() => p.received.length === 2);
    assert.equal(Buffer.concat(p.bytes).toString('hex'), '010004010803100101000002');
    await p.until(() => server.peers()[0]?.state === 'ESTABLISHED');
    assert.equal(server.peers()[0]?.keepalive, 3);
  });

  it('offers its own keepalive when the peer asks for more', async (t) => {
    const server = await startServer(t, { keepalive: 5 });
    const p = await rawPeer(t, server, 300);
    assert.equal(p.received[0]?.type === 'HELLO' && p.received[0].keepaliveInterval, 5);
  });

  it('replies to every KEEPALIVE and never sends one unasked, over several periods', async (t) => {
    // Keepalive 1 s of 200 ms: the peer's own KEEPALIVE every half period keeps the session up;
    // over seven periods the server sends exactly one reply per KEEPALIVE and nothing of its own.
    const server = await startServer(t, { keepalive: 1, secondMs: 200 });
    const p = await rawPeer(t, server, 1);
    let sent = 1; // the handshake's
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100)); // the peer's keepalive period (timeout: 500 ms)
      await p.barrier();
      sent++;
    }
    await new Promise((r) => setTimeout(r, 400)); // two more periods in which nothing may come
    assert.equal(p.received.filter((m) => m.type === 'KEEPALIVE').length, sent);
    assert.equal(p.isClosed, false);
  });

  it('closes a session that stays silent for 2.5 keepalive intervals', async (t) => {
    const server = await startServer(t, { keepalive: 2, secondMs: 40 });
    const p = await rawPeer(t, server, 2);
    const started = Date.now();
    await p.waitClosed(3000);
    const elapsed = Date.now() - started;
    assert.ok(elapsed >= 2 * 2.5 * 40 - 20, `closed after ${String(elapsed)} ms`);
    assert.equal(server.counters.timeouts, 1);
  });

  it('keeps a session alive while frames keep coming', async (t) => {
    // Timeout 500 ms; the peer sends something every 100 ms (a 5x margin for a loaded machine).
    const server = await startServer(t, { keepalive: 1, secondMs: 200 });
    const p = await rawPeer(t, server, 1);
    for (let i = 0; i < 10; i++) {
      await new Promise((r) => setTimeout(r, 100)); // pacing the peer's own keepalives, not synchronisation
      await p.barrier();
    }
    assert.equal(p.isClosed, false);
  });

  it('closes a peer that never completes the handshake', async (t) => {
    const server = await startServer(t, { keepalive: 5, helloTimeoutMs: 100 });
    const p = await RawPeer.connect(server.address.port);
    t.after(() => {
      p.close();
    });
    await p.waitClosed(2000);
    assert.equal(p.received.length, 0);
    assert.equal(server.counters.timeouts, 1);
  });

  const refusals: [string, (p: RawPeer) => void, boolean][] = [
    [
      'HELLO with keepalive 0',
      (p) => {
        p.send(Buffer.from('01000001', 'hex'));
      },
      false,
    ],
    [
      'SUBSCRIBE before the handshake',
      (p) => {
        p.send(encodeSubscribe(1));
      },
      false,
    ],
    [
      'UPDATE before the handshake',
      (p) => {
        p.send(add(1, '10.0.0.0/8', '::1'));
      },
      false,
    ],
    [
      'KEEPALIVE before HELLO',
      (p) => {
        p.send(encodeKeepalive());
      },
      false,
    ],
    [
      'a second HELLO',
      (p) => {
        p.send(encodeHello(5, false));
      },
      true,
    ],
    [
      'version 2',
      (p) => {
        p.send(Buffer.from('02000002', 'hex'));
      },
      true,
    ],
    [
      'unknown type 9',
      (p) => {
        p.send(Buffer.from('01000009', 'hex'));
      },
      true,
    ],
    [
      'a payload above 1188 bytes',
      (p) => {
        p.send(Buffer.from('0104a505', 'hex'));
      },
      true,
    ],
    [
      'an undecodable payload',
      (p) => {
        p.send(Buffer.from('0100010508', 'hex'));
      },
      true,
    ],
  ];
  for (const [name, act, afterHandshake] of refusals) {
    it(`closes the connection on ${name}, and only that one`, async (t) => {
      const server = await startServer(t);
      const bystander = await rawPeer(t, server);
      bystander.send(encodeSubscribe(1));
      const p = await RawPeer.connect(server.address.port);
      t.after(() => {
        p.close();
      });
      if (afterHandshake) await p.handshake();
      act(p);
      await p.waitClosed();
      assert.equal(server.counters.protocolErrors, 1);
      await bystander.barrier();
      assert.equal(bystander.isClosed, false);
      assert.equal(server.peerCount, 1);
    });
  }
});

describe('server view rule', () => {
  it('distributes to other subscribers, never echoes, with all fields intact', async (t) => {
    const server = await startServer(t);
    const a = await rawPeer(t, server);
    const b = await rawPeer(t, server);
    a.send(encodeSubscribe(100));
    b.send(encodeSubscribe(100));
    await a.barrier();
    const hops = [
      nextHop('2001:db8::1'),
      natNextHop('2001:db8::2', 1024, 65535),
      nextHop('2001:db8::3', { type: 'LOADBALANCER_TARGET', targetVni: 4242 }),
      nextHop('2001:db8::4', { targetVni: 4294967295 }),
    ];
    for (const h of hops) a.send(add(100, '10.0.1.0/24', h));
    a.send(add(100, '2001:db8:1::/48', '2001:db8::99'));
    await a.barrier();
    await b.barrier();
    assert.deepEqual(b.updateLines(), [
      'ADD 100 10.0.1.0/24 via 2001:db8::1',
      'ADD 100 10.0.1.0/24 via 2001:db8::2 [NAT ports 1024-65535]',
      'ADD 100 10.0.1.0/24 via 2001:db8::3 (VNI: 4242) [LB]',
      'ADD 100 10.0.1.0/24 via 2001:db8::4 (VNI: 4294967295)',
      'ADD 100 2001:db8:1::/48 via 2001:db8::99',
    ]);
    assert.deepEqual(a.updateLines(), []);
    assert.equal(server.routeCount, 5);
  });

  it('two announcers of one route: one ADD; one withdraws: nothing; the other disconnects: one REMOVE', async (t) => {
    const server = await startServer(t);
    const s = await rawPeer(t, server);
    const a = await rawPeer(t, server);
    const b = await rawPeer(t, server);
    s.send(encodeSubscribe(7));
    a.send(encodeSubscribe(7));
    b.send(encodeSubscribe(7));
    await s.barrier();
    a.send(add(7, '10.0.0.0/24', '2001:db8::a'));
    await a.barrier();
    b.send(add(7, '10.0.0.0/24', '2001:db8::a'));
    await b.barrier();
    await s.barrier();
    await a.barrier();
    // a sees the route only once b owns it too; b saw it from a.
    assert.deepEqual(s.updateLines(), ['ADD 7 10.0.0.0/24 via 2001:db8::a']);
    assert.deepEqual(a.updateLines(), ['ADD 7 10.0.0.0/24 via 2001:db8::a']);
    assert.deepEqual(b.updateLines(), ['ADD 7 10.0.0.0/24 via 2001:db8::a']);
    a.send(del(7, '10.0.0.0/24', '2001:db8::a'));
    await a.barrier();
    await s.barrier();
    await b.barrier();
    assert.equal(s.updateLines().length, 1);
    assert.deepEqual(b.updateLines(), [
      'ADD 7 10.0.0.0/24 via 2001:db8::a',
      'REMOVE 7 10.0.0.0/24 via 2001:db8::a',
    ]);
    b.close();
    await s.waitForUpdates(2);
    await s.barrier();
    assert.deepEqual(s.updateLines(), [
      'ADD 7 10.0.0.0/24 via 2001:db8::a',
      'REMOVE 7 10.0.0.0/24 via 2001:db8::a',
    ]);
    await a.barrier();
    assert.deepEqual(a.updateLines(), [
      'ADD 7 10.0.0.0/24 via 2001:db8::a',
      'REMOVE 7 10.0.0.0/24 via 2001:db8::a',
    ]);
    assert.equal(server.routeCount, 0);
  });

  it("sends a snapshot on SUBSCRIBE once, without the subscriber's own routes; duplicate SUBSCRIBE is a no-op", async (t) => {
    const server = await startServer(t);
    const a = await rawPeer(t, server);
    a.send(add(9, '10.9.0.0/16', '2001:db8::1'));
    a.send(add(9, '10.9.1.0/24', natNextHop('2001:db8::2', 1, 2)));
    a.send(add(10, '10.10.0.0/16', '2001:db8::1'));
    await a.barrier();
    const b = await rawPeer(t, server);
    b.send(add(9, '10.9.9.0/24', '2001:db8::b'));
    b.send(encodeSubscribe(9));
    b.send(encodeSubscribe(9));
    await b.barrier();
    assert.deepEqual(b.updateLines().sort(), [
      'ADD 9 10.9.0.0/16 via 2001:db8::1',
      'ADD 9 10.9.1.0/24 via 2001:db8::2 [NAT ports 1-2]',
    ]);
    assert.deepEqual(server.peers().find((p) => p.subscriptions.length > 0)?.subscriptions, [9]);
  });

  it('UNSUBSCRIBE stops updates and withdraws what the peer owns in that VNI', async (t) => {
    const server = await startServer(t);
    const a = await rawPeer(t, server);
    const s = await rawPeer(t, server);
    s.send(encodeSubscribe(1));
    s.send(encodeSubscribe(2));
    a.send(encodeSubscribe(1));
    await s.barrier();
    a.send(add(1, '10.1.0.0/16', '2001:db8::1'));
    a.send(add(2, '10.2.0.0/16', '2001:db8::1'));
    await a.barrier();
    a.send(encodeUnsubscribe(1));
    a.send(encodeUnsubscribe(1));
    await a.barrier();
    await s.barrier();
    assert.deepEqual(s.updateLines(), [
      'ADD 1 10.1.0.0/16 via 2001:db8::1',
      'ADD 2 10.2.0.0/16 via 2001:db8::1',
      'REMOVE 1 10.1.0.0/16 via 2001:db8::1',
    ]);
    s.send(add(1, '10.1.1.0/24', '2001:db8::5'));
    await s.barrier();
    await a.barrier();
    assert.deepEqual(a.updateLines(), []);
  });

  it('ignores a REMOVE for a route the sender does not own', async (t) => {
    const server = await startServer(t);
    const a = await rawPeer(t, server);
    const b = await rawPeer(t, server);
    const s = await rawPeer(t, server);
    s.send(encodeSubscribe(1));
    await s.barrier();
    a.send(add(1, '10.0.0.0/8', '::1'));
    await a.barrier();
    b.send(del(1, '10.0.0.0/8', '::1'));
    b.send(del(1, '10.0.0.0/9', '::1'));
    await b.barrier();
    await s.barrier();
    assert.deepEqual(s.updateLines(), ['ADD 1 10.0.0.0/8 via ::1']);
    assert.equal(server.routeCount, 1);
  });

  it('drops invalid UPDATEs alone, counts them, and keeps the session', async (t) => {
    const server = await startServer(t);
    const a = await rawPeer(t, server);
    const s = await rawPeer(t, server);
    s.send(encodeSubscribe(100));
    await s.barrier();
    const good = encodeRouteUpdate('ADD', 100, route('10.0.1.0/24', '2001:db8::1'));
    const invalid: Buffer[] = [
      '0100140510641a0812040a00020018182206 0a04c0a80101', // 4-byte next hop (golden U11)
      '01000c05 10641a0812040a000000 1808', // no nextHop field at all (crashes a Go server)
    ].map((h) => Buffer.from(h.replace(/ /g, ''), 'hex'));
    const u = (over: Partial<Parameters<typeof encodeUpdate>[0]>): Buffer =>
      encodeUpdate({
        type: 'UPDATE',
        action: 0,
        vni: 100,
        destination: { ipVersion: 0, prefix: new Uint8Array([10, 0, 0, 0]), prefixLength: 8 },
        nextHop: {
          targetAddress: new Uint8Array(16),
          targetVni: 0,
          type: 0,
          natPortRangeFrom: 0,
          natPortRangeTo: 0,
        },
        ...over,
      });
    invalid.push(
      u({ action: 7 }),
      u({ destination: { ipVersion: 1, prefix: new Uint8Array(4), prefixLength: 8 } }),
      u({ destination: { ipVersion: 2, prefix: new Uint8Array(16), prefixLength: 8 } }),
      u({ destination: { ipVersion: 0, prefix: new Uint8Array(4), prefixLength: 33 } }),
      u({
        nextHop: {
          targetAddress: new Uint8Array(16),
          targetVni: 0,
          type: 9,
          natPortRangeFrom: 0,
          natPortRangeTo: 0,
        },
      }),
      u({
        nextHop: {
          targetAddress: new Uint8Array(16),
          targetVni: 0,
          type: 1,
          natPortRangeFrom: 9,
          natPortRangeTo: 8,
        },
      }),
      u({ destination: undefined }),
      u({ nextHop: undefined }),
    );
    for (const f of invalid) a.send(f);
    a.send(good);
    await a.barrier();
    await s.barrier();
    assert.equal(a.isClosed, false);
    assert.equal(server.counters.invalidUpdates, invalid.length);
    assert.deepEqual(s.updateLines(), ['ADD 100 10.0.1.0/24 via 2001:db8::1']);
    assert.equal(server.routeCount, 1);
  });

  it('withdraws everything a peer owned when it disconnects, in every VNI', async (t) => {
    const server = await startServer(t);
    const s = await rawPeer(t, server);
    s.send(encodeSubscribe(1));
    s.send(encodeSubscribe(2));
    const a = await rawPeer(t, server);
    a.send(add(1, '10.0.0.0/8', '::1'));
    a.send(add(2, '10.0.0.0/8', '::1'));
    a.send(add(3, '10.0.0.0/8', '::1'));
    await a.barrier();
    await s.waitForUpdates(2);
    a.close();
    await s.waitForUpdates(4);
    await s.barrier();
    assert.deepEqual(s.updateLines().slice(2).sort(), [
      'REMOVE 1 10.0.0.0/8 via ::1',
      'REMOVE 2 10.0.0.0/8 via ::1',
    ]);
    assert.equal(server.routeCount, 0);
  });
});

describe('server: withdrawn routes announced again', () => {
  it('routes announced again while the table still sweeps their old entries are routes again', async (t) => {
    // One entry freed per turn: b's ADDs meet withdrawn entries that are still in the table.
    const server = await startServer(t, { sweepStep: 1 });
    const s = await rawPeer(t, server);
    s.send(encodeSubscribe(100));
    await s.barrier();
    const a = await rawPeer(t, server);
    const b = await rawPeer(t, server);
    const N = 20_000;
    const frames = (hop: string): Buffer =>
      Buffer.concat(
        Array.from({ length: N }, (_, i) =>
          add(100, `10.${String(i >> 16)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`, hop),
        ),
      );
    const same = frames('2001:db8::a');
    a.send(same);
    await s.waitForUpdates(N, 20000);
    a.close();
    // a's close is handled (all its entries withdrawn at once) when its first REMOVE arrives.
    await s.waitForUpdates(N + 1, 20000);
    b.send(same);
    await s.waitForUpdates(3 * N, 20000);
    await b.barrier();
    await s.barrier();
    const lines = s.updateLines();
    assert.equal(lines.length, 3 * N);
    assert.equal(lines.slice(N, 2 * N).filter((l) => l.startsWith('REMOVE')).length, N);
    assert.equal(lines.slice(2 * N).filter((l) => l.startsWith('ADD')).length, N);
    assert.equal(server.routeCount, N);
    const owners = new Set(server.routes(100).flatMap((r) => r.owners));
    assert.equal(server.routes(100).length, N);
    assert.deepEqual([...owners], [server.peers().find((p) => p.routesOwned > 0)?.address]);
    b.close();
    await s.waitForUpdates(4 * N, 20000);
    await s.barrier();
    assert.equal(s.updateLines().length, 4 * N);
    assert.equal(server.routeCount, 0);
    assert.deepEqual(server.routes(), []);
  });
});

describe('server bursts and slow consumers', () => {
  it('a burst of 10,000 routes reaches each subscriber exactly once and is withdrawn exactly once', async (t) => {
    const server = await startServer(t);
    const subs = await Promise.all([0, 1, 2].map(() => rawPeer(t, server)));
    for (const s of subs) s.send(encodeSubscribe(100));
    await Promise.all(subs.map((s) => s.barrier()));
    const pub = await rawPeer(t, server);
    const N = 10_000;
    const frames: Buffer[] = [];
    for (let i = 0; i < N; i++)
      frames.push(
        add(
          100,
          `10.${String(i >> 16)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`,
          '2001:db8::77',
        ),
      );
    pub.send(Buffer.concat(frames));
    await Promise.all(subs.map((s) => s.waitForUpdates(N, 20000)));
    assert.equal(server.routeCount, N);
    // Encoded once for the three recipients, and coalesced into few writes per recipient.
    assert.equal(server.counters.updatesEncoded, N);
    for (const info of server.peers().filter((p) => p.subscriptions.length > 0)) {
      assert.ok(info.writes < N / 20, `${String(info.writes)} writes for ${String(N)} frames`);
    }
    pub.close();
    await Promise.all(subs.map((s) => s.waitForUpdates(2 * N, 20000)));
    for (const s of subs) {
      await s.barrier();
      const lines = s.updateLines();
      assert.equal(lines.length, 2 * N);
      const adds = new Set(lines.filter((l) => l.startsWith('ADD')));
      const removes = new Set(lines.filter((l) => l.startsWith('REMOVE')));
      assert.equal(adds.size, N);
      assert.equal(removes.size, N);
    }
    assert.equal(server.routeCount, 0);
  });

  it('cuts off a subscriber that stops reading (stall timeout) while the others keep receiving', async (t) => {
    const server = await startServer(t, { stallTimeoutMs: 300 });
    const slow = await rawPeer(t, server, 5, Feature.REASSEMBLY);
    const fast = await rawPeer(t, server, 5, Feature.REASSEMBLY);
    slow.send(encodeSubscribe(5));
    fast.send(encodeSubscribe(5));
    await slow.barrier();
    await fast.barrier();
    slow.socket.pause(); // stops reading: the kernel buffers fill, then the server stalls on it
    const pub = await rawPeer(t, server, 5, Feature.REASSEMBLY);
    const N = 200_000;
    await publish(pub, N, (i) => add(5, v6Dest(i), natNextHop('2001:db8::5', 40000, 50000)));
    await fast.waitForUpdates(N, 30000);
    await slow.until(
      () => server.counters.slowConsumerDisconnects === 1,
      10000,
      'slow consumer cut',
    );
    assert.equal(pub.isClosed, false);
    assert.equal(fast.isClosed, false);
    assert.equal(fast.updateCount, N);
    assert.equal(server.peerCount, 2);
  });

  it('serves a subscriber that reads slowly from a backlog: memory bounded, ends exact, never cut', async (t) => {
    const high = 256 * 1024;
    const server = await startServer(t, {
      keepalive: 60, // the raw peers send no keepalives of their own
      queueLowWatermarkBytes: 64 * 1024,
      queueHighWatermarkBytes: high,
      stallTimeoutMs: 60_000,
    });
    const slow = await rawPeer(t, server, 60, Feature.REASSEMBLY);
    slow.send(encodeSubscribe(6));
    await slow.barrier();
    // It reads in small sips: its queue passes the high watermark, then it is fed from its backlog.
    let sipping = true;
    const sip = async (): Promise<void> => {
      while (sipping && !slow.isClosed) {
        slow.socket.pause();
        await new Promise((r) => setTimeout(r, 50)); // the slow peer's reading speed
        slow.socket.resume();
        await new Promise((r) => setImmediate(r));
      }
    };
    const sipper = sip();
    let maxQueued = 0;
    let sawBehind = false;
    const watch = setInterval(() => {
      const info = server.peers().find((p) => p.address === localAddress(slow));
      if (info === undefined) return;
      maxQueued = Math.max(maxQueued, info.queuedBytes);
      sawBehind ||= info.behind;
    }, 5);
    t.after(() => {
      clearInterval(watch);
      sipping = false;
    });
    const pub = await rawPeer(t, server, 60, Feature.REASSEMBLY);
    const N = 200_000;
    // Announce N, withdraw every other one.
    await publish(pub, N, (i) => add(6, v6Dest(i), '2001:db8::6'));
    await publish(pub, N / 2, (i) => del(6, v6Dest(2 * i), '2001:db8::6'));
    await pub.barrier();
    sipping = false;
    await sipper;
    slow.socket.resume();
    // It converges to exactly the table's view, without duplicates or stray REMOVEs.
    await slow.until(() => slow.view.size === N / 2, 60000, 'slow view complete');
    await slow.barrier();
    clearInterval(watch);
    assertExactView(
      slow,
      server.routes(6).map((r) => routeText(6, r.route)),
    );
    assert.ok(sawBehind, 'the slow subscriber was served from its backlog');
    assert.ok(server.counters.backlogEntered >= 1);
    assert.ok(maxQueued <= high + 128 * 1024, `queue peaked at ${String(maxQueued)} bytes`);
    assert.ok(slow.updateCount < N + N / 2, 'add/remove pairs coalesced in the backlog');
    assert.equal(server.counters.slowConsumerDisconnects, 0);
    assert.equal(slow.isClosed, false);
  });

  it('a paced subscriber does not slow the others down', async (t) => {
    // Pacing applies to peers without REASSEMBLY; 64 KiB/s makes it obvious.
    const server = await startServer(t, {
      keepalive: 60, // the raw peers send no keepalives of their own
      pacing: { bytesPerSecond: 64 * 1024, burstBytes: 16 * 1024 },
      queueLowWatermarkBytes: 64 * 1024,
      queueHighWatermarkBytes: 256 * 1024,
    });
    const paced = await rawPeer(t, server, 60); // a plain MetalBond peer: paced
    const fast = await rawPeer(t, server, 60, Feature.REASSEMBLY);
    paced.send(encodeSubscribe(7));
    fast.send(encodeSubscribe(7));
    await paced.barrier();
    await fast.barrier();
    const pub = await rawPeer(t, server, 60, Feature.REASSEMBLY);
    const N = 50_000; // about 2 MB: 30 s for the paced peer
    const started = Date.now();
    await publish(pub, N, (i) => add(7, v6Dest(i), '2001:db8::7'));
    await fast.until(() => fast.view.size === N, 20000, 'fast view complete');
    const fastMs = Date.now() - started;
    assert.ok(paced.view.size < N / 2, `paced peer has ${String(paced.view.size)} already`);
    assert.ok(fastMs < 15000, `fast subscriber took ${String(fastMs)} ms`);
    // The publisher leaves: the paced peer's backlog coalesces, it ends with an empty view.
    pub.close();
    await fast.until(() => fast.view.size === 0, 20000, 'fast view empty');
    await paced.until(() => paced.view.size === 0 && paced.updateCount > 0, 30000, 'empty');
    await paced.barrier();
    assert.deepEqual(paced.viewErrors, []);
    assert.deepEqual(fast.viewErrors, []);
    assert.ok(paced.updateCount < 2 * N, 'coalesced');
    assert.equal(server.counters.slowConsumerDisconnects, 0);
  });
});

describe('server lifecycle', () => {
  it('refuses a listen address in use with a clear error', async (t) => {
    const server = await startServer(t);
    const { MetalBondServer } = await import('../../src/server/server.js');
    await assert.rejects(
      MetalBondServer.start(`[::1]:${String(server.address.port)}`),
      /cannot listen on \[::1\]:\d+: address already in use/,
    );
  });

  it('shuts down gracefully: sessions closed, port released', async (t) => {
    const server = await startServer(t);
    const p = await rawPeer(t, server);
    await server.shutdown();
    await p.waitClosed();
    const again = await startServer(t, {}, `[::1]:${String(server.address.port)}`);
    assert.equal(again.address.port, server.address.port);
  });

  it('reports peers, routes, subscribers and events', async (t) => {
    const server = await startServer(t);
    const events: string[] = [];
    server.on('peer', (e) => events.push(`peer ${e.type}`));
    server.on('subscription', (e) => events.push(`sub ${String(e.vni)} ${String(e.subscribed)}`));
    server.on('route', (e) =>
      events.push(`route ${e.action} ${String(e.vni)} ${e.route.destination.address}`),
    );
    const a = await rawPeer(t, server);
    a.send(encodeSubscribe(3));
    a.send(add(3, '10.3.0.0/16', '::3'));
    await a.barrier();
    const [info] = server.peers();
    assert.ok(info);
    assert.equal(info.routesOwned, 1);
    assert.deepEqual(info.subscriptions, [3]);
    assert.ok(info.messagesIn >= 4 && info.bytesIn > 0 && info.bytesOut > 0);
    assert.deepEqual(
      server.routes(3).map((r) => [r.vni, r.route.destination.address, r.owners]),
      [[3, '10.3.0.0', [info.address]]],
    );
    assert.deepEqual(server.subscribers(3), [info.address]);
    a.close();
    await a.closed;
    await new Promise<void>((resolve) =>
      server.once('peer', () => {
        resolve();
      }),
    );
    assert.deepEqual(events, [
      'peer connected',
      'peer established',
      'sub 3 true',
      'route ADD 3 10.3.0.0',
      'route REMOVE 3 10.3.0.0',
      'peer closed',
    ]);
  });

  it('a throwing event listener is isolated: logged, counted, reported; fan-out and sessions unaffected', async (t) => {
    const server = await startServer(t);
    const failed: string[] = [];
    server.on('listenerError', (_e, event) => failed.push(event));
    server.on('peer', () => {
      throw new Error('peer listener fails');
    });
    server.on('route', () => {
      throw new Error('route listener fails');
    });
    const seen: string[] = [];
    server.on('route', (e) => seen.push(`${e.action} ${e.route.destination.address}`));
    const sub = await rawPeer(t, server);
    sub.send(encodeSubscribe(3));
    await sub.barrier();
    const pub = await rawPeer(t, server);
    pub.send(add(3, '10.3.1.0/24', '::3'));
    pub.send(add(3, '10.3.2.0/24', '::3'));
    await pub.barrier();
    pub.send(del(3, '10.3.1.0/24', '::3'));
    await pub.barrier();
    pub.close();
    await sub.waitForUpdates(4);
    await sub.barrier();
    assert.deepEqual(sub.updateLines(), [
      'ADD 3 10.3.1.0/24 via ::3',
      'ADD 3 10.3.2.0/24 via ::3',
      'REMOVE 3 10.3.1.0/24 via ::3',
      'REMOVE 3 10.3.2.0/24 via ::3',
    ]);
    // The other listener still got every event.
    assert.deepEqual(seen, ['ADD 10.3.1.0', 'ADD 10.3.2.0', 'REMOVE 10.3.1.0', 'REMOVE 10.3.2.0']);
    assert.equal(server.counters.protocolErrors, 0);
    assert.equal(server.counters.internalErrors, 0);
    assert.ok(server.counters.listenerErrors >= 8, String(server.counters.listenerErrors));
    assert.ok(failed.includes('route') && failed.includes('peer'));
    assert.equal(sub.isClosed, false);
  });

  it("emits 'route' only while somebody listens (listeners added and removed at any time)", async (t) => {
    const server = await startServer(t);
    const a = await rawPeer(t, server);
    const seen: string[] = [];
    const first = (e: { action: string; route: { destination: { address: string } } }): void => {
      seen.push(`first ${e.action} ${e.route.destination.address}`);
    };
    const second = (e: { action: string; route: { destination: { address: string } } }): void => {
      seen.push(`second ${e.action} ${e.route.destination.address}`);
    };
    a.send(add(3, '10.0.0.1/32', '::3'));
    await a.barrier();
    server.on('route', first);
    a.send(add(3, '10.0.0.2/32', '::3'));
    await a.barrier();
    server.on('route', second);
    server.off('route', first);
    a.send(add(3, '10.0.0.3/32', '::3'));
    await a.barrier();
    server.off('route', second);
    a.send(add(3, '10.0.0.4/32', '::3'));
    await a.barrier();
    server.once('route', first);
    a.send(add(3, '10.0.0.5/32', '::3'));
    a.send(add(3, '10.0.0.6/32', '::3'));
    await a.barrier();
    assert.deepEqual(seen, ['first ADD 10.0.0.2', 'second ADD 10.0.0.3', 'first ADD 10.0.0.5']);
    assert.equal(server.routeCount, 6);
  });
});
