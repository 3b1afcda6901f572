import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InvalidArgumentError } from '../../src/errors.js';
import { resolveServerConfig } from '../../src/server/config.js';

describe('server configuration', () => {
  it('fills in the documented defaults', () => {
    const c = resolveServerConfig({});
    assert.equal(c.keepalive, 5);
    assert.equal(c.helloTimeoutMs, 12_500);
    assert.equal(c.queueSoftLimitBytes, 4 * 1024 * 1024);
    assert.equal(c.maxQueueBytes, 64 * 1024 * 1024);
    assert.equal(c.slowConsumerTimeoutMs, 5000);
    assert.equal(c.sweepStep, 16_384);
    assert.deepEqual(c.pacing, { bytesPerSecond: 512 * 1024, burstBytes: 16 * 1024 });
    assert.equal(resolveServerConfig({ pacing: false }).pacing, undefined);
  });

  it('refuses values that cannot work, naming the option', () => {
    const bad: [Parameters<typeof resolveServerConfig>[0], RegExp][] = [
      [{ sweepStep: 0 }, /sweepStep must be > 0/],
      [{ queueSoftLimitBytes: -1 }, /queueSoftLimitBytes must be > 0/],
      [{ queueSoftLimitBytes: 2048, maxQueueBytes: 1024 }, /maxQueueBytes \(1024\) must be >=/],
      [{ helloTimeoutMs: Number.NaN }, /helloTimeoutMs must be > 0/],
    ];
    for (const [config, message] of bad) {
      assert.throws(
        () => resolveServerConfig(config),
        (e: unknown) => e instanceof InvalidArgumentError && message.test(e.message),
      );
    }
  });
});
