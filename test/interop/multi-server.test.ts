/**
 * Interop matrix, HA: one tsbond client connected to a Go MetalBond server and a tsbond server at
 * the same time. Routes reported by both servers reach the handler once; announcements land on
 * both; losing one server keeps what the other still reports.
 */

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { GoClient, GoServer } from './helpers/go.js';
import { requirePeers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { lines, makeRoute, routeLine, type VniRoute } from './helpers/routes.js';
import { RustClient } from './helpers/rust.js';
import { startTsServer, TsClient } from './helpers/tsbond.js';
import { delay, pollUntil } from './helpers/wait.js';

/** The HA client's graceful-restart hold time here (default 60 s), seconds. */
const HA_HOLD_TIME_S = 3;

const TEST_TIMEOUT_MS = 120_000;

before(() => warmPeers(), { timeout: PEER_BUILD_TIMEOUT_MS });

const onlyGo = makeRoute({ vni: 100, prefix: '10.21.1.0/24', hop: '2001:db8::2:e1' });
const shared = makeRoute({ vni: 100, prefix: '10.21.9.0/24', hop: '2001:db8::2:e9' });
const onlyTs = makeRoute({
  vni: 100,
  prefix: '10.21.2.0/24',
  hop: '2001:db8::2:f2',
  type: 'NAT',
  natFrom: 100,
  natTo: 200,
});
const onlyRust = makeRoute({
  vni: 100,
  prefix: '2001:db8:21::/48',
  hop: '2001:db8::2:b1',
  targetVni: 31,
});
const haRoute = makeRoute({
  vni: 100,
  prefix: '2001:db8:22::/48',
  hop: '2001:db8::2:c1',
  type: 'LOADBALANCER_TARGET',
  targetVni: 9,
});

const GO_KA = 2;
const TS_KA = 4;
const CLIENT_KA = 3;

function calls(c: TsClient, action: 'add' | 'remove', r: VniRoute): number {
  const want = `${action} ${routeLine(r.vni, r.route)}`;
  return c.rec.calls.filter((x) => x === want).length;
}

describe('tsbond client connected to a Go server and a tsbond server at once', () => {
  it(
    'dedups, announces to both, survives losing either server',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go', 'rust');
      if (!peers) return;
      let goServer = await GoServer.start(t, peers, { keepalive: GO_KA, name: 'go-server' });
      const tsServer = await startTsServer(t, { keepalive: TS_KA });

      // Go side: a Go client announcing a route of its own and the shared one.
      const go = await GoClient.start(t, peers, {
        name: 'go',
        servers: [goServer.address],
        subscribe: [100],
        announce: [onlyGo, shared],
        keepalive: 5,
      });
      // tsbond side: a tsbond client announcing the shared route too, and a rustbond client.
      const tsPeer = TsClient.connect(t, [tsServer.address], {
        keepalive: 5,
        subscribe: [100],
        announce: [shared, onlyTs],
      });
      const rust = await RustClient.start(t, peers, {
        name: 'rust',
        servers: [tsServer.address],
        subscribe: [100],
        announce: [onlyRust],
      });
      await tsPeer.waitEstablished(5000);

      // Subscribe first, announce once the snapshots are in: a Go server that takes an ADD before
      // the SUBSCRIBE of the same burst echoes it back (see tsbond-client.test.ts).
      const ha = TsClient.connect(t, [goServer.address, tsServer.address], {
        keepalive: CLIENT_KA,
        subscribe: [100],
        holdTime: HA_HOLD_TIME_S,
      });
      await ha.waitEstablished(5000);
      await ha.waitHeld(lines([onlyGo, shared, onlyTs, onlyRust]), 10_000, 'snapshots');
      await ha.announce(haRoute);
      const allUp = Date.now();

      await t.test('handshake with both servers, each with its own keepalive', () => {
        assert.deepEqual(
          ha.client.serverStates().map((s) => [s.state, s.keepalive]),
          [
            ['ESTABLISHED', Math.min(GO_KA, CLIENT_KA)],
            ['ESTABLISHED', Math.min(TS_KA, CLIENT_KA)],
          ],
        );
        assert.equal(ha.client.state.kind, 'FullyConnected');
      });

      await t.test('a route reported by both servers reaches the handler once', async () => {
        await ha.waitHeld(lines([onlyGo, shared, onlyTs, onlyRust]), 10_000);
        assert.equal(calls(ha, 'add', shared), 1);
        assert.deepEqual([...ha.client.routeServers(shared.vni, shared.route)].sort(), [0, 1]);
        assert.deepEqual(ha.client.routeServers(onlyGo.vni, onlyGo.route), [0]);
        assert.deepEqual(ha.client.routeServers(onlyRust.vni, onlyRust.route), [1]);
      });

      await t.test('its announcement lands on both servers', async () => {
        await go.waitRoutes(
          'HA route via the Go server',
          (r) => lines(r).includes(lines([haRoute])[0] ?? ''),
          10_000,
        );
        await rust.waitHeld(lines([shared, onlyTs, haRoute]), 10_000);
        await tsPeer.waitHeld(lines([onlyRust, haRoute]), 10_000);
        assert.deepEqual(
          tsServer.server.routes(100).filter((r) => r.route.nextHop.address === '2001:db8::2:c1')
            .length,
          1,
        );
      });

      await t.test('its withdrawal reaches both servers, its re-announcement too', async () => {
        const line = lines([haRoute])[0] ?? '';
        await ha.withdraw(haRoute);
        await go.waitRoutes(
          'HA route withdrawn via the Go server',
          (r) => !lines(r).includes(line),
          10_000,
        );
        await rust.waitHeld(lines([shared, onlyTs]), 10_000, 'HA route withdrawn via tsbond');
        await tsPeer.waitHeld(lines([onlyRust]), 10_000, 'HA route withdrawn via tsbond');
        await ha.announce(haRoute);
        await go.waitRoutes(
          'HA route back via the Go server',
          (r) => lines(r).includes(line),
          10_000,
        );
        await rust.waitHeld(lines([shared, onlyTs, haRoute]), 10_000, 'HA route back via tsbond');
        await tsPeer.waitHeld(lines([onlyRust, haRoute]), 10_000, 'HA route back via tsbond');
      });

      await t.test('sessions to both servers stay up past several keepalive periods', async () => {
        // 3 periods of the slower negotiated interval, past both 2.5 x timeouts.
        const slower = Math.max(Math.min(GO_KA, CLIENT_KA), Math.min(TS_KA, CLIENT_KA));
        const left = allUp + 3 * slower * 1000 - Date.now();
        if (left > 0) await delay(left);
        assert.deepEqual(
          ha.client.serverStates().map((s) => [s.state, s.connects]),
          [
            ['ESTABLISHED', 1],
            ['ESTABLISHED', 1],
          ],
        );
        assert.deepEqual(go.resets(), []);
        assert.deepEqual(goServer.protocolErrors(), []);
        assert.deepEqual(tsServer.closed, []);
      });

      await t.test(
        'an announcer leaving one server: only what no server reports is removed',
        async () => {
          await go.kill();
          await ha.waitHeld(lines([shared, onlyTs, onlyRust]), 10_000, 'Go-only route removed');
          assert.equal(calls(ha, 'remove', onlyGo), 1);
          assert.equal(calls(ha, 'remove', shared), 0, 'still reported by the tsbond server');
          // The Go server's REMOVE of the shared route may arrive after that of the Go-only one.
          await pollUntil(
            'shared route carried by the tsbond server only',
            () =>
              JSON.stringify(ha.client.routeServers(shared.vni, shared.route)) === '[1]'
                ? true
                : undefined,
            10_000,
          );
          assert.equal(calls(ha, 'remove', shared), 0, 'still reported by the tsbond server');
        },
      );

      await t.test(
        'the Go server goes away and comes back: nothing flaps, it is re-synced',
        async () => {
          const port = goServer.port;
          await goServer.kill();
          await ha.rec.until(
            () => ha.client.state.kind === 'PartiallyConnected',
            10_000,
            'partially connected',
          );
          assert.equal(
            ha.rec.calls.filter((c) => c.startsWith('remove ')).length,
            1,
            'no new removes',
          );
          goServer = await GoServer.start(t, peers, {
            keepalive: GO_KA,
            port,
            name: 'go-server-2',
          });
          await ha.waitEstablished(15_000, 0);
          // The restarted Go server knows the HA client's announcement again: a new Go client gets it.
          const probe = await GoClient.start(t, peers, {
            name: 'go-probe',
            servers: [goServer.address],
            subscribe: [100],
          });
          await probe.waitRoutes(
            'HA route re-announced to the restarted Go server',
            (r) => JSON.stringify(lines(r)) === JSON.stringify(lines([haRoute])),
            10_000,
          );
          assert.deepEqual(ha.held(), lines([shared, onlyTs, onlyRust]));
        },
      );

      await t.test(
        'the tsbond server goes away: its routes stay for the hold time, then go, once each',
        async () => {
          const before = ha.rec.calls.length;
          const stopped = Date.now();
          await tsServer.stop();
          await pollUntil(
            'stale',
            () => (ha.client.staleRouteCount === 3 ? true : undefined),
            10_000,
          );
          assert.deepEqual(ha.rec.calls.slice(before), [], 'nothing removed before the hold time');
          await ha.waitHeld([], 10_000, 'everything removed when the hold time ended');
          assert.ok(Date.now() - stopped >= HA_HOLD_TIME_S * 1000 - 100);
          for (const r of [shared, onlyTs, onlyRust]) assert.equal(calls(ha, 'remove', r), 1);
          assert.equal(ha.client.state.kind, 'PartiallyConnected');
        },
      );
    },
  );
});
