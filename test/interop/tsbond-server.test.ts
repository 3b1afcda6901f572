/**
 * Interop matrix, tsbond server: Go MetalBond v0.5.0 clients, rustbond 0.1.3 clients and tsbond
 * clients on one tsbond server, all at once.
 */

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { GoClient, goKeepaliveTimeouts } from './helpers/go.js';
import { converge, goMember, rustMember, tsMember, type Member } from './helpers/matrix.js';
import { requirePeers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { lines, makeRoute } from './helpers/routes.js';
import { RustClient } from './helpers/rust.js';
import { startTsServer, TsClient } from './helpers/tsbond.js';
import { delay, pollUntil } from './helpers/wait.js';

const TEST_TIMEOUT_MS = 180_000;

before(() => warmPeers(), { timeout: PEER_BUILD_TIMEOUT_MS });

const SERVER_KA = 2;

// Every hop type, IPv4 and IPv6 destinations, target VNIs where the announcer can express them
// (the Go CLI cannot), NAT ports above 32767 where the announcer allows them (the Go CLI cannot).
const goRoutes = [
  makeRoute({ vni: 100, prefix: '10.1.1.0/24', hop: '2001:db8::a1' }),
  makeRoute({
    vni: 200,
    prefix: '10.1.2.0/24',
    hop: '2001:db8::a2',
    type: 'NAT',
    natFrom: 1024,
    natTo: 2048,
  }),
  makeRoute({
    vni: 100,
    prefix: '2001:db8:a1::/48',
    hop: '2001:db8::a3',
    type: 'LOADBALANCER_TARGET',
  }),
];
const rustRoutes = [
  makeRoute({ vni: 100, prefix: '10.2.1.0/24', hop: '2001:db8::b1', targetVni: 500 }),
  makeRoute({
    vni: 200,
    prefix: '2001:db8:b2::/64',
    hop: '2001:db8::b2',
    type: 'NAT',
    natFrom: 40000,
    natTo: 50000,
  }),
  makeRoute({ vni: 100, prefix: '10.2.3.0/24', hop: '2001:db8::b3', type: 'LOADBALANCER_TARGET' }),
];
const tsRoutes = [
  makeRoute({ vni: 100, prefix: '2001:db8:c1::/56', hop: '2001:db8::c1', targetVni: 700 }),
  makeRoute({
    vni: 200,
    prefix: '10.3.2.0/24',
    hop: '2001:db8::c2',
    type: 'NAT',
    natFrom: 30000,
    natTo: 30999,
    targetVni: 9,
  }),
  makeRoute({
    vni: 100,
    prefix: '10.3.3.7/32',
    hop: '2001:db8::c3',
    type: 'LOADBALANCER_TARGET',
    targetVni: 300,
  }),
  // host bits are part of the route on every implementation
  makeRoute({ vni: 100, prefix: '10.3.4.7/24', hop: '2001:db8::c4' }),
];
const lateRustRoute = makeRoute({
  vni: 200,
  prefix: '10.4.1.0/24',
  hop: '2001:db8::d1',
  type: 'NAT',
  natFrom: 100,
  natTo: 200,
});

describe('tsbond server with Go, rustbond and tsbond clients', () => {
  it(
    'negotiates, distributes, snapshots, survives a restart and withdraws',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go', 'rust');
      if (!peers) return;
      let server = await startTsServer(t, { keepalive: SERVER_KA });
      const addr = server.address;

      // Keepalives on purpose all different: Go client 3, rustbond 5 (fixed), tsbond 1; server 2.
      const go1 = await GoClient.start(t, peers, {
        name: 'go1',
        servers: [addr],
        subscribe: [100, 200],
        announce: goRoutes,
        keepalive: 3,
      });
      const rust1 = await RustClient.start(t, peers, {
        name: 'rust1',
        servers: [addr],
        subscribe: [100, 200],
        announce: rustRoutes,
      });
      const ts1 = TsClient.connect(t, [addr], {
        keepalive: 1,
        subscribe: [100, 200],
        announce: tsRoutes,
      });
      await ts1.waitEstablished(5000);
      const allUp = Date.now();

      const members: Member[] = [
        goMember('go1', go1, [100, 200], goRoutes),
        rustMember('rust1', rust1, [100, 200], rustRoutes),
        tsMember('ts1', ts1, [100, 200], tsRoutes),
      ];

      await t.test('handshake: each side settles on the smaller keepalive', async () => {
        await server.waitPeers(3, 5000);
        const kas = server.server
          .peers()
          .map((p) => p.keepalive)
          .sort();
        // Go 3 vs 2 -> 2, rustbond 5 vs 2 -> 2, tsbond 1 vs 2 -> 1
        assert.deepEqual(kas, [1, 2, 2]);
        assert.equal(ts1.client.serverStates()[0]?.keepalive, 1);
        // The Go client computes its timeout from the negotiated interval: 2.5 x 2 s.
        assert.deepEqual(goKeepaliveTimeouts(go1), ['5s']);
      });

      await t.test('ADDs flow in every direction, all hop types, IPv4 and IPv6', async () => {
        await converge(members, 10_000, 'every client holds the routes of the others');
        assert.equal(
          server.server.routes().length,
          goRoutes.length + rustRoutes.length + tsRoutes.length,
        );
      });

      await t.test('REMOVEs flow from rustbond and tsbond to everyone', async () => {
        const r = rustRoutes[1];
        const s = tsRoutes[2];
        assert.ok(r && s);
        await rust1.withdraw(r);
        await ts1.withdraw(s);
        members[1]?.announced.splice(1, 1);
        members[2]?.announced.splice(2, 1);
        await converge(members, 10_000, 'withdrawn routes are gone everywhere');
        // and back again
        await rust1.announce(r);
        await ts1.announce(s);
        members[1]?.announced.push(r);
        members[2]?.announced.push(s);
        await converge(members, 10_000, 're-announced routes are back everywhere');
      });

      await t.test('sessions stay up past several keepalive periods', async () => {
        // 3.5 periods of the slowest negotiated interval (2 s), well past the 5 s timeout.
        const soakMs = 3.5 * SERVER_KA * 1000;
        const left = allUp + soakMs - Date.now();
        if (left > 0) await delay(left);
        assert.deepEqual(server.closed, [], 'no session was closed');
        assert.equal(server.server.counters.connectionsAccepted, 3);
        assert.deepEqual(
          server.server.peers().map((p) => p.state),
          ['ESTABLISHED', 'ESTABLISHED', 'ESTABLISHED'],
        );
        assert.deepEqual(go1.resets(), []);
        assert.ok(!rust1.serverStates().includes('RETRY'), 'rustbond client never dropped');
        assert.equal(rust1.establishedCount(), 1);
        assert.equal(ts1.client.serverStates()[0]?.connects, 1);
      });

      await t.test('late subscribers get a snapshot, never their own routes echoed', async () => {
        // Go: subscribes to 100 only, announces nothing.
        const go2 = await GoClient.start(t, peers, {
          name: 'go2',
          servers: [addr],
          subscribe: [100],
        });
        members.push(goMember('go2', go2, [100], []));
        // rustbond: announces a NAT route first, subscribes afterwards (the order that makes the Go
        // and rustbond servers echo it back in the snapshot; tsbond must not).
        const rust2 = await RustClient.start(t, peers, { name: 'rust2', servers: [addr] });
        await rust2.announce(lateRustRoute);
        await rust2.subscribe(200);
        members.push(rustMember('rust2', rust2, [200], [lateRustRoute]));
        // tsbond: subscribes after it is established.
        const ts2 = TsClient.connect(t, [addr], { keepalive: 4 });
        await ts2.waitEstablished(5000);
        await ts2.client.subscribe(100);
        await ts2.client.subscribe(200);
        members.push(tsMember('ts2', ts2, [100, 200], []));
        await converge(members, 10_000, 'late joiners converge');
        assert.ok(
          !rust2.held().includes(lines([lateRustRoute])[0] ?? ''),
          'own NAT route not echoed',
        );
      });

      await t.test(
        'server restart: Go, rustbond and tsbond clients reconnect and converge',
        async () => {
          const port = server.port;
          const goBefore = go1.establishedCount(addr);
          const tsHeld = ts1.held();
          const tsCalls = ts1.rec.calls.length;
          await server.stop();
          // Go and rustbond clients lose what the server gave them; tsbond keeps it (graceful
          // restart: stale for the hold time, no removeRoute)...
          await go1.waitRoutes(
            'routes dropped when the server went away',
            (r) => r.length === 0,
            10_000,
          );
          await rust1.waitHeld([], 10_000, 'routes dropped when the server went away');
          await pollUntil(
            'tsbond routes stale',
            () => (ts1.client.receivedRoutes().every((r) => r.stale) ? true : undefined),
            10_000,
          );
          assert.deepEqual(ts1.held(), tsHeld);
          // ...and gets it back from a new server on the same port (Go retries after 5-9 s,
          // rustbond after 5-10 s, tsbond within 1 s here). The sync delay holds SYNCED back
          // until the others had time to reconnect and announce again.
          server = await startTsServer(
            t,
            { keepalive: SERVER_KA, syncDelayMs: 12_000 },
            `[::1]:${String(port)}`,
          );
          await go1.waitEstablished(addr, goBefore + 1, 15_000); // reconnected (log followed every 25 ms)
          await rust1.proc.until(
            () => rust1.establishedCount() >= 2,
            15_000,
            'rustbond reconnected',
          );
          await converge(members, 25_000, 'everyone re-synced with the restarted server');
          await ts1.client.waitSynced(undefined, { timeoutMs: 20_000 });
          assert.equal(ts1.client.staleRouteCount, 0);
          // No removal and no re-add for the routes that survived the restart.
          assert.deepEqual(ts1.rec.calls.slice(tsCalls), []);
          assert.equal(server.server.peers().length, members.length);
        },
      );

      await t.test('an announcer that disconnects is withdrawn at every other client', async () => {
        await go1.kill(); // SIGTERM: the Go CLI dies without a goodbye, like a crash
        const m0 = members[0];
        assert.ok(m0);
        m0.up = false;
        await converge(members, 10_000, 'Go client routes withdrawn');
        await rust1.kill();
        const m1 = members[1];
        assert.ok(m1);
        m1.up = false;
        await converge(members, 10_000, 'rustbond client routes withdrawn');
        await ts1.client.shutdown();
        const m2 = members[2];
        assert.ok(m2);
        m2.up = false;
        await converge(members, 10_000, 'tsbond client routes withdrawn');
        assert.deepEqual(
          server.server.routes().map((r) => r.route.destination.address),
          ['10.4.1.0'],
          'only the late rustbond route is left',
        );
      });
    },
  );
});
