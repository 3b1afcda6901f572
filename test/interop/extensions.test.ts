/**
 * The tsbond extensions next to the reference peers: Go MetalBond v0.5.0 and rustbond 0.1.3 never
 * see them (no field 1000, SYNCED or REFUSED is ever sent to them), ignore the field a tsbond client
 * sends them, and a Go client gets KEEPALIVE replies ahead of a snapshot that takes several of its
 * keepalive timeouts to deliver.
 */

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';

import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import { formatRoute, route } from '../../src/model/route.js';
import { MetalBondClient } from '../../src/client/client.js';
import { encodeKeepalive } from '../../src/wire/encode.js';
import { ALL_FEATURES, MessageType } from '../../src/wire/messages.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { CountingHandler } from '../helpers/recorder.js';
import { splitFrames } from './helpers/frames.js';
import { GoClient, GoServer } from './helpers/go.js';
import { requirePeers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { RecordingProxy } from './helpers/proxy.js';
import { lines, makeRoute } from './helpers/routes.js';
import { RustClient, RustServer } from './helpers/rust.js';
import { startTsServer, TsClient } from './helpers/tsbond.js';
import { pollUntil } from './helpers/wait.js';

const TEST_TIMEOUT_MS = 180_000;

before(() => warmPeers(), { timeout: PEER_BUILD_TIMEOUT_MS });

const types = (bytes: Buffer[]): number[] =>
  splitFrames(Buffer.concat(bytes)).map((f) => f[3] ?? 0);

describe('tsbond extensions next to Go MetalBond and rustbond', () => {
  it(
    'a default tsbond server sends Go and rustbond clients nothing of the extensions',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go', 'rust');
      if (!peers) return;
      const server = await startTsServer(t, { keepalive: 5, syncDelayMs: 0 });
      const goProxy = await RecordingProxy.start(t, server.port);
      const rustProxy = await RecordingProxy.start(t, server.port);
      const ts = TsClient.connect(t, [server.address], {
        subscribe: [100],
        announce: [makeRoute({ vni: 100, prefix: '10.31.1.0/24', hop: '2001:db8::31' })],
      });
      const goRoute = makeRoute({ vni: 100, prefix: '10.31.2.0/24', hop: '2001:db8::32' });
      const rustRoute = makeRoute({ vni: 100, prefix: '10.31.3.0/24', hop: '2001:db8::33' });
      const go = await GoClient.start(t, peers, {
        servers: [goProxy.address],
        subscribe: [100],
        announce: [goRoute],
        keepalive: 5,
      });
      const rust = await RustClient.start(t, peers, {
        servers: [rustProxy.address],
        subscribe: [100],
        announce: [rustRoute],
      });
      await ts.client.waitSynced(100, { timeoutMs: 10_000 });
      const all = lines([
        makeRoute({ vni: 100, prefix: '10.31.1.0/24', hop: '2001:db8::31' }),
        goRoute,
        rustRoute,
      ]);
      // (routes.json of a Go client shows what it received, not its own announcement)
      await go.waitRoutes("the others' routes", (r) => lines(r).length === 2, 10_000);
      await rust.waitHeld(
        all.filter((l) => !l.includes('10.31.3.')),
        10_000,
      );
      await ts.waitHeld(
        all.filter((l) => !l.includes('10.31.1.')),
        10_000,
      );
      for (const [name, proxy] of [
        ['Go', goProxy],
        ['rustbond', rustProxy],
      ] as const) {
        const c = proxy.connections[0];
        assert.ok(c, `${name} connected through the proxy`);
        const down = splitFrames(Buffer.concat(c.down));
        // The server's HELLO: Go's exact bytes (negotiated 5, isServer), no field 1000.
        assert.equal(down[0]?.toString('hex'), '0100040108051001', `${name}: HELLO reply`);
        assert.deepEqual(
          types(c.down).filter((x) => x !== MessageType.UPDATE && x !== MessageType.KEEPALIVE),
          [MessageType.HELLO],
          `${name}: only HELLO, KEEPALIVE and UPDATE frames`,
        );
        assert.ok(
          !Buffer.concat(c.up).toString('hex').includes('c03e'),
          `${name} sends no field 1000`,
        );
      }
      const infos = server.server.peers();
      assert.equal(infos.filter((p) => p.implementation === 'metalbond').length, 2);
      assert.equal(infos.filter((p) => p.implementation === 'tsbond').length, 1);
      assert.deepEqual(go.resets(), []);
    },
  );

  it(
    'Go and rustbond servers ignore field 1000 of a tsbond client: routes flow both ways, paced',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go', 'rust');
      if (!peers) return;
      const goServer = await GoServer.start(t, peers, { keepalive: 5 });
      const rustServer = await RustServer.start(t, peers, {});
      for (const [name, addr] of [
        ['Go', goServer.address],
        ['rustbond', rustServer.address],
      ] as const) {
        const a = TsClient.connect(t, [addr], {
          subscribe: [7],
          announce: [makeRoute({ vni: 7, prefix: '10.7.1.0/24', hop: '2001:db8::71' })],
        });
        const b = TsClient.connect(t, [addr], {
          subscribe: [7],
          announce: [makeRoute({ vni: 7, prefix: '10.7.2.0/24', hop: '2001:db8::72' })],
        });
        await a.waitHeld(['7 10.7.2.0/24 via 2001:db8::72'], 15_000, `${name}: a gets b's route`);
        await b.waitHeld(['7 10.7.1.0/24 via 2001:db8::71'], 15_000, `${name}: b gets a's route`);
        const s = a.client.serverStates()[0];
        assert.ok(s?.features, `${name}: established`);
        assert.equal(s.features.peer, undefined, `${name}: no features in its HELLO`);
        assert.equal(s.features.reassembly, false);
        assert.equal(s.connects, 1, `${name}: one session, never reset`);
        await a.client.shutdown();
        await b.client.shutdown();
      }
    },
  );

  it(
    'a Go client receives a snapshot that takes several of its keepalive timeouts, without a reset',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go');
      if (!peers) return;
      const server = await startTsServer(t, { keepalive: 5 });
      // 100,000 routes: about 4 MB, 8 s at the 512 KiB/s a Go client is paced to; its keepalive
      // of 1 s times out after 2.5 s without a KEEPALIVE reply.
      const N = 100_000;
      const pub = await RawPeer.connect(server.port);
      t.after(() => {
        pub.close();
      });
      await pub.handshake(5, ALL_FEATURES);
      const frames: Buffer[] = [];
      for (let i = 0; i < N; i++) {
        const dest = `10.${String((i >> 16) & 255)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`;
        frames.push(encodeRouteUpdate('ADD', 300, route(dest, '2001:db8::300')));
      }
      pub.send(Buffer.concat(frames));
      await pub.barrier(30_000);
      await pub.until(() => server.server.routeCount === N, 30_000, 'table loaded');
      const started = Date.now();
      const go = await GoClient.start(t, peers, {
        servers: [server.address],
        subscribe: [300],
        keepalive: 1,
      });
      // Keep the publisher's session alive meanwhile (raw peers send no keepalives of their own).
      const ka = setInterval(() => {
        pub.send(encodeKeepalive());
      }, 1000);
      t.after(() => {
        clearInterval(ka);
      });
      // Its log, not /routes.json (serialising 100,000 routes every poll would slow it down).
      await pollUntil(
        'the whole snapshot',
        () => (go.receivedRouteLines() >= N ? true : undefined),
        90_000,
        500,
        () => `${String(go.receivedRouteLines())} routes so far\n${go.proc.tail(10)}`,
      );
      const took = Date.now() - started;
      assert.equal((await go.routes()).length, N);
      assert.ok(took > 5000, `it took ${String(took)} ms: several 2.5 s keepalive timeouts`);
      assert.deepEqual(go.resets(), [], 'no session reset');
      assert.deepEqual(go.protocolErrors(), []);
    },
  );
});

