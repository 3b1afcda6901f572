/**
 * The installer's engine against a fake kernel (test/helpers/fake-kernel.ts): pipelining and
 * batching, order per route, refusals, transient errors with back-off, a receive-buffer overflow.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import pino from 'pino';

import { RTM_NEWNEXTHOP, RTM_NEWROUTE } from '../../src/kernel/constants.js';
import { KernelRouteInstaller } from '../../src/kernel/installer.js';
import type { Logger } from '../../src/log.js';
import { route } from '../../src/model/route.js';
import { FakeKernel } from '../helpers/fake-kernel.js';

/** A logger that keeps its lines. */
function memoryLogger(): { log: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const log = pino(
    { level: 'debug' },
    { write: (s: string) => lines.push(JSON.parse(s) as Record<string, unknown>) },
  );
  return { log, lines };
}

async function open(
  kernel: FakeKernel,
  extra: { window?: number; batch?: number; logger?: Logger } = {},
): Promise<KernelRouteInstaller> {
  return KernelRouteInstaller.open(
    {
      tables: new Map([
        [100, 100],
        [200, 70000],
      ]),
      device: 't0',
      reconcileIntervalMs: 0,
      retryMinMs: 5,
      retryMaxMs: 40,
      ...extra,
    },
    kernel,
  );
}

const hop = (i: number): string => `2001:db8::${i.toString(16)}`;

describe('kernel route installer engine (fake kernel)', () => {
  it('pipelines: batches of at most `batch` requests, at most `window` in flight, all acknowledged', async () => {
    const kernel = new FakeKernel();
    const inst = await open(kernel, { window: 40, batch: 8 });
    for (let i = 0; i < 500; i++)
      inst.addRoute(100, route(`10.${String(i >> 8)}.${String(i & 255)}.0/24`, hop(1 + (i % 10))));
    assert.equal(await inst.settled(10_000), true);
    assert.equal(kernel.routes.size, 500);
    assert.equal(inst.counters.routesInstalled, 500);
    assert.ok(
      Math.max(...kernel.datagrams) <= 8,
      `datagrams of ${String(Math.max(...kernel.datagrams))}`,
    );
    assert.ok(kernel.maxUnanswered <= 40 + 8, `in flight ${String(kernel.maxUnanswered)}`);
    assert.ok(kernel.datagrams.length < 200, 'requests share datagrams');
    assert.equal(inst.counters.ops.replace.ok, 500);
    assert.equal(inst.counters.ops.nexthop.ok, 10, 'one object per next hop');
    await inst.close();
  });

  it('applies changes to one route in order, one request in flight at a time, ending in the last state', async () => {
    const kernel = new FakeKernel();
    const inst = await open(kernel);
    const r = (h: number) => route('10.0.1.0/24', hop(h));
    inst.addRoute(100, r(1));
    await Promise.resolve();
    for (let round = 0; round < 20; round++) {
      inst.addRoute(100, r(2));
      inst.removeRoute(100, r(1));
      await new Promise((res) => setImmediate(res));
      inst.addRoute(100, r(1));
      inst.removeRoute(100, r(2));
      await new Promise((res) => setImmediate(res));
    }
    inst.addRoute(100, r(3));
    assert.equal(await inst.settled(), true);
    const writes = kernel.requests.filter(
      (q) => q.type === RTM_NEWROUTE || q.key.startsWith('route'),
    );
    assert.ok(writes.length > 0);
    const [info] = inst.kernelRoutes();
    assert.deepEqual(info?.nextHops, [hop(1), hop(3)]);
    assert.deepEqual(info.installed, [hop(1), hop(3)]);
    // never two requests for the route between an answer: checked through the seq order
    const seqs = writes.map((w) => w.seq);
    assert.deepEqual(
      [...seqs].sort((a, b) => a - b),
      seqs,
    );
    await inst.close();
  });

  it('logs a refused route once with its errno, counts it, and installs the others', async () => {
    const kernel = new FakeKernel();
    kernel.fail((q) =>
      q.type === RTM_NEWROUTE && q.key.includes('0a000200') ? 'EINVAL' : undefined,
    );
    const { log, lines } = memoryLogger();
    const inst = await open(kernel, { logger: log });
    inst.addRoute(100, route('10.0.1.0/24', hop(1)));
    inst.addRoute(100, route('10.0.2.0/24', hop(1)));
    inst.addRoute(100, route('10.0.3.0/24', hop(1)));
    assert.equal(await inst.settled(), true);
    inst.addRoute(100, route('10.0.2.0/24', hop(2)));
    assert.equal(await inst.settled(), true);
    assert.equal(kernel.routes.size, 2);
    const refused = lines.filter((l) => l.msg === 'kernel refused route');
    assert.equal(refused.length, 1, 'logged once');
    assert.equal(refused[0]?.errno, 'EINVAL');
    assert.equal(refused[0].route, '10.0.2.0/24 table 100');
    assert.equal(inst.counters.errorsByErrno.EINVAL, 2, 'counted each time');
    assert.equal(inst.kernelRoutes().find((r) => r.destination === '10.0.2.0/24')?.error, 'EINVAL');
    await inst.close();
  });

  it('retries ENOBUFS and EBUSY with back-off until they succeed', async () => {
    const kernel = new FakeKernel();
    kernel.failTimes((q) => q.type === RTM_NEWROUTE, 'ENOBUFS', 3);
    kernel.failTimes((q) => q.type === RTM_NEWNEXTHOP, 'EBUSY', 2);
    const inst = await open(kernel);
    inst.addRoute(100, route('10.0.1.0/24', hop(1)));
    inst.addRoute(200, route('2001:db8:1::/64', hop(2)));
    assert.equal(await inst.settled(), true);
    assert.equal(kernel.routes.size, 2);
    assert.ok(inst.counters.retries >= 5);
    assert.equal(inst.counters.errorsByErrno.ENOBUFS, 3);
    assert.equal(inst.counters.errorsByErrno.EBUSY, 2);
    await inst.close();
  });

  it('takes another id when a nexthop id is taken (EEXIST)', async () => {
    const kernel = new FakeKernel();
    kernel.failTimes((q) => q.type === RTM_NEWNEXTHOP, 'EEXIST', 1);
    const inst = await open(kernel);
    inst.addRoute(100, route('10.0.1.0/24', hop(1)));
    assert.equal(await inst.settled(), true);
    assert.equal(kernel.routes.size, 1);
    assert.equal(kernel.nexthops.size, 1);
    await inst.close();
  });

  it('recovers from a receive-buffer overflow (lost acknowledgements)', async () => {
    const kernel = new FakeKernel();
    const inst = await open(kernel, { window: 64, batch: 16 });
    for (let i = 0; i < 200; i++) inst.addRoute(100, route(`10.1.${String(i)}.0/24`, hop(1)));
    await new Promise((res) => setImmediate(res));
    kernel.overrun();
    assert.equal(await inst.settled(), true);
    assert.equal(kernel.routes.size, 200);
    assert.equal(inst.counters.overruns, 1);
    assert.equal(inst.counters.routesInstalled, 200);
    for (let i = 0; i < 200; i++) inst.removeRoute(100, route(`10.1.${String(i)}.0/24`, hop(1)));
    assert.equal(await inst.settled(), true);
    assert.equal(kernel.routes.size, 0);
    assert.equal(kernel.nexthops.size, 0);
    await inst.close();
  });

  it('ignores handler calls after close', async () => {
    const kernel = new FakeKernel();
    const inst = await open(kernel);
    await inst.close();
    inst.addRoute(100, route('10.0.1.0/24', hop(1)));
    assert.equal(kernel.requests.filter((q) => q.type === RTM_NEWROUTE).length, 0);
  });
});

