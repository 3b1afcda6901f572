/**
 * The installer's paths for large tables: address text written straight into a request, route
 * requests written into a reused (dirty) datagram buffer, kernel routes filed by their parts, the
 * chunked queue of routes to write.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { writeAddress } from '../../src/kernel/address.js';
import { Fifo } from '../../src/kernel/fifo.js';
import {
  ROUTE_MESSAGE_MAX,
  encodeRouteDelete,
  encodeRouteReplace,
  writeRouteDelete,
  writeRouteReplace,
  type AddressFamily,
} from '../../src/kernel/encode.js';
import { newRouteState } from '../../src/kernel/route-state.js';
import { RouteMap, RouteStates } from '../../src/kernel/route-table.js';
import { formatIP, parseIP } from '../../src/model/ip.js';

const ip = (s: string): Uint8Array => parseIP(s) as Uint8Array;

function written(text: string, family: 4 | 6): string {
  const buf = Buffer.alloc(20, 0xaa);
  writeAddress(buf, 2, text, family);
  assert.equal(buf[0], 0xaa, 'nothing written before');
  assert.equal(buf[2 + (family === 4 ? 4 : 16)], 0xaa, 'nothing written after');
  return buf.subarray(2, family === 4 ? 6 : 18).toString('hex');
}

describe('address text into a request', () => {
  it('writes the bytes the parser reads, for any IPv4 or IPv6 text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6()), (text) => {
        const bytes = parseIP(text);
        fc.pre(bytes !== undefined);
        const family = bytes.length === 4 ? 4 : 6;
        assert.equal(written(text, family), Buffer.from(bytes).toString('hex'));
        // The canonical text (what the installer keeps) too.
        assert.equal(written(formatIP(bytes), family), Buffer.from(bytes).toString('hex'));
      }),
      { numRuns: 2000 },
    );
  });

  it('handles the edge forms of IPv6 text', () => {
    for (const t of [
      '::',
      '::1',
      '1::',
      'fe80::1:2',
      '1:2:3:4:5:6:7:8',
      'A:B::C',
      '::ffff:1.2.3.4',
    ])
      assert.equal(written(t, 6), Buffer.from(ip(t)).toString('hex'), t);
  });

  it('refuses text that is not an address of the family', () => {
    const bad4 = ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '::1', 'a.b.c.d'];
    const bad6 = [
      ':',
      ':::',
      '1:2',
      '1::2::3',
      '12345::',
      '1:2:3:4:5:6:7:8:9',
      '1:',
      'g::',
      '1.2.3.4',
    ];
    for (const t of bad4) assert.throws(() => written(t, 4), RangeError, t);
    for (const t of bad6) assert.throws(() => written(t, 6), RangeError, t);
  });
});

describe('route requests into a reused buffer', () => {
  const cases: [AddressFamily, number, string, number][] = [
    [4, 100, '10.0.1.0', 24],
    [4, 1000, '0.0.0.0', 0],
    [6, 70000, '2001:db8:200::', 56],
    [6, 100, '2001:db8:300::1', 128],
  ];
  it('writes every byte: the same request as the encoders, from text or bytes', () => {
    for (const [family, table, prefix, dstLen] of cases) {
      for (const priority of [undefined, 1024]) {
        const buf = Buffer.alloc(ROUTE_MESSAGE_MAX + 8, 0xee);
        const n = writeRouteReplace(buf, 8, family, table, prefix, dstLen, 42, 7);
        const ref = encodeRouteReplace({ family, table, dst: ip(prefix), dstLen, nhid: 42 }, 7);
        assert.equal(buf.subarray(8, 8 + n).toString('hex'), ref.toString('hex'));
        buf.fill(0xee);
        const m = writeRouteDelete(buf, 8, family, table, prefix, dstLen, priority, 9);
        const del = encodeRouteDelete({ family, table, dst: ip(prefix), dstLen, priority }, 9);
        assert.equal(buf.subarray(8, 8 + m).toString('hex'), del.toString('hex'));
        assert.ok(m <= ROUTE_MESSAGE_MAX && n <= ROUTE_MESSAGE_MAX);
      }
    }
  });
});

describe('kernel routes filed by their parts', () => {
  it('tells routes apart by table, length, prefix and metric, counting them', () => {
    const m = new RouteMap<string>();
    m.set(100, 24, '10.0.1.0', undefined, 'a');
    m.set(100, 25, '10.0.1.0', undefined, 'b');
    m.set(0xffffffff, 24, '10.0.1.0', undefined, 'c');
    m.set(100, 24, '10.0.1.0', 5, 'd');
    m.set(100, 24, '10.0.1.0', undefined, 'a2');
    assert.equal(m.size, 4);
    assert.equal(m.get(100, 24, '10.0.1.0'), 'a2');
    assert.equal(m.get(100, 25, '10.0.1.0'), 'b');
    assert.equal(m.get(0xffffffff, 24, '10.0.1.0'), 'c');
    assert.equal(m.get(100, 24, '10.0.1.0', 5), 'd');
    assert.equal(m.get(101, 24, '10.0.1.0'), undefined);
    assert.equal(m.delete(100, 24, '10.0.1.0', 5), true);
    assert.equal(m.delete(100, 24, '10.0.1.0', 5), false);
    assert.deepEqual([...m.values()].sort(), ['a2', 'b', 'c']);
    assert.equal(m.size, 3);
  });

  it('removes a state only while it is the one filed', () => {
    const t = new RouteStates();
    const s1 = newRouteState(6, 100, '2001:db8::', 64);
    const s2 = newRouteState(6, 100, '2001:db8::', 64);
    t.add(s1);
    t.add(s2);
    t.remove(s1);
    assert.equal(t.get(100, 64, '2001:db8::'), s2);
    t.remove(s2);
    assert.equal(t.size, 0);
  });
});

describe('queue of routes to write', () => {
  it('keeps first-in first-out order across chunks, however pushes and shifts interleave', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 3000 }), { maxLength: 12 }), (steps) => {
        const q = new Fifo<number>();
        const model: number[] = [];
        let next = 1;
        steps.forEach((k, i) => {
          if (i % 2 === 0) {
            for (let j = 0; j < k; j++) {
              q.push(next);
              model.push(next++);
            }
          } else {
            for (let j = 0; j < k; j++) assert.equal(q.shift(), model.shift());
          }
          assert.equal(q.length, model.length);
          assert.deepEqual([...q], model);
        });
      }),
      { numRuns: 200 },
    );
  });
});
