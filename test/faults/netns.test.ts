/**
 * The link between a client and the server cut and restored, between two network namespaces
 * joined by a veth pair: the link taken down and up, and packets silently dropped by an nftables
 * rule (no RST, no FIN: half-open on both sides). Needs root (CAP_NET_ADMIN) and nft; skipped
 * with the reason otherwise, except under CI=true where a missing capability fails.
 */

import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { after, before, describe, it, type TestContext } from 'node:test';

import { Cli, clientArgs, routeLine, serverArgs } from './helpers/cli.js';

const run = promisify(execFile);
const K_MS = 1000;
const CI = process.env.CI === 'true';
const id = String(process.pid % 100000);
const NS_S = `tsb-${id}-s`;
const NS_C = `tsb-${id}-c`;
const VETH_S = `tsb${id}s`;
const VETH_C = `tsb${id}c`;
const SERVER_IP = 'fd00:7e57::1';
const CLIENT_IP = 'fd00:7e57::2';
const PORT = 4711;
const A = '100#10.0.1.0/24@fd00::a';
const B = '100#10.0.2.0/24@fd00::b';
const LINE_A = routeLine(100, '10.0.1.0/24', 'fd00::a');
const LINE_B = routeLine(100, '10.0.2.0/24', 'fd00::b');

async function sh(cmd: string, ...args: string[]): Promise<void> {
  await run(cmd, args);
}

async function can(cmd: string, ...args: string[]): Promise<string | undefined> {
  try {
    await run(cmd, args);
    return undefined;
  } catch (e) {
    return e instanceof Error ? e.message.split('\n')[0] : String(e);
  }
}

/** Why the namespaces cannot be used here, or undefined. */
let unavailable: string | undefined;
let nftMissing: string | undefined;

before(async () => {
  if (process.getuid?.() !== 0) {
    unavailable = 'needs root (network namespaces, veth, nftables)';
    return;
  }
  const err = await can('ip', 'netns', 'add', NS_S);
  if (err !== undefined) {
    unavailable = `cannot create a network namespace: ${err}`;
    return;
  }
  await sh('ip', 'netns', 'add', NS_C);
  await sh('ip', 'link', 'add', VETH_S, 'type', 'veth', 'peer', 'name', VETH_C);
  await sh('ip', 'link', 'set', VETH_S, 'netns', NS_S);
  await sh('ip', 'link', 'set', VETH_C, 'netns', NS_C);
  // IPv6 flushes the addresses of a device that goes down unless told to keep them.
  for (const [ns, dev] of [
    [NS_S, VETH_S],
    [NS_C, VETH_C],
  ] as const) {
    await sh(
      'ip',
      'netns',
      'exec',
      ns,
      'sysctl',
      '-q',
      '-w',
      `net.ipv6.conf.${dev}.keep_addr_on_down=1`,
    );
  }
  await sh('ip', '-n', NS_S, 'addr', 'add', `${SERVER_IP}/64`, 'dev', VETH_S, 'nodad');
  await sh('ip', '-n', NS_C, 'addr', 'add', `${CLIENT_IP}/64`, 'dev', VETH_C, 'nodad');
  for (const [ns, dev] of [
    [NS_S, VETH_S],
    [NS_C, VETH_C],
    [NS_S, 'lo'],
    [NS_C, 'lo'],
  ] as const) {
    await sh('ip', '-n', ns, 'link', 'set', dev, 'up');
  }
  nftMissing = await can('ip', 'netns', 'exec', NS_C, 'nft', 'list', 'ruleset');
});

after(async () => {
  if (unavailable !== undefined) return;
  await can('ip', 'netns', 'del', NS_C);
  await can('ip', 'netns', 'del', NS_S);
});

function requireNamespaces(t: TestContext, alsoNft = false): boolean {
  const why =
    unavailable ??
    (alsoNft && nftMissing !== undefined ? `nft not usable: ${nftMissing}` : undefined);
  if (why === undefined) return true;
  if (CI) assert.fail(`${why} (CI=true: this test must run)`);
  t.skip(why);
  return false;
}

