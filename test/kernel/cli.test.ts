/**
 * `tsbond client --install-routes` end to end in a network namespace: a `tsbond server`, a client
 * that announces, a client that installs; plus every start-up error and --cleanup on SIGINT and
 * SIGTERM.
 */

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';

import { runCli, type CliRun } from '../helpers/cli-process.js';
import { SKIP, eventually, netns, type Netns } from './netns.js';

const A = '2001:db8::a';
const B = '2001:db8::b';

function tsbond(t: TestContext, ns: Netns, args: string[], prefix: string[] = []): CliRun {
  return runCli(t, args, { prefix: ['ip', 'netns', 'exec', ns.name, ...prefix], waitMs: 15_000 });
}

async function startServer(t: TestContext, ns: Netns): Promise<void> {
  const server = tsbond(t, ns, ['server', '-l', '[::1]:4711', '--log-format', 'json']);
  await server.waitLine('stderr', /listening/);
}

/** One line on stderr, a non-zero exit. */
async function failsWith(run: CliRun, re: RegExp, code: number): Promise<void> {
  assert.equal(await run.exited, code, run.stderr.join('\n'));
  const text = run.stderr.filter((l) => l.trim() !== '');
  assert.ok(
    text.some((l) => re.test(l)),
    text.join('\n'),
  );
}

describe('tsbond client --install-routes', { skip: SKIP }, () => {
  it('installs a route another client announces within 1 s and removes it within 1 s of its withdrawal', async (t) => {
    const ns = await netns(t);
    await startServer(t, ns);
    const installer = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '-v',
      '100',
      '--install-routes',
      '100#1000',
      '--tun',
      't0',
      '--log-format',
      'json',
    ]);
    await installer.waitLine('stderr', /server established/);
    const announcer = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '-a',
      `100#10.0.1.0/24@${A}`,
      '-a',
      `100#10.0.1.0/24@${B}`,
      '-a',
      `100#2001:db8:1::/64@${B}`,
      '--log-format',
      'json',
    ]);
    await announcer.waitLine('stderr', /server established/);
    const announced = Date.now();
    await eventually(
      async () => {
        assert.deepEqual(await ns.table(1000), { '10.0.1.0/24': [A, B], '2001:db8:1::/64': [B] });
      },
      5000,
      10,
    );
    const inMs = Date.now() - announced;
    assert.ok(inMs < 1000, `in the table after ${String(inMs)} ms`);

    announcer.proc.kill('SIGTERM');
    const withdrawn = Date.now();
    await eventually(
      async () => {
        assert.deepEqual(await ns.table(1000), {});
      },
      5000,
      10,
    );
    const outMs = Date.now() - withdrawn;
    assert.ok(outMs < 1000, `gone from the table after ${String(outMs)} ms`);
    installer.proc.kill('SIGTERM');
    assert.equal(await installer.exited, 0);
  });

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    it(`removes its routes on ${signal} with --cleanup, keeps them without`, async (t) => {
      const ns = await netns(t);
      await startServer(t, ns);
      const announcer = tsbond(t, ns, ['client', '-s', '[::1]:4711', '-a', `100#10.0.1.0/24@${A}`]);
      t.after(() => announcer.proc.kill('SIGKILL'));
      const keep = tsbond(t, ns, [
        'client',
        '-s',
        '[::1]:4711',
        '-v',
        '100',
        '--install-routes',
        '100#100',
        '--tun',
        't0',
      ]);
      await keep.waitLine('stdout', /\[\+\] VNI 100: 10\.0\.1\.0\/24/);
      await eventually(async () => {
        assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A] });
      });
      keep.proc.kill(signal);
      assert.equal(await keep.exited, 0);
      assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A] }, 'kept without --cleanup');

      const clean = tsbond(t, ns, [
        'client',
        '-s',
        '[::1]:4711',
        '-v',
        '100',
        '--install-routes',
        '100#100',
        '--tun',
        't0',
        '--cleanup',
      ]);
      await clean.waitLine('stdout', /\[\+\] VNI 100: 10\.0\.1\.0\/24/);
      clean.proc.kill(signal);
      assert.equal(await clean.exited, 0);
      assert.deepEqual(await ns.table(100), {}, 'removed with --cleanup');
      assert.deepEqual(await ns.nexthops(), []);
    });
  }

  it('--ipv4-only installs only IPv4 destinations', async (t) => {
    const ns = await netns(t);
    await startServer(t, ns);
    const announcer = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '-a',
      `100#10.0.1.0/24@${A}`,
      '-a',
      `100#2001:db8:1::/64@${A}`,
    ]);
    t.after(() => announcer.proc.kill('SIGKILL'));
    const c = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '-v',
      '100',
      '--install-routes',
      '100#100,200#200',
      '--tun',
      't0',
      '--ipv4-only',
    ]);
    await c.waitLine('stdout', /2001:db8:1::\/64/);
    await c.waitLine('stdout', /10\.0\.1\.0\/24/);
    await eventually(async () => {
      assert.deepEqual(await ns.table(100), { '10.0.1.0/24': [A] });
    });
    c.proc.kill('SIGTERM');
    assert.equal(await c.exited, 0);
  });

  it('exits with one line when the tunnel device is missing', async (t) => {
    const ns = await netns(t);
    const c = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '-v',
      '100',
      '--install-routes',
      '100#100',
    ]);
    await failsWith(c, /^tsbond: tunnel device 'ip6tnl0' not found/, 1);
  });

  it('exits with one line without CAP_NET_ADMIN', async (t) => {
    const ns = await netns(t);
    const c = tsbond(
      t,
      ns,
      ['client', '-s', '[::1]:4711', '-v', '100', '--install-routes', '100#100', '--tun', 't0'],
      ['setpriv', '--inh-caps=-net_admin', '--bounding-set=-net_admin', '--'],
    );
    await failsWith(c, /^tsbond: installing kernel routes needs CAP_NET_ADMIN/, 1);
  });

  it('exits with one line for an --install-routes value that does not parse', async (t) => {
    const ns = await netns(t);
    for (const bad of ['100', 'x#100', '100#0', '100#1#2']) {
      const c = tsbond(t, ns, ['client', '-s', '[::1]:4711', '--install-routes', bad]);
      await failsWith(c, /--install-routes.*expected VNI#TABLE/, 2);
    }
  });

  it('exits with one line naming a subscribed VNI without a table', async (t) => {
    const ns = await netns(t);
    const c = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '-v',
      '100',
      '-v',
      '200',
      '--install-routes',
      '100#100',
      '--tun',
      't0',
    ]);
    await failsWith(c, /^tsbond: VNI 200 is subscribed but has no routing table/, 1);
  });

  it('exits with one line when a VNI is mapped to two tables', async (t) => {
    const ns = await netns(t);
    const c = tsbond(t, ns, [
      'client',
      '-s',
      '[::1]:4711',
      '--install-routes',
      '100#100',
      '--install-routes',
      '100#101',
      '--tun',
      't0',
    ]);
    await failsWith(c, /^tsbond: VNI 100 is mapped to two tables/, 1);
  });
});
