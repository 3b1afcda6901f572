/** Pacer, KeepaliveManager and FlowControl with injected or mocked clocks: no real waiting. */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { resolveServerConfig } from '../../src/server/config.js';
import { FlowControl, type FlowCallbacks } from '../../src/server/flow-control.js';
import type { ServerPeer } from '../../src/server/peer.js';
import { KeepaliveManager } from '../../src/session/keepalive.js';
import { DEFAULT_PACING, Pacer, checkPacing } from '../../src/session/pacing.js';
import { InvalidArgumentError } from '../../src/errors.js';

describe('Pacer (token bucket)', () => {
  it('starts with one burst, refills at the rate, never above one burst', () => {
    const p = new Pacer({ bytesPerSecond: 1000, burstBytes: 2000 }, 0);
    assert.equal(p.available(0), 2000);
    p.consume(2000);
    assert.equal(p.available(0), 0);
    assert.equal(p.available(500), 500);
    assert.equal(p.available(10_000), 2000, 'capped at one burst after idling');
    p.consume(1500);
    assert.equal(p.delayFor(1000), 500, '500 left: 500 more take 500 ms');
    assert.equal(p.delayFor(100), 0);
    assert.equal(p.delayFor(5000), 1500, 'never more than a burst is waited for');
  });

  it('time going backwards gives nothing (no negative refill)', () => {
    const p = new Pacer({ bytesPerSecond: 1000, burstBytes: 2000 }, 1000);
    p.consume(2000);
    assert.equal(p.available(500), 0);
    assert.equal(p.available(1500), 1000);
  });

  it('checkPacing: default, off, and refusals naming the field', () => {
    assert.deepEqual(checkPacing(undefined), DEFAULT_PACING);
    assert.equal(checkPacing(false), undefined);
    assert.throws(() => checkPacing({ bytesPerSecond: 0, burstBytes: 2000 }), InvalidArgumentError);
    assert.throws(
      () => checkPacing({ bytesPerSecond: 1000, burstBytes: 100 }),
      /burstBytes must be >= 1192/,
    );
  });
});

describe('KeepaliveManager', () => {
  it('expires the handshake after its deadline', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    const events: string[] = [];
    const k = new KeepaliveManager({
      sendKeepalive: () => events.push('send'),
      expired: (kind, ms) => events.push(`${kind} ${String(ms)}`),
    });
    k.startHello(1000);
    t.mock.timers.tick(999);
    assert.deepEqual(events, []);
    t.mock.timers.tick(1);
    assert.deepEqual(events, ['hello 1000']);
    k.stop();
  });

  it('established: sends every period, expires after the timeout of silence, touch() defers it', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let now = 0;
    const events: string[] = [];
    const k = new KeepaliveManager(
      {
        sendKeepalive: () => events.push(`send@${String(now)}`),
        expired: (kind, ms) => events.push(`${kind}@${String(now)} after ${String(ms)}`),
      },
      () => now,
    );
    k.startEstablished(2500, 1000);
    const advance = (ms: number): void => {
      for (let i = 0; i < ms; i += 100) {
        now += 100;
        t.mock.timers.tick(100);
      }
    };
    advance(2000);
    k.touch(); // something received at 2000
    advance(2400);
    assert.deepEqual(
      events.filter((e) => !e.startsWith('send')),
      [],
      'touched at 2000: not expired at 4400',
    );
    advance(200);
    assert.deepEqual(
      events.filter((e) => !e.startsWith('send')),
      ['keepalive@4500 after 2500'],
    );
    assert.deepEqual(
      events.filter((e) => e.startsWith('send')),
      ['send@1000', 'send@2000', 'send@3000', 'send@4000'],
    );
    k.stop();
  });

  it('does not expire while reading is paused by us; the silence counts from the resume', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
    let now = 0;
    const events: string[] = [];
    const k = new KeepaliveManager(
      { sendKeepalive: () => undefined, expired: (kind) => events.push(`${kind}@${String(now)}`) },
      () => now,
    );
    k.startEstablished(1000);
    k.setPaused(true);
    for (let i = 0; i < 50; i++) {
      now += 100;
      t.mock.timers.tick(100);
    }
    assert.equal(events.length, 0);
    k.setPaused(false); // at 5000
    for (let i = 0; i < 12; i++) {
      now += 100;
      t.mock.timers.tick(100);
    }
    assert.equal(events.length, 1);
    assert.ok(
      String(events[0]).startsWith('keepalive@6'),
      `expired 1 s after the resume: ${String(events)}`,
    );
    k.stop();
  });
});

