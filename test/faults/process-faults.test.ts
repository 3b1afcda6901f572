/**
 * Fault injection with the real CLI processes (keepalive K = 1 s): a client killed (SIGKILL) or
 * frozen (SIGSTOP, half-open), the server frozen, the server killed and restarted. Each test is
 * bounded in time; the measured figures are printed as diagnostics (RELIABILITY.md).
 */

import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';

import { Cli, clientArgs, freePort, routeLine, serverArgs } from './helpers/cli.js';

const K_MS = 1000;
const A = '100#10.0.1.0/24@fd00::a';
const B = '100#10.0.2.0/24@fd00::b';
const LINE_A = routeLine(100, '10.0.1.0/24', 'fd00::a');
const LINE_B = routeLine(100, '10.0.2.0/24', 'fd00::b');

interface Setup {
  port: number;
  server: Cli;
  a: Cli;
  b: Cli;
}

async function setup(
  t: TestContext,
  opts: { serverExtra?: string[]; clientExtra?: string[] } = {},
): Promise<Setup> {
  const port = await freePort();
  const server = Cli.start(t, serverArgs(port, '::1', opts.serverExtra));
  await server.log(/server listening/);
  const addr = `[::1]:${String(port)}`;
  const a = Cli.start(t, clientArgs(addr, 100, [A], opts.clientExtra));
  const b = Cli.start(t, clientArgs(addr, 100, [B], opts.clientExtra));
  await a.viewIs([LINE_B], 15_000);
  await b.viewIs([LINE_A], 15_000);
  return { port, server, a, b };
}

describe('process faults (CLI, keepalive 1 s)', () => {
  it('a client killed with SIGKILL: its routes are withdrawn at the others within 2.5 K', async (t) => {
    const { server, a, b } = await setup(t);
    const t0 = Date.now();
    a.signal('SIGKILL');
    await b.viewIs([], 2.5 * K_MS + 1000);
    const ms = Date.now() - t0;
    t.diagnostic(`withdrawn at the other client ${String(ms)} ms after SIGKILL`);
    assert.ok(ms <= 2.5 * K_MS, `withdrawn after ${String(ms)} ms`);
    const closed = await server.log(/peer closed/);
    assert.ok(Number(closed.routesWithdrawn) === 1);
    assert.ok(server.running && b.running);
  });

  it('a client frozen with SIGSTOP (half-open): detected within 2.5 K + 1 s, and it comes back after SIGCONT', async (t) => {
    const { server, a, b } = await setup(t);
    const t0 = Date.now();
    a.signal('SIGSTOP');
    await b.viewIs([], 2.5 * K_MS + 3000);
    const ms = Date.now() - t0;
    t.diagnostic(`frozen client's routes withdrawn ${String(ms)} ms after SIGSTOP`);
    assert.ok(ms <= 2.5 * K_MS + 1000, `detected after ${String(ms)} ms`);
    const closed = await server.log(/peer closed/);
    assert.equal(closed.code, 'TIMEOUT');
    a.signal('SIGCONT');
    const back = await b.viewIs([LINE_A], 15_000);
    await a.viewIs([LINE_B], 15_000);
    t.diagnostic(`after SIGCONT the client was back in ${String(back)} ms`);
  });

  it('the server frozen with SIGSTOP: every client detects it within 2.5 K + 1 s and re-converges after SIGCONT', async (t) => {
    const { server, a, b } = await setup(t);
    const logsA = a.logs.length;
    const logsB = b.logs.length;
    const t0 = Date.now();
    server.signal('SIGSTOP');
    await a.log(/server connection lost/, 2.5 * K_MS + 3000, logsA);
    await b.log(/server connection lost/, 2.5 * K_MS + 3000, logsB);
    const ms = Date.now() - t0;
    t.diagnostic(`both clients detected the frozen server ${String(ms)} ms after SIGSTOP`);
    assert.ok(ms <= 2.5 * K_MS + 1000, `detected after ${String(ms)} ms`);
    server.signal('SIGCONT');
    const t1 = Date.now();
    await a.viewIs([LINE_B], 20_000);
    await b.viewIs([LINE_A], 20_000);
    t.diagnostic(`re-converged ${String(Date.now() - t1)} ms after SIGCONT`);
    assert.ok(server.running);
  });

  it('the server killed and restarted: every client re-converges to exactly the right view (hold time 0)', async (t) => {
    const { port, server, a, b } = await setup(t, { clientExtra: ['--hold-time', '0'] });
    server.signal('SIGKILL');
    await server.exited;
    // Without graceful restart the clients drop the routes of the lost server at once.
    await a.viewIs([], 5000);
    await b.viewIs([], 5000);
    const restarted = Cli.start(t, serverArgs(port));
    await restarted.log(/server listening/);
    const t0 = Date.now();
    await a.viewIs([LINE_B], 20_000);
    await b.viewIs([LINE_A], 20_000);
    const ms = Date.now() - t0;
    t.diagnostic(`re-converged ${String(ms)} ms after the restart (reconnect back-off included)`);
    assert.ok(ms <= 15_000);
  });

  it('graceful restart: after a server restart the views stay exact with zero handler removals, and the re-synced server carries every route', async (t) => {
    const { port, server, a, b } = await setup(t, {
      serverExtra: ['--sync-delay', String(SYNC_S)],
      clientExtra: ['--hold-time', '60'],
    });
    const changesBefore = a.changes.length + b.changes.length;
    server.signal('SIGKILL');
    await server.exited;
    await a.log(/server connection lost/, 5000);
    const logsA = a.logs.length;
    const logsB = b.logs.length;
    const restarted = Cli.start(t, serverArgs(port, '::1', ['--sync-delay', String(SYNC_S)]));
    await restarted.log(/server listening/);
    // Both clients re-synced with the restarted server (SYNCED after the sync delay), and
    // nothing changed for their handlers.
    await a.log(/subscription synced/, (SYNC_S + 15) * 1000, logsA);
    await b.log(/subscription synced/, (SYNC_S + 15) * 1000, logsB);
    assert.deepEqual([...a.view], [LINE_B]);
    assert.deepEqual([...b.view], [LINE_A]);
    const changes = [...a.changes, ...b.changes].slice(changesBefore);
    assert.deepEqual(changes, [], 'handler calls during the restart');
    assert.equal(restarted.logs.filter((l) => (l.msg ?? '').startsWith('subscribed')).length, 2);
    // The restarted server carries A's route: A's end withdraws it at B.
    a.signal('SIGKILL');
    await b.viewIs([], 2.5 * K_MS + 1000);
  });

  it('graceful restart: a route whose announcer vanished during the outage is removed once the server re-synced, within the sync delay + 5 s', async (t) => {
    const { port, server, a, b } = await setup(t, {
      serverExtra: ['--sync-delay', String(SYNC_S)],
      clientExtra: ['--hold-time', '60'],
    });
    server.signal('SIGKILL');
    await server.exited;
    await a.kill(); // gone while the server is down: nobody will re-announce its route
    assert.deepEqual([...b.view], [LINE_A], 'held through the outage');
    const restarted = Cli.start(t, serverArgs(port, '::1', ['--sync-delay', String(SYNC_S)]));
    await restarted.log(/server listening/);
    const t0 = Date.now();
    await b.viewIs([], (SYNC_S + 5) * 1000);
    const ms = Date.now() - t0;
    t.diagnostic(
      `stale route removed ${String(ms)} ms after the restart (sync delay ${String(SYNC_S)} s)`,
    );
    assert.ok(ms >= SYNC_S * 1000 - 500, `removed after ${String(ms)} ms, before the sync delay`);
  });
});

const SYNC_S = 3;
