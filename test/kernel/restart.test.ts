/**
 * Start-up with routes already in the kernel: kept without a flap until the VNI re-syncs (or the
 * hold time ends), then reconciled; with hold time 0 swept at start (Go MetalBond's behaviour).
 */

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it, type TestContext } from 'node:test';

import { Agent } from './agent-client.js';
import { SKIP, eventually, netns, type Netns } from './netns.js';

const A = '2001:db8::a';
const B = '2001:db8::b';
const C = '2001:db8::c';

/** `ip monitor route nexthop` in the namespace; resolves once it provably listens. */
async function monitor(t: TestContext, ns: Netns): Promise<{ lines: string[] }> {
  const proc = spawn('ip', ['-n', ns.name, 'monitor', 'route', 'nexthop'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.after(() => proc.kill('SIGKILL'));
  const lines: string[] = [];
  let buf = '';
  proc.stdout.setEncoding('utf8').on('data', (c: string) => {
    buf += c;
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
  });
  // A marker change proves the monitor is listening. A new marker each time: the kernel reports
  // no change for a replace that changes nothing, so a first one made before the monitor
  // subscribed would never be seen.
  let markers = 0;
  await eventually(async () => {
    markers++;
    const marker = `192.0.2.${String(markers)}/32`;
    await ns.ip('route', 'replace', marker, 'dev', 't1', 'table', '999', 'proto', 'static');
    assert.ok(lines.some((l) => l.startsWith('192.0.2.')));
  });
  for (let i = 1; i <= markers; i++)
    await ns.ip('route', 'del', `192.0.2.${String(i)}/32`, 'table', '999');
  await eventually(() => {
    assert.ok(lines.some((l) => l.startsWith(`Deleted 192.0.2.${String(markers)} `)));
  });
  lines.length = 0;
  return { lines };
}

/** A first installer run that leaves routes behind (killed, as a crash or an upgrade would). */
async function leaveRoutes(t: TestContext, ns: Netns, routes: string[]): Promise<void> {
  const first = await Agent.start(t, ns);
  await first.open({
    tables: [
      [100, 100],
      [200, 200],
    ],
  });
  await first.add(...routes);
  await first.kill();
}

describe('kernel routes at start-up', { skip: SKIP }, () => {
  it('keeps the routes the servers still carry without a flap and removes the rest once the VNI re-syncs', async (t) => {
    const ns = await netns(t);
    await leaveRoutes(t, ns, [
      `100#10.0.1.0/24@${A}`,
      `100#10.0.1.0/24@${B}`,
      `100#10.0.2.0/24@${A}`,
      `100#2001:db8:1::/64@${C}`,
      `200#10.0.3.0/24@${A}`,
    ]);
    const before = await ns.routes(100, 'proto', '254');
    const mon = await monitor(t, ns);

    const agent = await Agent.start(t, ns);
    await agent.open({
      tables: [
        [100, 100],
        [200, 200],
      ],
      resyncHoldMs: 60_000,
    });
    // The servers send what they carry; 10.0.2.0/24 is gone from them, the IPv6 route too.
    await agent.add(`100#10.0.1.0/24@${B}`, `100#10.0.1.0/24@${A}`);
    assert.deepEqual(
      await ns.table(100),
      {
        '10.0.1.0/24': [A, B],
        '10.0.2.0/24': [A],
        '2001:db8:1::/64': [C],
      },
      'nothing removed before the VNI re-synced',
    );
    await agent.call('synced', 100);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A, B] });
    assert.deepEqual(await ns.table(200), { '10.0.3.0/24': [A] }, 'VNI 200 not re-synced yet');

    const after = await ns.routes(100, 'proto', '254');
    assert.equal(after[0]?.nhid, before.find((r) => r.dst === '10.0.1.0/24')?.nhid, 'same object');
    const touched = mon.lines.filter((l) => l.includes('10.0.1.0/24'));
    assert.deepEqual(touched, [], 'the kept route was neither deleted nor rewritten');
    assert.ok(mon.lines.some((l) => l.startsWith('Deleted 10.0.2.0/24')));
    const c = await agent.counters();
    assert.equal(c.staleKept, 1);
    assert.equal(c.staleRemoved, 2);
    assert.equal(c.ops.replace.ok, 0, 'no route written');
    await agent.close();
  });

  it('adds the legs the servers send to a route found at start and drops the stale legs at re-sync', async (t) => {
    const ns = await netns(t);
    await leaveRoutes(t, ns, [`100#10.0.1.0/24@${A}`, `100#10.0.1.0/24@${B}`]);
    const agent = await Agent.start(t, ns);
    await agent.open({
      tables: [
        [100, 100],
        [200, 200],
      ],
      resyncHoldMs: 60_000,
    });
    await agent.add(`100#10.0.1.0/24@${C}`, `100#10.0.1.0/24@${A}`);
    assert.deepEqual(
      await ns.table(100),
      { '10.0.1.0/24': [A, B, C] },
      'no leg lost before re-sync',
    );
    await agent.call('synced', 100);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A, C] });
    await agent.close();
  });

  it('reconciles when the hold time ends without a re-sync', async (t) => {
    const ns = await netns(t);
    await leaveRoutes(t, ns, [`100#10.0.1.0/24@${A}`, `100#10.0.2.0/24@${B}`]);
    const agent = await Agent.start(t, ns);
    await agent.open({
      tables: [
        [100, 100],
        [200, 200],
      ],
      resyncHoldMs: 400,
    });
    await agent.add(`100#10.0.1.0/24@${A}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A], '10.0.2.0/24': [B] });
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A] });
    });
    await eventually(async () => {
      const objects = await ns.nexthops();
      assert.deepEqual(
        objects.map((o) => o.dst),
        [A],
        "B's object went with its route",
      );
    });
    await agent.close();
  });

  it('with hold time 0 sweeps the routes found before installing anything (Go behaviour)', async (t) => {
    const ns = await netns(t);
    await leaveRoutes(t, ns, [`100#10.0.1.0/24@${A}`, `200#10.0.3.0/24@${B}`]);
    const agent = await Agent.start(t, ns);
    await agent.open({
      tables: [
        [100, 100],
        [200, 200],
      ],
      holdTimeMs: 0,
    });
    assert.deepEqual(await ns.table(100), {});
    assert.deepEqual(await ns.table(200), {});
    assert.deepEqual(await ns.nexthops(), []);
    assert.equal((await agent.counters()).staleRemoved, 2);
    await agent.close();
  });

  it('takes over routes written inline (Go MetalBond) with one replace each', async (t) => {
    const ns = await netns(t);
    await ns.ip(
      'route',
      'replace',
      '10.0.1.0/24',
      'table',
      '100',
      'proto',
      '254',
      'nexthop',
      'encap',
      'ip6',
      'dst',
      A,
      'dev',
      't0',
      'nexthop',
      'encap',
      'ip6',
      'dst',
      B,
      'dev',
      't0',
    );
    const mon = await monitor(t, ns);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], resyncHoldMs: 60_000 });
    await agent.add(`100#10.0.1.0/24@${A}`, `100#10.0.1.0/24@${B}`);
    await agent.call('synced', 100);
    const [r] = await ns.routes(100, 'proto', '254');
    assert.ok(r?.nhid !== undefined, 'now uses a nexthop object');
    assert.deepEqual(r.hops, [A, B]);
    assert.ok(
      !mon.lines.some((l) => l.startsWith('Deleted 10.0.1.0/24')),
      'replaced, never deleted',
    );
    await agent.close();
  });
});
