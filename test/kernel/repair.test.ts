/**
 * Repairs: the tunnel device going down and up or re-created, a route or nexthop object of ours
 * deleted by hand, and the periodic reconcile (which counts what it repaired).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Agent } from './agent-client.js';
import { SKIP, eventually, netns } from './netns.js';

const A = '2001:db8::a';
const B = '2001:db8::b';

const ROUTES = [
  `100#10.0.1.0/24@${A}`,
  `100#10.0.1.0/24@${B}`,
  `100#10.0.2.0/24@${B}`,
  `100#2001:db8:1::/64@${A}`,
  `100#2001:db8:1::/64@${B}`,
];
const TABLE = {
  '10.0.1.0/24': [A, B],
  '10.0.2.0/24': [B],
  '2001:db8:1::/64': [A, B],
};

describe('kernel route repairs', { skip: SKIP }, () => {
  it('reinstalls everything when the tunnel device comes back up', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(...ROUTES);
    assert.deepEqual(await ns.table(100), TABLE);
    await ns.ip('link', 'set', 't0', 'down');
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), {}, 'the kernel dropped them');
    });
    await ns.ip('link', 'set', 't0', 'up');
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), TABLE);
    });
    await eventually(async () => {
      assert.equal((await agent.counters()).repairsByReason.device, 3);
    });
    await agent.close();
  });

  it('reinstalls everything on a re-created tunnel device (new ifindex)', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(...ROUTES);
    await ns.ip('link', 'del', 't0');
    await ns.ip('link', 'add', 't0', 'type', 'veth', 'peer', 'name', 't1');
    assert.deepEqual(await ns.table(100), {});
    await ns.ip('link', 'set', 't1', 'up');
    await ns.ip('link', 'set', 't0', 'up');
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), TABLE);
    });
    const objects = await ns.nexthops();
    assert.ok(objects.every((o) => o.group !== undefined || o.text.includes('"dev":"t0"')));
    await agent.close();
  });

  it('puts back a route deleted by hand at once (route events)', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(...ROUTES);
    await ns.ip('route', 'del', '10.0.1.0/24', 'table', '100');
    await ns.ip('-6', 'route', 'del', '2001:db8:1::/64', 'table', '100');
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), TABLE);
    });
    await eventually(async () => {
      assert.equal((await agent.counters()).repairsByReason.deleted, 2);
    });
    await agent.close();
  });

  it('puts back a route changed by hand', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(...ROUTES);
    await ns.ip('route', 'replace', '10.0.1.0/24', 'table', '100', 'proto', '254', 'dev', 't1');
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), TABLE);
    });
    assert.equal((await agent.counters()).repairsByReason.changed, 1);
    await agent.close();
  });

  it('repairs after a nexthop object of ours is deleted by hand', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(...ROUTES);
    const hopA = (await ns.nexthops()).find((o) => o.dst === A);
    assert.ok(hopA !== undefined);
    // The kernel shrinks the groups that held it; nothing of A remains.
    await ns.ip('nexthop', 'del', 'id', String(hopA.id));
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), TABLE);
    });
    assert.ok((await agent.counters()).repairs >= 2);
    await agent.close();
  });

  it('the periodic reconcile alone repairs what it finds and counts it', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], routeEvents: false });
    await agent.add(...ROUTES);
    await ns.ip('route', 'del', '10.0.2.0/24', 'table', '100');
    await ns.ip('route', 'add', '10.0.9.0/24', 'table', '100', 'proto', '254', 'dev', 't1');
    assert.deepEqual(Object.keys(await ns.table(100)).sort(), [
      '10.0.1.0/24',
      '10.0.9.0/24',
      '2001:db8:1::/64',
    ]);
    const repaired = (await agent.call('reconcile')) as number;
    assert.equal(repaired, 2);
    assert.deepEqual(await ns.table(100), TABLE);
    const c = await agent.counters();
    assert.equal(c.repairsByReason.missing, 1);
    assert.equal(c.repairsByReason.foreign, 1);
    assert.equal(await agent.call('reconcile'), 0, 'nothing left to repair');
    await agent.close();
  });

  it('runs the periodic reconcile by itself', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], routeEvents: false, reconcileIntervalMs: 200 });
    await agent.add(...ROUTES);
    await ns.ip('-6', 'route', 'del', '2001:db8:1::/64', 'table', '100');
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), TABLE);
    });
    assert.equal((await agent.counters()).repairsByReason.missing, 1);
    await agent.close();
  });
});
