import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { fieldsInvalidReason, fieldsRouteKey } from '../../src/model/validate.js';
import { canonicalUpdateKeyStart, fastResult } from '../../src/wire/canonical-fast.js';
import { UpdateFields } from '../../src/wire/decode.js';
import { encodeUpdate } from '../../src/wire/encode.js';
import { ProtocolError } from '../../src/errors.js';
import { arbMessage, arbValidUpdate } from '../helpers/arbitraries.js';

/** The general path's verdict: undefined when invalid or undecodable. */
function general(payload: Buffer): { action: number; vni: number; key: string } | undefined {
  try {
    const f = new UpdateFields().parse(payload);
    if (fieldsInvalidReason(f) !== undefined) return undefined;
    return { action: f.action, vni: f.vni, key: fieldsRouteKey(f) };
  } catch (e) {
    assert.ok(e instanceof ProtocolError);
    return undefined;
  }
}

function fast(payload: Buffer): { action: number; vni: number; key: string } | undefined {
  const k = canonicalUpdateKeyStart(payload, 0, payload.length);
  if (k < 0) return undefined;
  return { action: fastResult.action, vni: fastResult.vni, key: payload.toString('latin1', k) };
}

describe('canonical fast path of the server', () => {
  it("accepts every valid canonical UPDATE, with the general path's action, VNI and key", () => {
    fc.assert(
      fc.property(arbValidUpdate(), ({ message }) => {
        const payload = encodeUpdate(message).subarray(4);
        const f = fast(payload);
        assert.ok(f, `fast path refused ${payload.toString('hex')}`);
        assert.deepEqual(f, general(payload));
      }),
      { numRuns: 5000 },
    );
  });

  it('never accepts what the general path refuses, and agrees whenever it accepts', () => {
    const payloads = fc.oneof(
      arbMessage()
        .filter((m) => m.type === 'UPDATE')
        .map((m) => encodeUpdate(m).subarray(4)),
      arbValidUpdate().chain(({ message }) => {
        const p = encodeUpdate(message).subarray(4);
        return fc
          .tuple(fc.nat({ max: p.length - 1 }), fc.nat({ max: 255 }), fc.nat({ max: p.length }))
          .map(([i, b, cut]) => {
            const q = Buffer.from(p);
            q[i] = b;
            return q.subarray(0, Math.max(cut, i + 1));
          });
      }),
      fc.uint8Array({ maxLength: 80 }).map((u) => Buffer.from(u)),
    );
    fc.assert(
      fc.property(payloads, (payload) => {
        const f = fast(payload);
        if (f !== undefined) assert.deepEqual(f, general(payload), payload.toString('hex'));
      }),
      { numRuns: 20000 },
    );
  });
});
