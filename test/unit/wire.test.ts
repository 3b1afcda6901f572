import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { create, fromBinary, toBinary } from '@bufbuild/protobuf';

import type { Action, NextHopType } from '../gen/metalbond_pb.js';
import fc from 'fast-check';

import { ProtocolError, EncodingError } from '../../src/errors.js';
import { decodePayload, UpdateFields } from '../../src/wire/decode.js';
import {
  encodeHello,
  encodeMessage,
  encodeRefused,
  encodeSubscribe,
  encodeSynced,
  encodeUpdate,
} from '../../src/wire/encode.js';
import { FrameDecoder } from '../../src/wire/frame-decoder.js';
import { MessageType, type Message, type UpdateMessage } from '../../src/wire/messages.js';
import { canonicalRouteKey, updateFrame } from '../../src/wire/route-key.js';
import { HelloSchema, SubscriptionSchema, UpdateSchema } from '../gen/metalbond_pb.js';
import { arbMessage, arbValidUpdate } from '../helpers/arbitraries.js';

function collect(decoder: FrameDecoder, chunks: Buffer[]): Message[] {
  const out: Message[] = [];
  for (const c of chunks) {
    decoder.feed(c, (type, buf, start, end) => out.push(decodePayload(type, buf, start, end)));
  }
  return out;
}

const sample: Message[] = [
  { type: 'HELLO', keepaliveInterval: 5, isServer: false },
  { type: 'KEEPALIVE' },
  { type: 'SUBSCRIBE', vni: 100 },
  {
    type: 'UPDATE',
    action: 1,
    vni: 200,
    destination: { ipVersion: 1, prefix: new Uint8Array(16).fill(0x20), prefixLength: 64 },
    nextHop: {
      targetAddress: new Uint8Array(16).fill(1),
      targetVni: 7,
      type: 1,
      natPortRangeFrom: 1024,
      natPortRangeTo: 2048,
    },
  },
  { type: 'UNSUBSCRIBE', vni: 4294967295 },
  { type: 'KEEPALIVE' },
];

