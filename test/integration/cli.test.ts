import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it, type TestContext } from 'node:test';

import { route } from '../../src/model/route.js';
import { runCli, type CliRun } from '../helpers/cli-process.js';
import { client } from '../helpers/recorder.js';
import { startServer } from '../helpers/server-fixture.js';

const tsbond = (t: TestContext, args: string[]): CliRun => runCli(t, args);

async function freePort(): Promise<number> {
  const s = createServer();
  s.listen(0, '::1');
  await once(s, 'listening');
  const a = s.address();
  await new Promise<void>((resolve) =>
    s.close(() => {
      resolve();
    }),
  );
  if (a === null || typeof a !== 'object') throw new Error('no port');
  return a.port;
}

describe('tsbond CLI', () => {
  for (const args of [['--help'], ['server', '--help'], ['client', '--help'], ['demo', '--help']]) {
    it(`tsbond ${args.join(' ')} answers and exits 0`, async (t) => {
      const r = tsbond(t, args);
      assert.equal(await r.exited, 0);
      assert.match(r.stdout.join('\n'), /Usage: tsbond/);
    });
  }

  it('a bad flag gives one clear error line and exit code 2', async (t) => {
    const r = tsbond(t, ['server', '--keepalive', '0']);
    assert.equal(await r.exited, 2);
    assert.match(r.stderr.join('\n'), /--keepalive.*must be a whole number of seconds >= 1/);
    const r2 = tsbond(t, ['server', '--bogus']);
    assert.equal(await r2.exited, 2);
    assert.match(r2.stderr[0] ?? '', /unknown option '--bogus'/);
  });

  it('extension flags are validated and shown in --help', async (t) => {
    const help = tsbond(t, ['server', '--help']);
    assert.equal(await help.exited, 0);
    for (const f of ['--sync-delay', '--no-extensions', '--pacing', '--no-pacing'])
      assert.ok(help.stdout.join('\n').includes(f), f);
    const chelp = tsbond(t, ['client', '--help']);
    assert.equal(await chelp.exited, 0);
    for (const f of ['--hold-time', '--no-extensions', '--max-handler-calls'])
      assert.ok(chelp.stdout.join('\n').includes(f), f);
    const bad = tsbond(t, ['client', '-s', '[::1]:4711', '--hold-time', '-1']);
    assert.equal(await bad.exited, 2);
    assert.match(bad.stderr.join('\n'), /--hold-time.*must be a number of seconds from 0/);
    const bad2 = tsbond(t, ['server', '--sync-delay', 'soon']);
    assert.equal(await bad2.exited, 2);
  });

  it('a bad announcement string is refused naming the bad part (exit 2)', async (t) => {
    const r = tsbond(t, ['client', '-s', '[::1]:4711', '-a', '100#10.0.0.0/24@2001:db8::1#nat#5']);
    assert.equal(await r.exited, 2);
    assert.match(
      r.stderr.join('\n'),
      /invalid announcement '100#10.0.0.0\/24@2001:db8::1#nat#5': NAT needs both ports/,
    );
  });

  it('server: an address in use gives one clear line and exit code 1', async (t) => {
    const server = await startServer(t);
    const r = tsbond(t, ['server', '-l', `[::1]:${String(server.address.port)}`]);
    assert.equal(await r.exited, 1);
    assert.deepEqual(r.stderr, [
      `tsbond: cannot listen on [::1]:${String(server.address.port)}: address already in use`,
    ]);
  });

  it('server runs, serves clients, and shuts down gracefully on SIGTERM', async (t) => {
    const port = await freePort();
    const r = tsbond(t, [
      'server',
      '-l',
      `[::1]:${String(port)}`,
      '--keepalive',
      '3',
      '--log-format',
      'json',
    ]);
    await r.waitLine('stderr', /server listening/);
    const a = client(t, [`[::1]:${String(port)}`], { subscribe: [1] });
    await a.client.waitEstablished(5000);
    await r.waitLine('stderr', /peer established/);
    const line = JSON.parse(await r.waitLine('stderr', /subscribed/)) as {
      peer: string;
      vni: number;
    };
    assert.equal(line.vni, 1);
    assert.match(line.peer, /^\[::1\]:\d+$/);
    r.proc.kill('SIGTERM');
    assert.equal(await r.exited, 0);
    await r.waitLine('stderr', /server stopped/);
  });

  it('server reloads its authorisation file on SIGHUP: what is no longer granted is withdrawn, sessions stay; a broken file keeps the rules', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'tsbond-auth-'));
    t.after(() => {
      rmSync(dir, { recursive: true, force: true });
    });
    const file = join(dir, 'authorization.yaml');
    const rules = (vnis: string) =>
      `rules:\n  - name: local\n    match: { cidr: "::1/128" }\n    announce: [${vnis}]\n    subscribe: [${vnis}]\n`;
    writeFileSync(file, rules('100, 200'));
    const port = await freePort();
    const r = tsbond(t, [
      'server',
      '-l',
      `[::1]:${String(port)}`,
      '--authorization',
      file,
      '--sync-delay',
      '0',
      '--log-format',
      'json',
    ]);
    await r.waitLine('stderr', /server listening/);
    const at = [`[::1]:${String(port)}`];
    const a = client(t, at);
    const b = client(t, at, { subscribe: [100, 200] });
    await a.client.waitEstablished(5000);
    await b.client.waitSynced(undefined, { timeoutMs: 10000, all: true });
    const r100 = route('10.0.1.0/24', '2001:db8::1');
    const r200 = route('10.0.2.0/24', '2001:db8::1');
    await a.client.announce(100, r100.destination, r100.nextHop);
    await a.client.announce(200, r200.destination, r200.nextHop);
    await b.rec.waitCalls(2);

    writeFileSync(file, rules('200'));
    r.proc.kill('SIGHUP');
    await b.rec.waitCalls(3);
    assert.equal(b.rec.calls[2], 'remove 100 10.0.1.0/24 via 2001:db8::1');
    assert.equal(a.client.state.kind, 'FullyConnected');
    assert.equal(b.client.state.kind, 'FullyConnected');

    // A file that does not parse: one error line, the rules in force stay.
    writeFileSync(file, 'rules: [ {');
    r.proc.kill('SIGHUP');
    await r.waitLine('stderr', /authorization reload failed/);
    const r200b = route('10.0.3.0/24', '2001:db8::2');
    await a.client.announce(200, r200b.destination, r200b.nextHop);
    await b.rec.waitCalls(4);
    assert.equal(b.rec.calls[3], 'add 200 10.0.3.0/24 via 2001:db8::2');
    assert.equal(r.proc.exitCode, null);
  });

  it('client keeps retrying while the server is down, prints route changes, exits cleanly on SIGINT', async (t) => {
    const port = await freePort();
    const r = tsbond(t, [
      'client',
      '-s',
      `[::1]:${String(port)}`,
      '-v',
      '100',
      '-a',
      '100#10.0.9.0/24@2001:db8::9',
      '--log-format',
      'json',
    ]);
    await r.waitLine('stderr', /server connection lost/);
    const server = await startServer(t, {}, `[::1]:${String(port)}`);
    const peer = client(t, [`[::1]:${String(port)}`], { subscribe: [100] });
    await peer.rec.waitCalls(1, 15000);
    assert.deepEqual(peer.rec.calls, ['add 100 10.0.9.0/24 via 2001:db8::9']);
    await peer.client.announce(
      100,
      route('10.0.1.0/24', '2001:db8::1').destination,
      route('10.0.1.0/24', '2001:db8::1').nextHop,
    );
    await r.waitLine('stdout', /^\[\+\] VNI 100: 10\.0\.1\.0\/24 via 2001:db8::1 \(STANDARD\)$/);
    await peer.client.withdraw(
      100,
      route('10.0.1.0/24', '2001:db8::1').destination,
      route('10.0.1.0/24', '2001:db8::1').nextHop,
    );
    await r.waitLine('stdout', /^\[-\] VNI 100: 10\.0\.1\.0\/24 via 2001:db8::1 \(STANDARD\)$/);
    // The subscription is synced (SYNCED from the tsbond server) and logged as such.
    const synced = JSON.parse(await r.waitLine('stderr', /subscription synced/)) as {
      vni: number;
      via: string;
    };
    assert.deepEqual([synced.vni, synced.via], [100, 'marker']);
    assert.equal(server.subscribers(100).length, 2);
    r.proc.kill('SIGINT');
    assert.equal(await r.exited, 0);
    await peer.rec.waitCalls(2);
    assert.deepEqual(peer.rec.held(), []);
  });
});
