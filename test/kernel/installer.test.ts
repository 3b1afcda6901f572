/**
 * KernelRouteInstaller against the real kernel, in a network namespace per test (an agent process
 * runs the installer inside it; the test looks with `ip -n NS -json`).
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Agent } from './agent-client.js';
import { SKIP, assertKernelTestable, eventually, netns } from './netns.js';

const A = '2001:db8::a';
const B = '2001:db8::b';
const C = '2001:db8::c';
const D = '2001:db8::1:0';

describe('kernel routes: requirements', () => {
  it('root and iproute2 are available (CI must run the kernel tests)', { skip: SKIP }, () => {
    assertKernelTestable();
  });
});

describe('kernel route installer', { skip: SKIP }, () => {
  it('merges ECMP legs into one route, splits them again, withdraws it, and frees the objects', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(`100#10.0.1.0/24@${B}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [B] });
    await agent.add(`100#10.0.1.0/24@${A}`, `100#10.0.1.0/24@${C}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A, B, C] });
    const [route] = await ns.routes(100, 'proto', '254');
    const group = (await ns.nexthops()).find((n) => n.id === route?.nhid);
    assert.equal(group?.group?.length, 3, 'the route uses a group of three nexthop objects');
    await agent.remove(`100#10.0.1.0/24@${A}`, `100#10.0.1.0/24@${B}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [C] });
    await agent.remove(`100#10.0.1.0/24@${C}`);
    assert.deepEqual(await ns.table(100), {});
    await eventually(async () => {
      assert.deepEqual(await ns.nexthops(), [], 'no nexthop object left');
    });
    const c = await agent.counters();
    assert.equal(c.routesInstalled, 0);
    assert.equal(c.ops.replace.error + c.ops.delete.error + c.ops.nexthop.error, 0);
    await agent.close();
  });

  it('installs IPv6 destinations with several legs (nexthop objects, not device-only multipath)', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[7, 700]] });
    await agent.add(
      `7#2001:db8:100::/64@${C}`,
      `7#2001:db8:100::/64@${A}`,
      `7#2001:db8:100::/64@${B}`,
    );
    await agent.add(`7#2001:db8:200::1/128@${D}`);
    assert.deepEqual(await ns.table(700), {
      '2001:db8:100::/64': [A, B, C],
      '2001:db8:200::1': [D],
    });
    await agent.remove(`7#2001:db8:100::/64@${B}`);
    assert.deepEqual((await ns.table(700))['2001:db8:100::/64'], [A, C]);
    await agent.close();
  });

  it('keys kernel routes by masked prefix: 10.0.1.7/24 and 10.0.1.0/24 are one kernel route', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(`100#10.0.1.7/24@${A}`, `100#10.0.1.0/24@${B}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A, B] });
    await agent.remove(`100#10.0.1.7/24@${A}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [B] });
    await agent.close();
  });

  it('dedupes legs by address: NAT and LB hops sharing an address are one leg', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(
      `100#10.0.2.0/24@${A}#nat#1024#2047`,
      `100#10.0.2.0/24@${A}#nat#2048#4095`,
      `100#10.0.2.0/24@${A}#lb`,
      `100#10.0.2.0/24@${B}`,
    );
    assert.deepEqual(await ns.table(100), { '10.0.2.0/24': [A, B] });
    await agent.remove(`100#10.0.2.0/24@${A}#nat#1024#2047`, `100#10.0.2.0/24@${A}#lb`);
    assert.deepEqual(await ns.table(100), { '10.0.2.0/24': [A, B] }, 'one route still uses A');
    await agent.remove(`100#10.0.2.0/24@${A}#nat#2048#4095`);
    assert.deepEqual(await ns.table(100), { '10.0.2.0/24': [B] });
    await agent.close();
  });

  it('uses table ids above 255 and several VNIs', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({
      tables: [
        [1, 1000],
        [2, 70000],
        [3, 4294967295],
      ],
    });
    await agent.add(
      `1#10.1.0.0/16@${A}`,
      `2#10.2.0.0/16@${B}`,
      `2#2001:db8:2::/48@${B}`,
      `3#0.0.0.0/0@${C}`,
    );
    assert.deepEqual(await ns.table(1000), { '10.1.0.0/16': [A] });
    assert.deepEqual(await ns.table(70000), { '10.2.0.0/16': [B], '2001:db8:2::/48': [B] });
    assert.deepEqual(await ns.table(4294967295), { default: [C] });
    await agent.close();
  });

  it('installs only IPv4 destinations with ipv4Only, and skips VNIs without a table', async (t) => {
    const ns = await netns(t);
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], ipv4Only: true });
    await agent.add(`100#10.0.1.0/24@${A}`, `100#2001:db8:1::/64@${A}`, `200#10.0.9.0/24@${A}`);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A] });
    const c = await agent.counters();
    assert.equal(c.skippedIpv6, 1);
    assert.equal(c.skippedNoTable, 1);
    await agent.close();
  });

  it('never touches other protocols or other tables (sweep and cleanup included)', async (t) => {
    const ns = await netns(t);
    await ns.ip('route', 'add', '10.9.0.0/24', 'dev', 't1', 'table', '100', 'proto', 'static');
    await ns.ip('route', 'add', '10.8.0.0/24', 'dev', 't1', 'table', '101', 'proto', '254');
    await ns.ip('-6', 'nexthop', 'add', 'id', '5', 'dev', 't1');
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], holdTimeMs: 0 });
    await agent.add(`100#10.0.1.0/24@${A}`);
    await agent.close(true);
    assert.equal((await ns.routes(100)).length, 1, 'the static route in our table stays');
    assert.equal((await ns.routes(101)).length, 1, 'protocol 254 in another table stays');
    assert.deepEqual(
      (await ns.nexthops()).map((n) => n.id),
      [5],
      "someone else's nexthop object stays",
    );
  });

  it('removes our routes and objects on close with cleanup, keeps them without', async (t) => {
    const ns = await netns(t);
    let agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]] });
    await agent.add(`100#10.0.1.0/24@${A}`, `100#10.0.1.0/24@${B}`);
    await agent.close(false);
    assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A, B] });
    agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], holdTimeMs: 60_000 });
    await agent.close(true);
    assert.deepEqual(await ns.table(100), {});
    assert.deepEqual(await ns.nexthops(), []);
  });
});