describe('FrameDecoder', () => {
  const stream = Buffer.concat(sample.map(encodeMessage));

  it('decodes a stream in one chunk', () => {
    assert.deepEqual(collect(new FrameDecoder(), [stream]), sample);
  });

  it('reassembles the stream split at every point', () => {
    for (let i = 0; i <= stream.length; i++) {
      const got = collect(new FrameDecoder(), [stream.subarray(0, i), stream.subarray(i)]);
      assert.deepEqual(got, sample, `split at ${String(i)}`);
    }
  });

  it('reassembles the stream split at every pair of points', () => {
    for (let i = 0; i <= stream.length; i++) {
      for (let j = i; j <= stream.length; j++) {
        const chunks = [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)];
        assert.deepEqual(collect(new FrameDecoder(), chunks), sample);
      }
    }
  });

  it('reassembles one byte at a time', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    assert.deepEqual(collect(new FrameDecoder(), chunks), sample);
  });

  it('reassembles random chunkings of random message streams', () => {
    fc.assert(
      fc.property(
        fc.array(arbMessage(), { minLength: 1, maxLength: 40 }),
        fc.array(fc.nat({ max: 200 }), { maxLength: 60 }),
        (msgs, cuts) => {
          const bytes = Buffer.concat(msgs.map(encodeMessage));
          const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort(
            (a, b) => a - b,
          );
          const chunks: Buffer[] = [];
          let prev = 0;
          for (const p of points) {
            chunks.push(bytes.subarray(prev, p));
            prev = p;
          }
          chunks.push(bytes.subarray(prev));
          const got = collect(new FrameDecoder(), chunks);
          assert.deepEqual(got.map(encodeMessage), msgs.map(encodeMessage));
        },
      ),
      { numRuns: 300 },
    );
  });

  it('holds a partial frame and reports its size', () => {
    const d = new FrameDecoder();
    const frame = encodeSubscribe(100);
    assert.deepEqual(collect(d, [frame.subarray(0, 3)]), []);
    assert.equal(d.bufferedBytes, 3);
    assert.deepEqual(collect(d, [frame.subarray(3)]), [{ type: 'SUBSCRIBE', vni: 100 }]);
    assert.equal(d.bufferedBytes, 0);
  });

  const bad: [string, string, RegExp][] = [
    ['version 2', '02000002', /unsupported protocol version 2/],
    ['version 0', '00000002', /unsupported protocol version 0/],
    ['unknown type 6', '01000006', /unknown message type 6/],
    ['unknown type 0', '01000000', /unknown message type 0/],
    ['payload above 1188', '0104a505', /payload length 1189 above maximum of 1188/],
  ];
  for (const [name, hex, re] of bad) {
    it(`refuses ${name} as soon as the header is in, and stays failed`, () => {
      const d = new FrameDecoder();
      assert.throws(
        () => collect(d, [Buffer.from(hex, 'hex')]),
        (e: unknown) => e instanceof ProtocolError && re.test(e.message),
      );
      assert.throws(() => collect(d, [encodeSubscribe(1)]), ProtocolError);
    });
  }

  it('accepts a payload of exactly 1188 bytes (unknown fields skipped)', () => {
    // field 15, wire type 2, length 1185 -> 1 + 2 + 1185 = 1188 bytes
    const payload = Buffer.concat([Buffer.from([0x7a, 0xa1, 0x09]), Buffer.alloc(1185)]);
    const frame = Buffer.concat([Buffer.from([1, 0x04, 0xa4, MessageType.SUBSCRIBE]), payload]);
    assert.deepEqual(collect(new FrameDecoder(), [frame]), [{ type: 'SUBSCRIBE', vni: 0 }]);
  });

  it('never throws anything but ProtocolError on arbitrary bytes, and terminates', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.nat({ max: 3000 }), { maxLength: 10 }),
        (bytes, cuts) => {
          const d = new FrameDecoder();
          const b = Buffer.from(bytes);
          const points = [...new Set(cuts.map((c) => c % (b.length + 1)))].sort((x, y) => x - y);
          let prev = 0;
          try {
            for (const p of [...points, b.length]) {
              collect(d, [b.subarray(prev, p)]);
              prev = p;
            }
          } catch (e) {
            assert.ok(e instanceof ProtocolError, `unexpected ${String(e)}`);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but ProtocolError on arbitrary payloads behind a valid header', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.uint8Array({ maxLength: 200 }),
        (type, payload) => {
          const frame = Buffer.concat([
            Buffer.from([1, payload.length >> 8, payload.length & 255, type]),
            payload,
          ]);
          try {
            collect(new FrameDecoder(), [frame]);
          } catch (e) {
            assert.ok(e instanceof ProtocolError, `unexpected ${String(e)}`);
          }
        },
      ),
      { numRuns: 5000 },
    );
  });
});

describe('payload decoding', () => {
  it('refuses truncated and malformed protobuf with ProtocolError', () => {
    const cases = ['08', '0880', '1a05', '1a0212', '22', '0b', '08ffffffffffffffffffff01'];
    for (const hex of cases) {
      assert.throws(
        () => decodePayload(MessageType.UPDATE, Buffer.from(hex, 'hex')),
        ProtocolError,
        hex,
      );
    }
  });

  it('refuses a known field with the wrong wire type', () => {
    assert.throws(
      () => decodePayload(MessageType.HELLO, Buffer.from('0a0105', 'hex')),
      ProtocolError,
    );
  });

  it('keeps the low 32 bits of a long varint, like protobuf uint32', () => {
    // 2^32 + 5 as a varint
    const m = decodePayload(MessageType.SUBSCRIBE, Buffer.from('088580808010', 'hex'));
    assert.deepEqual(m, { type: 'SUBSCRIBE', vni: 5 });
  });

  it('skips unknown fields of every wire type and accepts any field order', () => {
    const p = Buffer.from('290102030405060708' + '3d01020304' + '4a0100' + '1001' + '0805', 'hex');
    assert.deepEqual(decodePayload(MessageType.HELLO, p), {
      type: 'HELLO',
      keepaliveInterval: 5,
      isServer: true,
    });
  });

  it('decodes an UPDATE without destination or nextHop (validation refuses it later)', () => {
    const m = decodePayload(MessageType.UPDATE, Buffer.from('1064', 'hex')) as UpdateMessage;
    assert.equal(m.destination, undefined);
    assert.equal(m.nextHop, undefined);
  });
});