/** A peer as FlowControl sees it. */
function fakePeer(name: string): ServerPeer & { log: string[]; queued: number; written: number } {
  const log: string[] = [];
  const p = {
    name,
    log,
    queued: 0,
    written: 0,
    closed: false,
    feed: { behind: false, hasBacklog: false, backlogRoutes: 0 },
    session: {
      established: true,
      get queuedBytes() {
        return p.queued;
      },
      socketBytes: 0,
      get totalWrittenBytes() {
        return p.written;
      },
      consolidateQueue: () => log.push('consolidate'),
      setReadingPaused: (paused: boolean) => log.push(paused ? 'pause' : 'resume'),
    },
  };
  return p as unknown as ServerPeer & { log: string[]; queued: number; written: number };
}

function flow(
  peers: ServerPeer[],
  subscribers: number,
  now: () => number,
  defer: (f: () => void) => void = (f) => {
    f();
  },
): { fc: FlowControl; events: string[] } {
  const events: string[] = [];
  const cb: FlowCallbacks = {
    stalled: (p, why) => events.push(`stalled ${(p as unknown as { name: string }).name}: ${why}`),
    paused: (why) => events.push(`paused ${why}`),
    behind: (p) => events.push(`behind ${(p as unknown as { name: string }).name}`),
  };
  const config = resolveServerConfig({
    queueLowWatermarkBytes: 100,
    queueHighWatermarkBytes: 1000,
    stallTimeoutMs: 5000,
  });
  const fc = new FlowControl(
    config,
    { all: () => peers, subscriberCount: () => subscribers },
    cb,
    now,
    defer,
  );
  return { fc, events };
}

describe('FlowControl', () => {
  it('a subscriber past the high watermark falls behind once, and catches up below the low one', () => {
    const a = fakePeer('a');
    const { fc, events } = flow([a], 4, () => 0);
    a.queued = 1001;
    fc.check(a);
    fc.check(a);
    assert.deepEqual(events, ['behind a']);
    assert.equal(a.feed.behind, true);
    assert.deepEqual(a.log, ['consolidate']);
    a.queued = 50;
    (a.feed as { hasBacklog: boolean }).hasBacklog = true;
    fc.check(a);
    assert.equal(a.feed.behind, true, 'backlog left: still behind');
    (a.feed as { hasBacklog: boolean }).hasBacklog = false;
    fc.check(a);
    assert.equal(a.feed.behind, false);
    fc.stop();
  });

  it('pauses every publisher while more than half of the subscribers are above the low mark', () => {
    const peers = ['a', 'b', 'c', 'd'].map(fakePeer);
    const [a, b, c] = peers;
    assert.ok(a && b && c);
    const { fc, events } = flow(peers, 4, () => 0);
    a.queued = 200;
    b.queued = 200;
    fc.check(a);
    fc.check(b);
    assert.equal(fc.paused, false, 'half is not more than half');
    c.queued = 200;
    fc.check(c);
    assert.equal(fc.paused, true);
    assert.deepEqual(events, ['paused majority']);
    assert.ok(peers.every((p) => (p as unknown as { log: string[] }).log.includes('pause')));
    a.queued = 0;
    fc.check(a);
    assert.equal(fc.paused, false);
    assert.ok(peers.every((p) => (p as unknown as { log: string[] }).log.at(-1) === 'resume'));
    fc.stop();
  });

  it('throttle: pauses reading until the deferred re-check, then resumes', () => {
    const peers = ['a', 'b'].map(fakePeer);
    let deferred: (() => void) | undefined;
    const { fc, events } = flow(
      peers,
      2,
      () => 0,
      (f) => {
        deferred = f;
      },
    );
    fc.throttle();
    fc.throttle(); // once per turn
    assert.equal(fc.paused, true);
    assert.deepEqual(events, ['paused burst']);
    assert.ok(deferred);
    deferred();
    assert.equal(fc.paused, false);
    assert.deepEqual((peers[0] as unknown as { log: string[] }).log, ['pause', 'resume']);
    fc.stop();
  });

  it('cuts a peer without write progress for the stall timeout, never one that progresses', (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    let now = 0;
    const slow = fakePeer('slow');
    const stuck = fakePeer('stuck');
    const { fc, events } = flow([slow, stuck], 2, () => now);
    slow.queued = 50;
    stuck.queued = 50;
    fc.check(slow);
    fc.check(stuck);
    for (let i = 0; i < 60; i++) {
      now += 100;
      slow.written += 10; // a trickle is progress
      t.mock.timers.tick(100);
    }
    assert.equal(events.length, 1);
    assert.match(events[0] ?? '', /^stalled stuck: no write progress for 5\d\d\d ms/);
    fc.stop();
  });
});
