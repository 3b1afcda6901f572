import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { OwnerIndex, RouteEntry } from '../../src/routing/owner-index.js';

describe('OwnerIndex', () => {
  it('keeps every linked entry at its position through links and swap-removals', () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ link: fc.boolean(), which: fc.nat({ max: 19 }) }), { maxLength: 200 }),
        (ops) => {
          const idx = new OwnerIndex<object>();
          const entries = Array.from(
            { length: 20 },
            (_, i) => new RouteEntry<object>(`k${String(i)}`, {}, -1, i),
          );
          const model = new Set<RouteEntry<object>>();
          for (const o of ops) {
            const e = entries[o.which] as RouteEntry<object>;
            if (o.link && !model.has(e)) {
              idx.link(e);
              model.add(e);
            } else if (!o.link && model.has(e)) {
              idx.unlink(e);
              model.delete(e);
            }
            assert.equal(idx.size, model.size);
            assert.deepEqual(new Set(idx.primary), model);
            idx.primary.forEach((x, i) => {
              assert.equal(x.pos, i);
            });
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('counts shared entries in its size', () => {
    const idx = new OwnerIndex<object>();
    const a = new RouteEntry<object>('a', {}, -1, 1);
    const b = new RouteEntry<object>('b', {}, -1, 2);
    idx.link(a);
    idx.share(b);
    assert.equal(idx.size, 2);
    idx.unshare(b);
    idx.unlink(a);
    assert.equal(idx.size, 0);
  });
});