describe('encoding', () => {
  it('refuses a payload above 1188 bytes and sends nothing', () => {
    const u: UpdateMessage = {
      type: 'UPDATE',
      action: 0,
      vni: 1,
      destination: { ipVersion: 0, prefix: new Uint8Array(1200), prefixLength: 0 },
      nextHop: undefined,
    };
    assert.throws(
      () => encodeUpdate(u),
      (e: unknown) =>
        e instanceof EncodingError &&
        e.message.includes('message too long: 1210 bytes > maximum of 1188 bytes'),
    );
  });

  it('refuses out-of-range fields', () => {
    assert.throws(() => encodeHello(-1, false), EncodingError);
    assert.throws(() => encodeSubscribe(2 ** 32), EncodingError);
    assert.throws(() => encodeSubscribe(1.5), EncodingError);
  });

  it('is byte-identical to the protobuf library for arbitrary messages (proto3 canonical form)', () => {
    fc.assert(
      fc.property(arbMessage(), (m) => {
        const frame = encodeMessage(m);
        const payload = frame.subarray(4);
        assert.equal(frame.readUInt16BE(1), payload.length);
        let ref: Uint8Array;
        switch (m.type) {
          case 'HELLO':
            ref = toBinary(HelloSchema, create(HelloSchema, m));
            break;
          case 'KEEPALIVE':
            ref = new Uint8Array(0);
            break;
          case 'SYNCED':
          case 'REFUSED':
            throw new Error(`arbMessage generates no ${m.type}`);
          case 'SUBSCRIBE':
          case 'UNSUBSCRIBE':
            ref = toBinary(SubscriptionSchema, create(SubscriptionSchema, { vni: m.vni }));
            break;
          case 'UPDATE': {
            const nat = m.nextHop?.type === 1;
            ref = toBinary(
              UpdateSchema,
              create(UpdateSchema, {
                action: m.action as Action,
                vni: m.vni,
                destination: m.destination ?? {},
                nextHop: m.nextHop
                  ? {
                      targetAddress: m.nextHop.targetAddress,
                      targetVNI: m.nextHop.targetVni,
                      type: m.nextHop.type as NextHopType,
                      natPortRangeFrom: nat ? m.nextHop.natPortRangeFrom : 0,
                      natPortRangeTo: nat ? m.nextHop.natPortRangeTo : 0,
                    }
                  : {},
              }),
            );
            break;
          }
        }
        assert.equal(Buffer.from(payload).toString('hex'), Buffer.from(ref).toString('hex'));
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips arbitrary messages (decode(encode(m)) = m, NAT ports kept only on NAT hops)', () => {
    fc.assert(
      fc.property(arbMessage(), (m) => {
        const frame = encodeMessage(m);
        const [got] = collect(new FrameDecoder(), [frame]);
        assert.ok(got);
        assert.deepEqual(encodeMessage(got), frame);
        if (m.type !== 'UPDATE' || m.nextHop?.type === 1) assert.deepEqual(got, structuredClone(m));
      }),
      { numRuns: 3000 },
    );
  });

  it('decodes what the protobuf library encodes, in its order', () => {
    fc.assert(
      fc.property(arbValidUpdate(), ({ message }) => {
        const ref = toBinary(
          UpdateSchema,
          create(UpdateSchema, {
            action: message.action as Action,
            vni: message.vni,
            destination: message.destination,
            nextHop: message.nextHop && {
              ...message.nextHop,
              targetVNI: message.nextHop.targetVni,
            },
          }),
        );
        const back = fromBinary(UpdateSchema, ref);
        const mine = decodePayload(MessageType.UPDATE, ref) as UpdateMessage;
        assert.equal(mine.vni, back.vni);
        assert.equal(mine.action, back.action);
        assert.deepEqual(mine.destination?.prefix, back.destination?.prefix);
        assert.deepEqual(mine.nextHop?.targetAddress, back.nextHop?.targetAddress);
      }),
      { numRuns: 500 },
    );
  });
});

describe('canonical route keys', () => {
  it('the key frame equals the encoder output for every valid update', () => {
    fc.assert(
      fc.property(arbValidUpdate(), ({ message }) => {
        const frame = encodeUpdate(message);
        const f = new UpdateFields().parse(frame, 4, frame.length);
        const key = canonicalRouteKey(
          f.vni,
          f.buf,
          f.prefixStart,
          f.prefixEnd,
          f.prefixLength,
          f.buf,
          f.addressStart,
          f.addressEnd,
          f.targetVni,
          f.hopType,
          f.natFrom,
          f.natTo,
        );
        assert.deepEqual(updateFrame(key, message.action === 1), frame);
        assert.deepEqual(updateFrame(key, false), encodeUpdate({ ...message, action: 0 }));
      }),
      { numRuns: 3000 },
    );
  });
});

describe('tsbond extension frames (docs/protocol.md examples)', () => {
  const hex = (b: Buffer): string => b.toString('hex');
  it('HELLO with features: field 1000 after the standard fields', () => {
    assert.equal(hex(encodeHello(5, false, 7)), '010005010805c03e07');
    assert.equal(hex(encodeHello(5, true, 7)), '0100070108051001c03e07');
    assert.equal(hex(encodeHello(5, false, 0)), '010005010805c03e00', 'present even as 0');
    assert.equal(hex(encodeHello(5, false)), '010002010805', "without it: Go's bytes");
    const [m] = collect(new FrameDecoder(), [encodeHello(5, true, 7)]);
    assert.deepEqual(m, { type: 'HELLO', keepaliveInterval: 5, isServer: true, features: 7 });
  });

  it('SYNCED: the golden bytes, VNI 0 as an empty payload', () => {
    assert.equal(hex(encodeSynced(100)), '010002640864');
    assert.equal(hex(encodeSynced(0)), '01000064');
    assert.equal(hex(encodeSynced(200)), '0100036408c801');
  });

  it('REFUSED: the documented example, and the UPDATE payload round trip', () => {
    assert.equal(
      hex(encodeRefused(2, 100, 'subscription limit')),
      '010018650802106' + '41a12' + Buffer.from('subscription limit').toString('hex'),
    );
    const update = encodeUpdate({
      type: 'UPDATE',
      action: 0,
      vni: 7,
      destination: { ipVersion: 0, prefix: new Uint8Array([10, 0, 0, 0]), prefixLength: 8 },
      nextHop: {
        targetAddress: new Uint8Array(16).fill(1),
        targetVni: 0,
        type: 0,
        natPortRangeFrom: 0,
        natPortRangeTo: 0,
      },
    }).subarray(4);
    const d = new FrameDecoder();
    d.allowType(MessageType.REFUSED);
    const [m] = collect(d, [encodeRefused(1, 7, 'route limit', update)]);
    assert.ok(m?.type === 'REFUSED');
    assert.equal(m.kind, 1);
    assert.equal(m.vni, 7);
    assert.equal(m.reason, 'route limit');
    assert.deepEqual(Buffer.from(m.update ?? []), Buffer.from(update));
    // A reason is cut to 200 bytes, never inside a character.
    const [long] = collect(d, [encodeRefused(2, 1, 'é'.repeat(150))]);
    assert.ok(long?.type === 'REFUSED');
    assert.equal(Buffer.byteLength(long.reason), 200);
    assert.equal(long.reason, 'é'.repeat(100));
  });

  it('types 100 and 101 are refused unless allowed (negotiated by the session)', () => {
    assert.throws(() => collect(new FrameDecoder(), [encodeSynced(1)]), ProtocolError);
    const d = new FrameDecoder();
    d.allowType(MessageType.SYNCED);
    assert.deepEqual(collect(d, [encodeSynced(1)]), [{ type: 'SYNCED', vni: 1 }]);
    assert.throws(() => collect(d, [encodeRefused(1, 1, 'x')]), ProtocolError);
  });
});
