/**
 * Interop matrix, tsbond client: against a Go MetalBond v0.5.0 server and against a rustbond
 * 0.1.3 server, each shared with a Go client and a rustbond client that see what tsbond announces
 * and announce routes of their own.
 */

import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';

import { AlreadySubscribedError } from '../../src/errors.js';
import { GoClient, GoServer, goKeepaliveTimeouts } from './helpers/go.js';
import {
  converge,
  expectedView,
  goMember,
  rustMember,
  tsMember,
  type Member,
} from './helpers/matrix.js';
import { requirePeers, type Peers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { lines, makeRoute, type VniRoute } from './helpers/routes.js';
import { RustClient, RustServer } from './helpers/rust.js';
import { TsClient } from './helpers/tsbond.js';
import { delay, pollUntil } from './helpers/wait.js';

const TEST_TIMEOUT_MS = 180_000;

before(() => warmPeers(), { timeout: PEER_BUILD_TIMEOUT_MS });

const goRoutes = [
  makeRoute({ vni: 100, prefix: '10.11.1.0/24', hop: '2001:db8::1:a1' }),
  makeRoute({
    vni: 200,
    prefix: '2001:db8:11::/64',
    hop: '2001:db8::1:a2',
    type: 'NAT',
    natFrom: 2000,
    natTo: 2999,
  }),
  makeRoute({
    vni: 200,
    prefix: '10.11.3.0/24',
    hop: '2001:db8::1:a3',
    type: 'LOADBALANCER_TARGET',
  }),
];
const rustRoutes = [
  makeRoute({ vni: 100, prefix: '10.12.1.0/24', hop: '2001:db8::1:b1', targetVni: 4242 }),
  makeRoute({
    vni: 100,
    prefix: '10.12.2.0/24',
    hop: '2001:db8::1:b2',
    type: 'NAT',
    natFrom: 60000,
    natTo: 65535,
  }),
  makeRoute({
    vni: 200,
    prefix: '2001:db8:12::/48',
    hop: '2001:db8::1:b3',
    type: 'LOADBALANCER_TARGET',
  }),
];
const tsRoutes = [
  makeRoute({ vni: 100, prefix: '10.13.1.0/24', hop: '2001:db8::1:c1', targetVni: 77 }),
  makeRoute({
    vni: 200,
    prefix: '10.13.2.0/24',
    hop: '2001:db8::1:c2',
    type: 'NAT',
    natFrom: 1024,
    natTo: 65535,
  }),
  makeRoute({
    vni: 100,
    prefix: '2001:db8:13::/56',
    hop: '2001:db8::1:c3',
    type: 'LOADBALANCER_TARGET',
  }),
  makeRoute({ vni: 200, prefix: '2001:db8:13:1::/64', hop: '2001:db8::1:c4', targetVni: 5 }),
];
// A client that announces before it subscribes (snapshot echo check).
const echoRoutes = [
  makeRoute({ vni: 100, prefix: '10.14.1.0/24', hop: '2001:db8::1:d1' }),
  makeRoute({
    vni: 100,
    prefix: '10.14.2.0/24',
    hop: '2001:db8::1:d2',
    type: 'NAT',
    natFrom: 7,
    natTo: 8,
  }),
];

interface ServerUnderTest {
  readonly address: string;
  /** Kills the server process. */
  stop(): Promise<void>;
  /** Starts a new server process on the same port. */
  start(): Promise<void>;
  /** Log lines about protocol errors or keepalive timeouts on the server. */
  protocolErrors(): string[];
  /** Keepalive timeouts the server logged per session (Go only). */
  keepaliveTimeouts(): string[] | undefined;
}

interface Flavour {
  readonly name: string;
  /** UNSUBSCRIBE withdraws the peer's own routes in that VNI (Go semantics). */
  readonly withdrawsOnUnsubscribe: boolean;
  readonly serverKeepalive: number;
  start(t: TestContext, peers: Peers): Promise<ServerUnderTest>;
  /** Keepalive the tsbond client offers, and the one it ends up with. */
  readonly tsKeepalive: number;
  readonly tsNegotiated: number;
  /** Own routes the server echoes back in the snapshot to a client that announced first. */
  echoed(own: readonly VniRoute[]): VniRoute[];
  /** Keepalive timeouts the server logs, sorted (undefined: it logs none). */
  readonly serverTimeouts: string[] | undefined;
}

const goFlavour: Flavour = {
  name: 'Go MetalBond server',
  withdrawsOnUnsubscribe: true,
  serverKeepalive: 2,
  tsKeepalive: 1,
  tsNegotiated: 1,
  async start(t, peers) {
    let s = await GoServer.start(t, peers, { keepalive: 2, name: 'go-server' });
    const port = s.port;
    const prior: string[] = [];
    return {
      get address() {
        return s.address;
      },
      async stop() {
        prior.push(...s.protocolErrors());
        await s.kill();
      },
      async start() {
        s = await GoServer.start(t, peers, { keepalive: 2, port, name: 'go-server-2' });
      },
      protocolErrors: () => [...prior, ...s.protocolErrors()],
      keepaliveTimeouts: () => goKeepaliveTimeouts(s).sort(),
    };
  },
  // Go reflects a subscriber's own routes in the snapshot, except NAT ones.
  echoed: (own) => own.filter((r) => r.route.nextHop.type !== 'NAT'),
  // The Go server logs 2.5 x the negotiated interval per session: Go client 4 vs 2 -> 2,
  // rustbond 5 vs 2 -> 2, tsbond 1 vs 2 -> 1.
  serverTimeouts: ['2.5s', '5s', '5s'],
};

const rustFlavour: Flavour = {
  name: 'rustbond server',
  withdrawsOnUnsubscribe: false,
  serverKeepalive: 3,
  // rustbond answers HELLO with its configured 3, not the minimum; both sides still use 2.
  tsKeepalive: 2,
  tsNegotiated: 2,
  async start(t, peers) {
    let s = await RustServer.start(t, peers, { keepalive: 3, name: 'rust-server' });
    const port = s.port;
    const prior: string[] = [];
    return {
      get address() {
        return s.address;
      },
      async stop() {
        await s.kill();
      },
      async start() {
        prior.push(...s.warnings());
        s = await RustServer.start(t, peers, { keepalive: 3, port, name: 'rust-server-2' });
      },
      protocolErrors: () => [...prior, ...s.warnings()],
      keepaliveTimeouts: () => undefined,
    };
  },
  // rustbond reflects all of them, NAT included.
  echoed: (own) => [...own],
  serverTimeouts: undefined,
};

async function clientScenario(t: TestContext, flavour: Flavour): Promise<void> {
  const peers = await requirePeers(t, 'go', 'rust');
  if (!peers) return;
  const server = await flavour.start(t, peers);
  const addr = server.address;

  const go = await GoClient.start(t, peers, {
    name: 'go',
    servers: [addr],
    subscribe: [100, 200],
    announce: goRoutes,
    keepalive: 4,
  });
  const rust = await RustClient.start(t, peers, {
    name: 'rust',
    servers: [addr],
    subscribe: [100, 200],
    announce: rustRoutes,
  });
  // Subscribe first and announce only once the snapshot is in: a reference server that took our
  // ADDs before our SUBSCRIBE would echo them back (see the echo tests below).
  const ts = TsClient.connect(t, [addr], { keepalive: flavour.tsKeepalive, subscribe: [100, 200] });
  await ts.waitEstablished(5000);
  await ts.waitHeld(lines([...goRoutes, ...rustRoutes]), 10_000, 'snapshot before announcing');
  for (const r of tsRoutes) await ts.announce(r);
  const allUp = Date.now();
  const members: Member[] = [
    goMember('go', go, [100, 200], goRoutes),
    rustMember('rust', rust, [100, 200], rustRoutes),
    tsMember('ts', ts, [100, 200], tsRoutes),
  ];
  const [goM, rustM, tsM] = members;
  assert.ok(goM && rustM && tsM);
  // rustbond has no loop prevention, and both reference servers sometimes echo a client's own
  // routes back although it subscribed before announcing (see docs/interop.md).
  rustM.ignoreOwnEcho = true;

  await t.test('handshake: keepalive negotiated to the smaller interval', async () => {
    assert.equal(ts.client.serverStates()[0]?.keepalive, flavour.tsNegotiated);
    const want = flavour.serverTimeouts;
    if (want !== undefined) {
      // (the Go log is a file followed every 25 ms)
      await pollUntil(
        'keepalive timeouts in the Go server log',
        () => ((server.keepaliveTimeouts()?.length ?? 0) >= want.length ? true : undefined),
        2000,
        25,
      );
    }
    assert.deepEqual(server.keepaliveTimeouts(), want);
  });

  await t.test('ADDs flow both ways, all hop types, IPv4 and IPv6', async () => {
    await converge(members, 10_000, 'all clients hold the routes of the others');
  });

  await t.test('REMOVEs flow both ways', async () => {
    const mine = tsRoutes[3];
    const theirs = rustRoutes[1];
    assert.ok(mine && theirs);
    await ts.withdraw(mine);
    await rust.withdraw(theirs);
    tsM.announced.splice(3, 1);
    rustM.announced.splice(1, 1);
    await converge(members, 10_000, 'withdrawals reached everyone');
    await ts.announce(mine);
    await rust.announce(theirs);
    tsM.announced.push(mine);
    rustM.announced.push(theirs);
    await converge(members, 10_000, 're-announcements reached everyone');
  });

  await t.test('a repeated subscribe is refused locally and never reaches the server', async () => {
    await assert.rejects(ts.client.subscribe(100), AlreadySubscribedError);
    // A Go server that got a duplicate SUBSCRIBE would now be deadlocked: prove it still works
    // by having a new client join and receive its snapshot.
    const probe = TsClient.connect(t, [addr], { keepalive: 3, subscribe: [200] });
    await probe.waitHeld(
      lines(members.flatMap((m) => m.announced).filter((r) => r.vni === 200)),
      10_000,
      'snapshot of a new client',
    );
    await probe.client.shutdown();
  });

  await t.test(
    'unsubscribe, subscribe again: own announcements in that VNI still hold',
    async () => {
      // A Go server (and tsbond's, which follows Go here) withdraws everything a peer announced in
      // a VNI when it unsubscribes from it; rustbond does not. The client must announce them again.
      const mine = lines(tsM.announced.filter((r) => r.vni === 200));
      const removesOfMine = (): number =>
        rust.calls().filter((c) => c.startsWith('remove ') && mine.includes(c.slice(7))).length;
      const removesBefore = removesOfMine();
      await ts.client.unsubscribe(200);
      await ts.client.subscribe(200);
      // The server has taken the SUBSCRIBE (so the UNSUBSCRIBE too): the snapshot is back.
      await ts.waitHeld(expectedView(members, tsM), 10_000, 'snapshot after subscribing again');
      if (flavour.withdrawsOnUnsubscribe) {
        // ...and it did withdraw our routes (the others saw the REMOVEs), so converging below
        // proves that the client announced them again.
        await rust.proc.until(
          () => removesOfMine() >= removesBefore + mine.length,
          5000,
          'REMOVEs of the unsubscribing client routes',
        );
      }
      try {
        await converge(members, 5000, 'tsbond routes in VNI 200 after UNSUBSCRIBE + SUBSCRIBE');
      } catch (e) {
        assert.fail(
          `tsbond client: after unsubscribe(200) + subscribe(200) the ${flavour.name} no longer has ` +
            `its VNI-200 announcements (withdrawn by the UNSUBSCRIBE), although announcedRoutes() ` +
            `still lists ${String(ts.client.announcedRoutes().filter((a) => a.vni === 200).length)} of them.\n` +
            (e as Error).message,
        );
      }
    },
  );

  await t.test('sessions stay up past several keepalive periods', async () => {
    // 3 periods of the slowest negotiated interval (the server's), past every 2.5 x timeout.
    const soakMs = 3 * flavour.serverKeepalive * 1000;
    const left = allUp + soakMs - Date.now();
    if (left > 0) await delay(left);
    assert.equal(ts.client.serverStates()[0]?.connects, 1, 'tsbond client never reconnected');
    assert.equal(ts.client.serverStates()[0]?.state, 'ESTABLISHED');
    assert.deepEqual(go.resets(), [], 'Go client never reset');
    assert.ok(!rust.serverStates().includes('RETRY'), 'rustbond client never dropped');
    assert.equal(rust.establishedCount(), 1);
    assert.deepEqual(server.protocolErrors(), [], 'no protocol error or timeout on the server');
  });

  await t.test('snapshot on subscribe; own routes echoed by the server are ignored', async () => {
    const late = TsClient.connect(t, [addr], { keepalive: 5 });
    await late.waitEstablished(5000);
    for (const r of echoRoutes) await late.announce(r);
    // Subscribe only once the server has processed the ADDs (the Go client has them): Go handles
    // SUBSCRIBE and UPDATE on separate channels and could otherwise take the SUBSCRIBE first.
    const own = lines(echoRoutes);
    await go.waitRoutes(
      'late client routes at the Go client',
      (r) => {
        const have = lines(r);
        return own.every((l) => have.includes(l));
      },
      10_000,
    );
    await late.client.subscribe(100);
    await late.client.subscribe(200);
    members.push(tsMember('late', late, [100, 200], echoRoutes));
    await converge(members, 10_000, 'late subscriber got the snapshot, others got its routes');
    // What the reference server sent back of our own routes is counted and ignored: never handed
    // to the handler, not held back either (no REMOVE would ever come for it).
    const echoed = lines(flavour.echoed(echoRoutes));
    const ignored = (): number => late.client.serverStates()[0]?.echoesIgnored ?? 0;
    await pollUntil(
      'echoed routes ignored',
      () => (ignored() >= echoed.length ? true : undefined),
      5000,
      50,
      () => String(ignored()),
    );
    assert.equal(ignored(), echoed.length);
    assert.deepEqual(lines(late.client.heldBackRoutes()), []);
    const ownSet = new Set(own);
    assert.deepEqual(
      late.held().filter((l) => ownSet.has(l)),
      [],
    );
  });

  await t.test('withdrawing a route the server echoed back leaves nothing installed', async () => {
    // The reference server echoes our route in the snapshot; loop prevention holds it back while
    // we announce it. Once we withdraw it, the server deletes it and tells everybody but us.
    const r = makeRoute({ vni: 100, prefix: '10.15.1.0/24', hop: '2001:db8::1:e1' });
    const line = lines([r])[0] ?? '';
    const echoer = TsClient.connect(t, [addr], { keepalive: 5 });
    try {
      await echoer.waitEstablished(5000);
      await echoer.announce(r);
      await go.waitRoutes('echoer route at the Go client', (x) => lines(x).includes(line), 10_000);
      await echoer.client.subscribe(100);
      await pollUntil(
        'own route echoed and ignored',
        () => ((echoer.client.serverStates()[0]?.echoesIgnored ?? 0) >= 1 ? true : undefined),
        5000,
        50,
      );
      await echoer.withdraw(r);
      await go.waitRoutes('withdrawal at the Go client', (x) => !lines(x).includes(line), 10_000);
      // Our own withdrawal round-trips to the others; give it the same time to reach us.
      await delay(500);
      assert.ok(
        !echoer.held().includes(line),
        `tsbond client: after withdraw() of its own route, which the ${flavour.name} had echoed ` +
          `back in the snapshot (held back by loop prevention), the handler got addRoute for it ` +
          `and no removeRoute follows: the server sends the REMOVE to everyone but the announcer. ` +
          `Handler calls: ${JSON.stringify(echoer.rec.calls)}`,
      );
    } finally {
      await echoer.client.shutdown();
    }
  });

  await t.test(
    'server restart: Go, rustbond and tsbond clients reconnect and converge',
    async () => {
      await server.stop();
      // Go and rustbond clients lose what the server gave them; tsbond keeps it (graceful
      // restart: stale for the hold time, no removeRoute)...
      await go.waitRoutes(
        'routes dropped when the server went away',
        (r) => r.length === 0,
        10_000,
      );
      await rust.waitHeld([], 10_000, 'routes dropped when the server went away');
      await pollUntil(
        'tsbond client lost the server',
        () => (ts.client.serverStates()[0]?.state !== 'ESTABLISHED' ? true : undefined),
        10_000,
      );
      // A server that stops may close its other sessions first and send us their withdrawals
      // (rustbond does): those removals are legitimate. What we held when the session was lost
      // survives: stale, never removed, never re-added.
      const survived = ts.held();
      const tsCalls = ts.rec.calls.length;
      assert.ok(
        ts.client.receivedRoutes().every((r) => r.stale),
        'every route kept is stale',
      );
      assert.equal(ts.client.receivedRoutes().length, survived.length);
      // ...and gets it back from a new server on the same port (Go retries after 5-9 s, rustbond
      // after 5-10 s, tsbond within 1 s here).
      await server.start();
      await go.waitEstablished(addr, 2, 15_000); // reconnected (its log is followed every 25 ms)
      await rust.proc.until(() => rust.establishedCount() >= 2, 15_000, 'rustbond reconnected');
      await converge(members, 25_000, 'everyone re-synced with the restarted server');
      // The settle rule (no SYNCED from Go or rustbond): 2 s quiet, 15 s after re-establishing.
      await ts.client.waitSynced(undefined, { timeoutMs: 30_000 });
      assert.equal(ts.client.staleRouteCount, 0);
      assert.equal(ts.client.serverStates()[0]?.state, 'ESTABLISHED');
      assert.ok((ts.client.serverStates()[0]?.connects ?? 0) >= 2, 'tsbond client reconnected');
      // No removal and no re-add for the routes that survived the restart (routes the server
      // withdrew while stopping come back as adds).
      const touched = ts.rec.calls
        .slice(tsCalls)
        .filter((c) => survived.includes(c.slice(c.indexOf(' ') + 1)));
      assert.deepEqual(touched, []);
    },
  );

  await t.test('an announcer that disconnects is withdrawn at the others', async () => {
    await go.kill();
    goM.up = false;
    await converge(members, 10_000, 'Go client routes withdrawn at tsbond');
    await ts.client.shutdown();
    tsM.up = false;
    await converge(members, 10_000, 'tsbond client routes withdrawn at rustbond and tsbond');
  });
}

describe('tsbond client against reference servers', () => {
  it(
    'with a Go MetalBond server, a Go client and a rustbond client',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      await clientScenario(t, goFlavour);
    },
  );

  it(
    'with a rustbond server, a Go client and a rustbond client',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      await clientScenario(t, rustFlavour);
    },
  );
});
