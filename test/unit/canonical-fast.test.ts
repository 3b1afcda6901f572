import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import type { Route } from '../../src/model/route.js';
import {
  canonicalPayloadRoute,
  fieldsInvalidReason,
  fieldsRoute,
  fieldsRouteKey,
} from '../../src/model/validate.js';
import { canonicalUpdateKeyStart, fastResult } from '../../src/wire/canonical-fast.js';
import { UpdateFields } from '../../src/wire/decode.js';
import { encodeUpdate } from '../../src/wire/encode.js';
import { ProtocolError } from '../../src/errors.js';
import { arbMessage, arbValidUpdate } from '../helpers/arbitraries.js';

/** The general path's verdict: undefined when invalid or undecodable. */
interface Verdict {
  action: number;
  vni: number;
  key: string;
  route: Route;
}

function general(payload: Buffer): Verdict | undefined {
  try {
    const f = new UpdateFields().parse(payload);
    if (fieldsInvalidReason(f) !== undefined) return undefined;
    return { action: f.action, vni: f.vni, key: fieldsRouteKey(f), route: fieldsRoute(f) };
  } catch (e) {
    assert.ok(e instanceof ProtocolError);
    return undefined;
  }
}

function fast(payload: Buffer): Verdict | undefined {
  const k = canonicalUpdateKeyStart(payload, 0, payload.length);
  if (k < 0) return undefined;
  return {
    action: fastResult.action,
    vni: fastResult.vni,
    key: payload.toString('latin1', k),
    route: canonicalPayloadRoute(payload, k),
  };
}

describe('canonical fast path (server and client)', () => {
  it("accepts every valid canonical UPDATE, with the general path's action, VNI, key and route", () => {
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

  it('reads only its own payload when more frames follow in the buffer (as in a received chunk)', () => {
    const payload = fc.oneof(
      arbValidUpdate().map(({ message }) => encodeUpdate(message).subarray(4)),
      arbValidUpdate().chain(({ message }) => {
        const p = encodeUpdate(message).subarray(4);
        // Truncated or mutated payloads: whatever follows must never complete them.
        return fc
          .tuple(fc.nat({ max: p.length - 1 }), fc.nat({ max: 255 }), fc.nat({ max: p.length }))
          .map(([i, b, cut]) => {
            const q = Buffer.from(p);
            q[i] = b;
            return q.subarray(0, cut);
          });
      }),
      // Valid fields followed by more bytes inside the payload: never part of the key.
      fc
        .tuple(
          arbValidUpdate().map(({ message }) => encodeUpdate(message).subarray(4)),
          fc.uint8Array({ minLength: 1, maxLength: 8 }),
        )
        .map(([p, tail]) => Buffer.concat([p, tail])),
    );
    const around = fc.uint8Array({ maxLength: 60 }).map((u) => Buffer.from(u));
    const following = fc.oneof(
      around,
      arbValidUpdate().map(({ message }) => encodeUpdate(message)),
    );
    fc.assert(
      fc.property(around, payload, following, (before, p, after) => {
        const buf = Buffer.concat([before, p, after]);
        const start = before.length;
        const end = start + p.length;
        const k = canonicalUpdateKeyStart(buf, start, end);
        const expected = general(Buffer.from(p));
        if (k < 0) {
          // Refusing is always safe (the general path then decides), but every valid canonical
          // payload must be taken.
          const alone = fast(Buffer.from(p));
          assert.equal(alone, undefined, `refused in a buffer, taken alone: ${p.toString('hex')}`);
          return;
        }
        assert.ok(k >= start && k <= end);
        const got = {
          action: fastResult.action,
          vni: fastResult.vni,
          key: buf.toString('latin1', k, end),
        };
        assert.deepEqual(
          { ...got, route: canonicalPayloadRoute(buf, k) },
          expected,
          `${before.toString('hex')} | ${p.toString('hex')} | ${after.toString('hex')}`,
        );
      }),
      { numRuns: 20000 },
    );
  });
});
