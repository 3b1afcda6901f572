/** fast-check generators of wire messages. */

import fc from 'fast-check';

import type { Message, UpdateMessage } from '../../src/wire/messages.js';

const u32 = fc.oneof(
  fc.nat({ max: 300 }),
  fc.constant(0),
  fc.constant(0xffffffff),
  fc.nat({ max: 0xffffffff }),
);
const port = fc.oneof(fc.constant(0), fc.nat({ max: 65535 }));

export function arbMessage(): fc.Arbitrary<Message> {
  const hello = fc.record({
    type: fc.constant('HELLO' as const),
    keepaliveInterval: u32,
    isServer: fc.boolean(),
  });
  const keepalive = fc.constant({ type: 'KEEPALIVE' as const });
  const sub = fc.record({
    type: fc.constantFrom('SUBSCRIBE' as const, 'UNSUBSCRIBE' as const),
    vni: u32,
  });
  const update: fc.Arbitrary<UpdateMessage> = fc.record({
    type: fc.constant('UPDATE' as const),
    action: fc.oneof(fc.constantFrom(0, 1), fc.nat({ max: 10 })),
    vni: u32,
    destination: fc.record({
      ipVersion: fc.oneof(fc.constantFrom(0, 1), fc.nat({ max: 5 })),
      prefix: fc.oneof(
        fc.uint8Array({ minLength: 4, maxLength: 4 }),
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 20 }),
      ),
      prefixLength: fc.oneof(fc.nat({ max: 128 }), u32),
    }),
    nextHop: fc.record({
      targetAddress: fc.oneof(
        fc.uint8Array({ minLength: 16, maxLength: 16 }),
        fc.uint8Array({ maxLength: 20 }),
      ),
      targetVni: u32,
      type: fc.oneof(fc.constantFrom(0, 1, 2), fc.nat({ max: 10 })),
      natPortRangeFrom: fc.oneof(port, u32),
      natPortRangeTo: fc.oneof(port, u32),
    }),
  });
  return fc.oneof(hello, keepalive, sub, update);
}

export interface ValidUpdate {
  message: UpdateMessage;
}

/** A semantically valid UPDATE, canonical: NAT ports only on NAT hops. */
export function arbValidUpdate(): fc.Arbitrary<ValidUpdate> {
  return fc
    .record({
      action: fc.constantFrom(0, 1),
      vni: u32,
      v6: fc.boolean(),
      prefix16: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      len: fc.nat({ max: 128 }),
      address: fc.uint8Array({ minLength: 16, maxLength: 16 }),
      targetVni: u32,
      type: fc.constantFrom(0, 1, 2),
      from: port,
      to: port,
    })
    .map((r) => {
      const nat = r.type === 1;
      const [from, to] = r.from <= r.to ? [r.from, r.to] : [r.to, r.from];
      return {
        message: {
          type: 'UPDATE',
          action: r.action,
          vni: r.vni,
          destination: {
            ipVersion: r.v6 ? 1 : 0,
            prefix: r.v6 ? r.prefix16 : r.prefix16.slice(0, 4),
            prefixLength: r.v6 ? r.len : r.len % 33,
          },
          nextHop: {
            targetAddress: r.address,
            targetVni: r.targetVni,
            type: r.type,
            natPortRangeFrom: nat ? from : 0,
            natPortRangeTo: nat ? to : 0,
          },
        },
      };
    });
}
