import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { InvalidArgumentError } from '../../src/errors.js';
import { resolveServerConfig } from '../../src/server/config.js';

describe('server configuration', () => {
  it('fills in the documented defaults', () => {
    const c = resolveServerConfig({});
    assert.equal(c.keepalive, 5);
    assert.equal(c.helloTimeoutMs, 12_500);
    assert.equal(c.queueLowWatermarkBytes, 1024 * 1024);
    assert.equal(c.queueHighWatermarkBytes, 4 * 1024 * 1024);
    assert.equal(c.stallTimeoutMs, 12_500);
    assert.equal(c.turnBudgetBytes, 4 * 1024 * 1024);
    assert.equal(c.syncDelayMs, 15_000);
    assert.equal(c.features, 7);
    assert.equal(c.invalidUpdateLogLimit, 20);
    assert.equal(c.sweepStep, 16_384);
    assert.deepEqual(c.pacing, { bytesPerSecond: 512 * 1024, burstBytes: 16 * 1024 });
    assert.equal(resolveServerConfig({ pacing: false }).pacing, undefined);
    assert.equal(resolveServerConfig({ extensions: false }).features, undefined);
    assert.equal(resolveServerConfig({ syncDelayMs: 0 }).syncDelayMs, 0);
    assert.equal(resolveServerConfig({ keepalive: 2, secondMs: 10 }).stallTimeoutMs, 50);
  });

  it('refuses values that cannot work, naming the option', () => {
    const bad: [Parameters<typeof resolveServerConfig>[0], RegExp][] = [
      [{ sweepStep: 0 }, /sweepStep must be > 0/],
      [{ queueLowWatermarkBytes: -1 }, /queueLowWatermarkBytes must be > 0/],
      [
        { queueLowWatermarkBytes: 2048, queueHighWatermarkBytes: 1024 },
        /queueHighWatermarkBytes \(1024\) must be >=/,
      ],
      [{ syncDelayMs: -1 }, /syncDelayMs must be >= 0/],
      [{ stallTimeoutMs: 0 }, /stallTimeoutMs must be > 0/],
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
