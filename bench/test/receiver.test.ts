/**
 * The generator's receivers: HELLO field 1000, the extension frames, checksums and exact views
 * must be right whatever the TCP stream's chunking (run: npm run bench:test). Correctness only.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { route } from '../../src/model/route.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import { encodeHello, encodeKeepalive } from '../../src/wire/encode.js';
import { FrameCounter } from '../lib/frame-counter.js';
import { TableFrames, tableSum } from '../lib/frames.js';
import { featuresText, helloFeatures, helloFrame } from '../lib/hello.js';
import { RouteSum, RouteView, framesSum, routeHash, sumsEqual } from '../lib/route-sum.js';

const add = (i: number): Buffer =>
  encodeRouteUpdate(
    'ADD',
    100,
    route(`10.0.${String(i >> 8)}.${String(i & 255)}/32`, '2001:db8::1'),
  );
const remove = (i: number): Buffer =>
  encodeRouteUpdate(
    'REMOVE',
    100,
    route(`10.0.${String(i >> 8)}.${String(i & 255)}/32`, '2001:db8::1'),
  );
/** SYNCED for VNI 100: the golden bytes of behaviour.md. */
const SYNCED_100 = Buffer.from([0x01, 0x00, 0x02, 0x64, 0x08, 0x64]);
/** A REFUSED frame (type 101) with kind 2 (SUBSCRIBE), vni 7. */
const REFUSED = Buffer.from([0x01, 0x00, 0x04, 0x65, 0x08, 0x02, 0x10, 0x07]);

describe('HELLO field 1000', () => {
  it('is appended with key bytes c0 3e and read back', () => {
    const h = helloFrame(5, 1);
    const base = encodeHello(5, false);
    assert.deepEqual(h.subarray(4, base.length), base.subarray(4));
    assert.deepEqual(h.subarray(base.length), Buffer.from([0xc0, 0x3e, 0x01]));
    assert.equal(h.readUInt16BE(1), h.length - 4);
    assert.equal(helloFeatures(h, 4, h.length), 1);
    const seven = helloFrame(5, 7);
    assert.equal(helloFeatures(seven, 4, seven.length), 7);
    const zero = helloFrame(5, 0);
    assert.equal(helloFeatures(zero, 4, zero.length), 0);
  });

  it('is absent without features, and a big value survives', () => {
    assert.deepEqual(helloFrame(5, undefined), encodeHello(5, false));
    const plain = encodeHello(5, true);
    assert.equal(helloFeatures(plain, 4, plain.length), undefined);
    const big = helloFrame(5, 300);
    assert.equal(helloFeatures(big, 4, big.length), 300);
  });

  it('is named', () => {
    assert.equal(featuresText(undefined), 'no field 1000');
    assert.equal(featuresText(1), 'REASSEMBLY (1)');
    assert.equal(featuresText(7), 'REASSEMBLY|SYNC_MARKER|REFUSALS (7)');
  });
});