/** Server and client B in the server's namespace, client A across the veth link. */
async function topology(t: TestContext): Promise<{ a: Cli; b: Cli; server: Cli }> {
  const inS = { prefix: ['ip', 'netns', 'exec', NS_S] };
  const inC = { prefix: ['ip', 'netns', 'exec', NS_C] };
  const server = Cli.start(t, serverArgs(PORT, SERVER_IP), inS);
  await server.log(/server listening/);
  const addr = `[${SERVER_IP}]:${String(PORT)}`;
  // Hold time 0: a client drops the routes of a server it lost at once (no graceful restart).
  const b = Cli.start(t, clientArgs(addr, 100, [B], ['--hold-time', '0']), inS);
  const a = Cli.start(t, clientArgs(addr, 100, [A], ['--hold-time', '0']), inC);
  await a.viewIs([LINE_B], 15_000);
  await b.viewIs([LINE_A], 15_000);
  t.after(async () => {
    await a.kill();
    await b.kill();
    await server.kill();
  });
  return { a, b, server };
}

describe('link faults between network namespaces (keepalive 1 s)', () => {
  it('veth down: the cut client is detected within 2.5 K + 1 s; veth up: it re-converges', async (t) => {
    if (!requireNamespaces(t)) return;
    const { a, b } = await topology(t);
    const logsA = a.logs.length;
    const t0 = Date.now();
    await sh('ip', '-n', NS_C, 'link', 'set', VETH_C, 'down');
    await b.viewIs([], 2.5 * K_MS + 3000);
    const ms = Date.now() - t0;
    t.diagnostic(`cut client's routes withdrawn ${String(ms)} ms after link down`);
    assert.ok(ms <= 2.5 * K_MS + 1000, `detected after ${String(ms)} ms`);
    await a.log(/server connection lost/, 2.5 * K_MS + 3000, logsA);
    assert.deepEqual([...a.view], [], 'the cut client dropped what the lost server sent');
    const t1 = Date.now();
    await sh('ip', '-n', NS_C, 'link', 'set', VETH_C, 'up');
    // The client's reconnect back-off grew while the link was down (cap about 10 s).
    await b.viewIs([LINE_A], 30_000);
    await a.viewIs([LINE_B], 30_000);
    t.diagnostic(`re-converged ${String(Date.now() - t1)} ms after link up`);
  });

  it('packets silently dropped (nftables DROP): half-open detected within 2.5 K + 1 s; rule removed: re-converges', async (t) => {
    if (!requireNamespaces(t, true)) return;
    const { a, b } = await topology(t);
    const nft = (...args: string[]): Promise<void> =>
      sh('ip', 'netns', 'exec', NS_C, 'nft', ...args);
    const logsA = a.logs.length;
    const t0 = Date.now();
    await nft('add', 'table', 'inet', 'tsbondfault');
    await nft(
      'add',
      'chain',
      'inet',
      'tsbondfault',
      'out',
      '{ type filter hook output priority 0 ; }',
    );
    await nft(
      'add',
      'chain',
      'inet',
      'tsbondfault',
      'in',
      '{ type filter hook input priority 0 ; }',
    );
    await nft('add', 'rule', 'inet', 'tsbondfault', 'out', 'ip6', 'daddr', SERVER_IP, 'drop');
    await nft('add', 'rule', 'inet', 'tsbondfault', 'in', 'ip6', 'saddr', SERVER_IP, 'drop');
    t.after(() => nft('delete', 'table', 'inet', 'tsbondfault').catch(() => undefined));
    await b.viewIs([], 2.5 * K_MS + 3000);
    const ms = Date.now() - t0;
    t.diagnostic(`silently cut client's routes withdrawn ${String(ms)} ms after the DROP rule`);
    assert.ok(ms <= 2.5 * K_MS + 1000, `detected after ${String(ms)} ms`);
    await a.log(/server connection lost/, 2.5 * K_MS + 3000, logsA);
    const t1 = Date.now();
    await nft('delete', 'table', 'inet', 'tsbondfault');
    await b.viewIs([LINE_A], 20_000);
    await a.viewIs([LINE_B], 20_000);
    t.diagnostic(`re-converged ${String(Date.now() - t1)} ms after the rule was removed`);
  });
});
