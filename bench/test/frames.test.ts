/**
 * The load generator's frame scanner must count exactly, whatever the TCP stream's chunking
 * (run: npm run bench:test). No timing here: correctness only.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { route } from '../../src/model/route.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import { encodeHello, encodeKeepalive, encodeSubscribe } from '../../src/wire/encode.js';
import { FrameCounter } from '../lib/frame-counter.js';
import { FanoutFrames, TableFrames, probeFrame } from '../lib/frames.js';

function stream(): { bytes: Buffer; adds: number; removes: number; keepalives: number } {
  const frames: Buffer[] = [
    encodeHello(5, true),
    encodeKeepalive(),
    encodeRouteUpdate('ADD', 100, route('10.0.0.1/32', '2001:db8::1')),
    encodeRouteUpdate('REMOVE', 100, route('10.0.0.1/32', '2001:db8::1')),
    encodeSubscribe(7),
    encodeRouteUpdate('ADD', 0, route('2001:db8:1::/48', '2001:db8::2')),
    encodeRouteUpdate('REMOVE', 0, route('2001:db8:1::/48', '2001:db8::2')),
    encodeKeepalive(),
    encodeRouteUpdate('ADD', 300, route('10.1.0.0/16', '2001:db8::3')),
  ];
  return { bytes: Buffer.concat(frames), adds: 3, removes: 2, keepalives: 2 };
}

describe('FrameCounter', () => {
  it('counts a stream split at every position into two chunks', () => {
    const s = stream();
    for (let cut = 0; cut <= s.bytes.length; cut++) {
      const c = new FrameCounter();
      c.feed(s.bytes.subarray(0, cut));
      c.feed(s.bytes.subarray(cut));
      assert.equal(c.adds, s.adds, `cut ${String(cut)}`);
      assert.equal(c.removes, s.removes, `cut ${String(cut)}`);
      assert.equal(c.keepalives, s.keepalives);
      assert.equal(c.hellos, 1);
      assert.equal(c.others, 1);
      assert.equal(c.error, undefined);
    }
  });

  it('counts a stream fed one byte at a time', () => {
    const s = stream();
    const c = new FrameCounter();
    for (let i = 0; i < s.bytes.length; i++) c.feed(s.bytes.subarray(i, i + 1));
    assert.equal(c.adds, s.adds);
    assert.equal(c.removes, s.removes);
  });

  it('stops at a malformed header', () => {
    const c = new FrameCounter();
    c.feed(Buffer.from([2, 0, 0, 2]));
    assert.match(c.error ?? '', /malformed/);
    c.feed(encodeKeepalive());
    assert.equal(c.keepalives, 0);
  });
});

describe('pre-built frames', () => {
  it('fan-out blocks are B ADDs then B REMOVEs of the same routes, identical to the codec', () => {
    const f = new FanoutFrames(7, 100, 3, 2);
    assert.equal(f.blocks, 4);
    const expected = Buffer.concat([
      ...[0, 1, 2].map((i) =>
        encodeRouteUpdate('ADD', 100, route(`10.7.0.${String(i)}/32`, '2001:db8::7')),
      ),
      ...[0, 1, 2].map((i) =>
        encodeRouteUpdate('REMOVE', 100, route(`10.7.0.${String(i)}/32`, '2001:db8::7')),
      ),
    ]);
    assert.deepEqual(f.buf.subarray(f.blockStart[0], f.blockStart[2]), expected);
    const c = new FrameCounter();
    c.feed(f.buf);
    assert.equal(c.adds, 6);
    assert.equal(c.removes, 6);
  });

  it('table frames are ADDs of distinct routes, identical to the codec', () => {
    const t = new TableFrames(2, 100, 70_000);
    const last = t.buf.subarray(t.frameStart[69_999], t.frameStart[70_000]);
    assert.deepEqual(last, encodeRouteUpdate('ADD', 100, route('22.1.17.111/32', '2001:db8::2:1')));
    const c = new FrameCounter();
    c.feed(t.buf);
    assert.equal(c.adds, 70_000);
  });

  it('the probe route is outside both address plans', () => {
    assert.deepEqual(
      probeFrame(100, 0, true),
      encodeRouteUpdate('REMOVE', 100, route('11.0.0.0/32', '2001:db8::ffff:0')),
    );
  });
});