describe('graceful restart against a Go MetalBond server (settle rule)', () => {
  it(
    '100,000 routes through a Go server restart on the same port: no removal, no re-add; the one withdrawn meanwhile goes after the re-sync',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go');
      if (!peers) return;
      const N = 100_000;
      const routes = Array.from({ length: N }, (_, i) => ({
        vni: 400,
        route: route(
          `10.${String(i >> 16)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`,
          `2001:db8::${((i % 50) + 1).toString(16)}`,
        ),
      }));
      let go = await GoServer.start(t, peers, { keepalive: 5, name: 'go-server' });
      const port = go.port;
      const counts = new CountingHandler();
      const sub = MetalBondClient.connect([go.address], counts, {
        subscribe: [400],
        backoffMinMs: 200,
        backoffMaxMs: 1000,
      });
      t.after(() => sub.shutdown());
      const pub = TsClient.connect(t, [go.address], { announce: routes });
      const until = (what: string, cond: () => boolean, ms: number) =>
        pollUntil(
          what,
          () => (cond() ? true : undefined),
          ms,
          100,
          () =>
            JSON.stringify({
              adds: counts.adds,
              removes: counts.removes,
              stale: sub.staleRouteCount,
            }),
        );
      // Paced towards Go (no REASSEMBLY): about 3.5 MB at 512 KiB/s.
      await until('every route at the subscriber', () => counts.adds === N, 90_000);

      await go.kill();
      await until('every route held stale', () => sub.staleRouteCount === N, 15_000);
      const gone = routes[12_345]?.route;
      assert.ok(gone !== undefined);
      await pub.client.withdraw(400, gone.destination, gone.nextHop); // no server up
      const before = { adds: counts.adds, removes: counts.removes };
      go = await GoServer.start(t, peers, { keepalive: 5, port, name: 'go-server-2' });
      // No SYNCED from Go: the settle rule (2 s quiet, 15 s after the session came up).
      await sub.waitSynced(400, { timeoutMs: 90_000 });
      await until('the withdrawn route removed', () => counts.removes > before.removes, 15_000);
      assert.equal(counts.adds - before.adds, 0, 're-adds');
      assert.deepEqual(counts.removed, [`400 ${formatRoute(gone)}`]);
      assert.equal(sub.staleRouteCount, 0);
      assert.equal(sub.receivedRoutes(400).length, N - 1);
      assert.deepEqual(go.protocolErrors(), []);
    },
  );
});
