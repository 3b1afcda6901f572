/**
 * rtnetlink encoders against the bytes iproute2 sends for the same objects and routes
 * (test/kernel/fixtures/iproute2-golden.json, made by capture-golden.sh beside it), and the
 * decoders against the encoders.
 */

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import {
  NLMSG_HDRLEN,
  NHMSG_LEN,
  RTMSG_LEN,
  RTM_NEWROUTE,
  RTM_DELROUTE,
} from '../../src/kernel/constants.js';
import {
  decodeNexthop,
  decodeRoute,
  errorCode,
  forEachAttr,
  forEachMessage,
  type MessageHeader,
} from '../../src/kernel/decode.js';
import {
  encodeNexthopCreate,
  encodeNexthopDelete,
  encodeNexthopGroupCreate,
  encodeRouteDelete,
  encodeRouteReplace,
  type AddressFamily,
} from '../../src/kernel/encode.js';
import { parseIP } from '../../src/model/ip.js';

interface Golden {
  name: string;
  command: string;
  ifindex: number;
  hex: string;
}

const golden = JSON.parse(
  readFileSync(new URL('../kernel/fixtures/iproute2-golden.json', import.meta.url), 'utf8'),
) as Golden[];

const ip = (s: string): Uint8Array => parseIP(s) as Uint8Array;
const H1 = 1296171009;
const H2 = 1296171010;
const G = 1296171011;

function route(family: AddressFamily, table: number, prefix: string, nhid: number): Buffer {
  const [addr = '', len = ''] = prefix.split('/');
  return encodeRouteReplace({ family, table, dst: ip(addr), dstLen: Number(len), nhid }, 0);
}

function del(family: AddressFamily, table: number, prefix: string): Buffer {
  const [addr = '', len = ''] = prefix.split('/');
  return encodeRouteDelete({ family, table, dst: ip(addr), dstLen: Number(len) }, 0);
}

/** Ours for each captured request. */
const OURS: Record<string, (ifindex: number) => Buffer> = {
  'nh-hop': (i) => encodeNexthopCreate(H1, ip('2001:db8::1'), i, 0),
  'nh-hop-2': (i) => encodeNexthopCreate(7, ip('2001:db8:ff:0:1234:5678:9abc:def0'), i, 0),
  'nh-group': () => encodeNexthopGroupCreate(G, [H1, H2], 0),
  'nh-group-3': () => encodeNexthopGroupCreate(9, [3, H1, H2], 0),
  'nh-delete': () => encodeNexthopDelete(H1, 0),
  'v4-nhid': () => route(4, 100, '10.0.1.0/24', H1),
  'v4-nhid-group': () => route(4, 100, '10.0.1.0/24', G),
  'v4-nhid-host-table-255': () => route(4, 255, '10.0.1.7/32', H1),
  'v4-nhid-default-table-1000': () => route(4, 1000, '0.0.0.0/0', H1),
  'v6-nhid-group': () => route(6, 100, '2001:db8:100::/64', G),
  'v6-nhid-table-70000': () => route(6, 70000, '2001:db8:200::/56', H1),
  'v6-nhid-host': () => route(6, 100, '2001:db8:300::1/128', H1),
  'v4-delete': () => del(4, 100, '10.0.1.0/24'),
  'v4-delete-table-1000': () => del(4, 1000, '10.0.2.0/24'),
  'v6-delete-table-70000': () => del(6, 70000, '2001:db8:200::/56'),
};

const NESTED = new Set([8, 22]); // NHA_ENCAP, RTA_ENCAP

/**
 * The sequence number cleared, and the padding after attributes: iproute2 leaves whatever was in
 * its buffer there (ours is zero; the kernel ignores it).
 */
