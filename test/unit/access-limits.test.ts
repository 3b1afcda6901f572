import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import fc from 'fast-check';

import { ALL_RIGHTS, parseAuthorization } from '../../src/access/authorization.js';
import { CidrList } from '../../src/access/cidr.js';
import {
  DEFAULT_LIMITS,
  LogRateLimiter,
  MAX_REASON_BYTES,
  refuseAdd,
  refuseConnection,
  refuseSubscribe,
  resolveLimits,
  truncateUtf8,
} from '../../src/access/limits.js';
import { InvalidArgumentError } from '../../src/errors.js';

const limits = resolveLimits({
  maxRoutesPerPeer: 10,
  maxRoutesPerPeerPerVni: 4,
  maxSubscriptionsPerPeer: 2,
  maxConnections: 3,
});

describe('limits', () => {
  it('defaults hold tens of thousands of hypervisors; bad values are refused', () => {
    assert.ok(DEFAULT_LIMITS.maxConnections > 10_000);
    assert.deepEqual(resolveLimits(), DEFAULT_LIMITS);
    assert.throws(() => resolveLimits({ maxConnections: -1 }), InvalidArgumentError);
    assert.throws(() => resolveLimits({ maxRoutesPerPeer: 1.5 }), /maxRoutesPerPeer/);
  });

  it('refuses an ADD over the per-peer and per-VNI limits, or not authorised', () => {
    assert.equal(refuseAdd(limits, ALL_RIGHTS, 100, 9, 3), undefined);
    assert.deepEqual(refuseAdd(limits, ALL_RIGHTS, 100, 10, 0), {
      kind: 1,
      vni: 100,
      cause: 'routes-per-peer',
      reason: 'limit of 10 routes per peer reached',
    });
    assert.equal(refuseAdd(limits, ALL_RIGHTS, 100, 5, 4)?.cause, 'routes-per-peer-per-vni');
    const rights = parseAuthorization(
      'rules:\n  - match: {cidr: "::/0"}\n    announce: [1]\n    subscribe: [2]\n',
    ).rights({ address: '::1' });
    assert.equal(refuseAdd(limits, rights, 2, 0, 0)?.cause, 'announce-not-authorized');
    assert.equal(refuseAdd(limits, rights, 1, 0, 0), undefined);
    assert.equal(refuseSubscribe(limits, rights, 1, 0)?.cause, 'subscribe-not-authorized');
    assert.equal(refuseSubscribe(limits, rights, 2, 0), undefined);
    assert.equal(refuseSubscribe(limits, rights, 2, 2)?.cause, 'subscriptions-per-peer');
    assert.equal(refuseSubscribe(limits, rights, 2, 2)?.kind, 2);
  });

  it('refuses connections outside --allow and above the connection limit', () => {
    const allow = new CidrList(['10.0.0.0/8', '::1/128']);
    assert.equal(refuseConnection(limits, allow, '::ffff:10.0.0.1', 0), undefined);
    assert.equal(refuseConnection(limits, allow, '192.0.2.1', 0), 'not-allowed');
    assert.equal(refuseConnection(limits, allow, undefined, 0), 'not-allowed');
    assert.equal(refuseConnection(limits, allow, '::1', 3), 'connection-limit');
    assert.equal(refuseConnection(limits, undefined, '192.0.2.1', 2), undefined);
  });

  it('cuts reasons to 200 bytes of UTF-8 without splitting a character (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 300 }), (s) => {
        const t = truncateUtf8(s);
        assert.ok(Buffer.byteLength(t, 'utf8') <= MAX_REASON_BYTES);
        assert.ok(s.startsWith(t));
        assert.ok(!t.includes('\uFFFD') || s.includes('\uFFFD'));
        if (Buffer.byteLength(s, 'utf8') <= MAX_REASON_BYTES) assert.equal(t, s);
      }),
    );
    assert.equal(Buffer.byteLength(truncateUtf8('é'.repeat(150)), 'utf8'), 200);
    assert.equal(Buffer.byteLength(truncateUtf8(`x${'é'.repeat(150)}`), 'utf8'), 199);
  });

  it('rate-limits log lines, reporting how many were suppressed', () => {
    const r = new LogRateLimiter(2, 1000, 0);
    assert.deepEqual(r.take(0), { log: true, suppressed: 0 });
    assert.deepEqual(r.take(1), { log: true, suppressed: 0 });
    assert.deepEqual(r.take(2), { log: false, suppressed: 1 });
    assert.deepEqual(r.take(3), { log: false, suppressed: 2 });
    assert.deepEqual(r.take(1000), { log: true, suppressed: 2 });
    assert.deepEqual(r.take(1001), { log: false, suppressed: 1 });
    assert.deepEqual(r.take(5000), { log: true, suppressed: 1 });
    assert.deepEqual(r.take(5001), { log: true, suppressed: 0 });
  });
});