describe('FrameCounter with the extensions', () => {
  /** A server HELLO with features 7. */
  const server = (() => {
    const h = encodeHello(5, true);
    const out = Buffer.concat([h, Buffer.from([0xc0, 0x3e, 0x07])]);
    out.writeUInt16BE(out.length - 4, 1);
    return out;
  })();
  const bytes = Buffer.concat([
    server,
    encodeKeepalive(),
    add(1),
    add(2),
    SYNCED_100,
    remove(1),
    REFUSED,
    add(3),
    remove(3),
  ]);

  it('counts SYNCED and REFUSED apart at every split, reads the server features', () => {
    for (let cut = 0; cut <= bytes.length; cut++) {
      const c = new FrameCounter({ sums: true, view: new RouteView() });
      c.feed(bytes.subarray(0, cut));
      c.feed(bytes.subarray(cut));
      assert.equal(c.error, undefined, `cut ${String(cut)}`);
      assert.equal(c.adds, 3);
      assert.equal(c.removes, 2);
      assert.equal(c.synced, 1);
      assert.equal(c.lastSyncedVni, 100);
      assert.equal(c.refused, 1);
      assert.equal(c.hellos, 1);
      assert.equal(c.helloFeatures, 7);
    }
  });

  it('keeps the same checksums whatever the split', () => {
    const whole = new FrameCounter({ sums: true });
    whole.feed(bytes);
    for (let cut = 0; cut <= bytes.length; cut += 7) {
      const c = new FrameCounter({ sums: true });
      for (let p = 0; p < bytes.length; p += cut === 0 ? 1 : cut) {
        c.feed(bytes.subarray(p, p + (cut === 0 ? 1 : cut)));
      }
      assert.ok(c.addSum !== undefined && whole.addSum !== undefined);
      assert.ok(sumsEqual(c.addSum.value(), whole.addSum.value()));
      assert.ok(c.removeSum !== undefined && whole.removeSum !== undefined);
      assert.ok(sumsEqual(c.removeSum.value(), whole.removeSum.value()));
    }
  });

  it('an ADD and the REMOVE of the same route hash alike', () => {
    const c = new FrameCounter({ sums: true });
    c.feed(Buffer.concat([add(9), remove(9)]));
    assert.ok(c.addSum !== undefined && c.removeSum !== undefined);
    assert.ok(sumsEqual(c.addSum.value(), c.removeSum.value()));
  });

  it('still stops at an unknown frame type', () => {
    const c = new FrameCounter();
    c.feed(Buffer.from([1, 0, 0, 99]));
    assert.match(c.error ?? '', /malformed/);
  });
});

describe('RouteSum', () => {
  it('is order-independent and catches a missing or duplicate route', () => {
    const t = new TableFrames(3, 100, 500);
    const forward = new RouteSum();
    framesSum(t.buf, 0, t.buf.length, forward);
    const backward = new RouteSum();
    for (let i = 499; i >= 0; i--) {
      const s = t.frameStart[i] ?? 0;
      const e = t.frameStart[i + 1] ?? 0;
      backward.add(t.buf, s + 4, e);
    }
    assert.ok(sumsEqual(forward.value(), backward.value()));
    assert.ok(sumsEqual(forward.value(), tableSum(100, [{ announcer: 3, count: 500 }])));

    // One route missing, another twice: same count, different sums.
    const wrong = new RouteSum();
    for (let i = 0; i < 500; i++) {
      const k = i === 7 ? 8 : i;
      wrong.add(t.buf, (t.frameStart[k] ?? 0) + 4, t.frameStart[k + 1] ?? 0);
    }
    assert.equal(wrong.count, 500);
    assert.ok(!sumsEqual(forward.value(), wrong.value()));
  });

  it('hashes every byte (MurmurHash3 x86_32 reference values)', () => {
    const enc = (s: string): Uint8Array => Buffer.from(s, 'latin1');
    assert.equal(routeHash(enc(''), 0, 0), 0);
    assert.equal(routeHash(enc('a'), 0, 1), 0x3c2569b2);
    assert.equal(routeHash(enc('abc'), 0, 3), 0xb3dd93fa);
    assert.equal(routeHash(enc('Hello, world!'), 0, 13), 0xc0363e43);
  });
});

describe('RouteView', () => {
  it('flags a duplicate ADD and a REMOVE of an absent route, and ends with what is present', () => {
    const v = new RouteView();
    const c = new FrameCounter({ view: v });
    c.feed(Buffer.concat([add(1), add(2), remove(1), add(2), remove(5), remove(2)]));
    const r = v.report();
    assert.equal(r.addPresent, 1);
    assert.equal(r.removeAbsent, 1);
    assert.equal(r.size, 0);
    assert.equal(r.samples.length, 2);
  });

  it('accepts a skipped ADD/REMOVE pair (what a backlog may do)', () => {
    const v = new RouteView();
    const c = new FrameCounter({ view: v });
    c.feed(Buffer.concat([add(1), add(2), remove(2)])); // route 3's pair never sent
    c.feed(remove(1));
    const r = v.report();
    assert.equal(r.addPresent + r.removeAbsent, 0);
    assert.equal(r.size, 0);
  });
});