function normalise(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out.fill(0, 8, 12);
  const type = out.readUInt16LE(4);
  const fixed = type === RTM_NEWROUTE || type === RTM_DELROUTE ? RTMSG_LEN : NHMSG_LEN;
  const pad = (start: number, end: number): void => {
    forEachAttr(out, start, end, (t, off, len) => {
      out.fill(0, off + len, Math.min(end, off + ((len + 3) & ~3)));
      if (NESTED.has(t)) pad(off, off + len);
    });
  };
  pad(NLMSG_HDRLEN + fixed, out.length);
  return out;
}

describe('rtnetlink encoders: iproute2 golden bytes', () => {
  it('has a case for every captured request', () => {
    assert.deepEqual(golden.map((g) => g.name).sort(), Object.keys(OURS).sort());
  });
  for (const g of golden) {
    it(`${g.name}: ${g.command}`, () => {
      const ours = OURS[g.name]?.(g.ifindex);
      assert.ok(ours !== undefined);
      assert.equal(
        normalise(ours).toString('hex'),
        normalise(Buffer.from(g.hex, 'hex')).toString('hex'),
      );
      assert.equal(ours.readUInt32LE(0), ours.length, 'nlmsg_len');
    });
  }
});

function only(b: Buffer): MessageHeader {
  const hs: MessageHeader[] = [];
  assert.ok(forEachMessage(b, (h) => hs.push(h)));
  assert.equal(hs.length, 1);
  return hs[0] as MessageHeader;
}

describe('rtnetlink decoders', () => {
  it('read back a route of any family, table and prefix', () => {
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.nat(128),
        fc.integer({ min: 1, max: 0xffffffff }),
        fc.integer({ min: 1, max: 0xffffffff }),
        (v4, addr, len, table, nhid) => {
          const dst = v4 ? addr.slice(0, 4) : addr;
          const dstLen = Math.min(len, dst.length * 8);
          const b = encodeRouteReplace({ family: v4 ? 4 : 6, table, dst, dstLen, nhid }, 42);
          const h = only(b);
          assert.equal(h.seq, 42);
          const r = decodeRoute(b, h);
          assert.equal(r?.family, v4 ? 4 : 6);
          assert.equal(r.table, table);
          assert.equal(r.dstLen, dstLen);
          assert.equal(r.nhid, nhid);
          assert.equal(r.protocol, 254);
          assert.deepEqual([...r.dst], [...dst]);
        },
      ),
    );
  });

  it('read back nexthop objects and groups', () => {
    const hop = encodeNexthopCreate(5, ip('2001:db8::9'), 12, 1);
    const n = decodeNexthop(hop, only(hop));
    assert.equal(n?.id, 5);
    assert.equal(n.oif, 12);
    assert.equal(n.encapType, 4);
    assert.deepEqual([...(n.encapDst ?? [])], [...ip('2001:db8::9')]);
    assert.equal(n.group, undefined);
    const grp = encodeNexthopGroupCreate(6, [5, 9, 3], 1);
    assert.deepEqual(decodeNexthop(grp, only(grp))?.group, [5, 9, 3]);
  });

  it('stop at a truncated datagram', () => {
    const b = Buffer.concat([encodeNexthopDelete(1, 1), encodeNexthopDelete(2, 2)]);
    const seqs: number[] = [];
    assert.equal(
      forEachMessage(b.subarray(0, b.length - 3), (h) => seqs.push(h.seq)),
      false,
    );
    assert.deepEqual(seqs, [1]);
  });

  it('read the errno of an acknowledgement', () => {
    const b = Buffer.alloc(36);
    b.writeUInt32LE(36, 0);
    b.writeUInt16LE(2, 4);
    b.writeInt32LE(-105, 16);
    assert.equal(errorCode(b, only(b)), 105);
  });

  it('refuse what the kernel would refuse', () => {
    assert.throws(() => route(4, 0, '10.0.0.0/8', 1), RangeError);
    assert.throws(() => route(4, 100, '10.0.0.0/8', 0), RangeError);
    assert.throws(() => encodeNexthopGroupCreate(1, [2], 0), RangeError);
    assert.throws(() => encodeNexthopCreate(1, ip('10.0.0.1'), 1, 0), RangeError);
  });
});
