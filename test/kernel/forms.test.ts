/**
 * The kernel behaviour the installer's design rests on (docs/kernel.md), checked on the running
 * kernel: IPv6 multipath with device-only legs is refused, nexthop objects work for IPv4 and IPv6
 * routes alike, and a real `ip6tnl mode any external` device where the kernel has one.
 */

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { Agent } from './agent-client.js';
import { SKIP, netns } from './netns.js';

const A = '2001:db8::a';

describe('kernel forms', { skip: SKIP }, () => {
  it('refuses IPv6 multipath with device-only legs (why tsbond uses nexthop objects)', async (t) => {
    const ns = await netns(t);
    await assert.rejects(
      ns.ip(
        '-6',
        'route',
        'replace',
        '2001:db8:1::/64',
        'table',
        '100',
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
        '2001:db8::b',
        'dev',
        't0',
      ),
      /Device only routes can not be added for IPv6 using the multipath API/,
    );
  });

  it('accepts an IPv6 device-only encap nexthop object for IPv4 and IPv6 routes', async (t) => {
    const ns = await netns(t);
    await ns.ip('-6', 'nexthop', 'add', 'id', '1', 'encap', 'ip6', 'dst', A, 'dev', 't0');
    await ns.ip('route', 'add', '10.0.0.0/24', 'table', '100', 'nhid', '1');
    await ns.ip('route', 'add', '2001:db8:1::/64', 'table', '100', 'nhid', '1');
    assert.equal((await ns.routes(100)).length, 2);
  });
});

describe('a real ip6tnl device', { skip: SKIP }, () => {
  it('installs routes over `ip6tnl mode any external`', async (t) => {
    const ns = await netns(t);
    try {
      await ns.ip('link', 'add', 'overlay-tun', 'type', 'ip6tnl', 'mode', 'any', 'external');
    } catch (e) {
      t.skip(
        `this kernel has no ip6tnl: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`,
      );
      return;
    }
    await ns.ip('link', 'set', 'overlay-tun', 'up');
    const agent = await Agent.start(t, ns);
    await agent.open({ tables: [[100, 100]], device: 'overlay-tun' });
    await agent.add(
      `100#10.0.1.0/24@${A}`,
      '100#10.0.1.0/24@2001:db8::b',
      `100#2001:db8:1::/64@${A}`,
    );
    assert.deepEqual(await ns.table(100), {
      '10.0.1.0/24': [A, '2001:db8::b'],
      '2001:db8:1::/64': [A],
    });
    await agent.close(true);
  });
});