describe('kernel route installer bulk mode (fake kernel)', () => {
  it('turns route events off while a large backlog is written, then on with a reconcile', async () => {
    const kernel = new FakeKernel();
    const inst = await open(kernel);
    assert.deepEqual(
      [...kernel.memberships].sort((a, b) => a - b),
      [1, 7, 11, 32],
    );
    const dumps = (): number => inst.counters.ops.dump.ok;
    const before = dumps();
    let sawOff = false;
    for (let i = 0; i < 3000; i++)
      inst.addRoute(100, route(`10.2.${String(i >> 8)}.${String(i & 255)}/32`, hop(1)));
    await new Promise((res) => setImmediate(res));
    await new Promise((res) => setImmediate(res));
    sawOff = !kernel.memberships.has(7);
    assert.equal(await inst.settled(), true);
    assert.equal(sawOff, true, 'events off during the backlog');
    assert.equal(kernel.routes.size, 3000);
    assert.deepEqual(
      [...kernel.memberships].sort((a, b) => a - b),
      [1, 7, 11, 32],
    );
    const deadline = Date.now() + 5000;
    while (dumps() === before && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    assert.ok(dumps() > before, 'a reconcile followed');
    assert.equal(await inst.settled(), true);
    assert.equal(inst.counters.repairs, 0, 'the reconcile found nothing to repair');
    await inst.close();
  });
});

describe('kernel route installer object deletion (fake kernel)', () => {
  it('retries a nexthop object deletion refused with EBUSY', async () => {
    const kernel = new FakeKernel();
    const inst = await open(kernel);
    inst.addRoute(100, route('10.0.1.0/24', hop(1)));
    assert.equal(await inst.settled(), true);
    kernel.failTimes((q) => q.key.startsWith('nh') && q.type === 105, 'EBUSY', 2);
    inst.removeRoute(100, route('10.0.1.0/24', hop(1)));
    assert.equal(await inst.settled(), true);
    assert.equal(kernel.routes.size, 0);
    assert.equal(kernel.nexthops.size, 0, 'deleted on the third try');
    assert.equal(inst.counters.errorsByErrno.EBUSY, 2);
    await inst.close();
  });
});
