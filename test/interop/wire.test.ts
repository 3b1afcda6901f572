/**
 * Byte level: the frames a tsbond client and a tsbond server really put on a socket are Go
 * MetalBond's own frames (test/fixtures/golden-frames.json, and live Go and rustbond peers), and
 * tsbond never does what breaks the reference peers: handshake pipelining, a duplicate SUBSCRIBE,
 * keepalive 0, echoing a peer's own routes.
 */

import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';

import { MetalBondClient } from '../../src/client/client.js';
import { AlreadySubscribedError, MetalBondError } from '../../src/errors.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import { MetalBondServer } from '../../src/server/server.js';
import { encodeHello, encodeKeepalive, encodeSubscribe } from '../../src/wire/encode.js';
import { RawPeer, RawServer } from '../helpers/raw-peer.js';
import { framesHex, goldenVectors, KEEPALIVE_HEX, type GoldenVector } from './helpers/frames.js';
import { GoClient, GoServer } from './helpers/go.js';
import { requirePeers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { makeRoute, type VniRoute } from './helpers/routes.js';
import { RustClient } from './helpers/rust.js';
import { startTsServer, TsClient } from './helpers/tsbond.js';
import { delay } from './helpers/wait.js';

const TEST_TIMEOUT_MS = 60_000;

before(() => warmPeers(), { timeout: PEER_BUILD_TIMEOUT_MS });

const ignoreRoutes = {
  addRoute: (): void => undefined,
  removeRoute: (): void => undefined,
};

/** How long "nothing else arrives" is watched for (no event exists for an absence). */
const QUIET_MS = 300;

const vectors = goldenVectors().filter((v) => v.use === 'both');
const byType = (type: string): GoldenVector[] => vectors.filter((v) => v.message.type === type);

function goldenRoute(v: GoldenVector): VniRoute {
  const m = v.message;
  const h = m.nextHop;
  assert.ok(m.vni !== undefined && m.destination !== undefined && h !== undefined);
  return makeRoute({
    vni: m.vni,
    prefix: m.destination,
    hop: h.targetAddress,
    type: h.type,
    targetVni: h.targetVni,
    natFrom: h.natPortRangeFrom,
    natTo: h.natPortRangeTo,
  });
}

async function rawServer(t: TestContext): Promise<RawServer> {
  const raw = await RawServer.start();
  t.after(() => raw.close());
  return raw;
}

/** Waits for `n` frames, then makes sure nothing else follows for QUIET_MS. */
async function exactly(p: RawPeer, n: number, what: string): Promise<string[]> {
  await p.until(() => framesHex(p).length >= n, 5000, what);
  await delay(QUIET_MS);
  const f = framesHex(p);
  assert.equal(f.length, n, `${what}: nothing else may be sent yet, got ${JSON.stringify(f)}`);
  return f;
}

/** Plays the server side of the handshake for a client on `p`; returns the frames seen. */
async function serverHandshake(p: RawPeer, keepalive: number): Promise<string[]> {
  await exactly(p, 1, 'client HELLO, alone');
  p.send(encodeHello(keepalive, true));
  const f = await exactly(p, 2, 'client KEEPALIVE after our HELLO, alone');
  p.send(encodeKeepalive());
  return f;
}

describe('bytes on the wire', () => {
  it(
    'a tsbond client sends Go’s golden frames, and nothing ahead of the handshake',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const subscribe = byType('SUBSCRIBE').map((v) => v.message.vni ?? -1);
      const adds = byType('UPDATE').filter((v) => v.message.action === 'ADD');
      const removes = byType('UPDATE').filter((v) => v.message.action === 'REMOVE');
      const unsubscribe = byType('UNSUBSCRIBE').map((v) => v.message.vni ?? -1);
      assert.ok(subscribe.length >= 6 && adds.length >= 8 && removes.length >= 2);
      assert.ok(unsubscribe.every((v) => subscribe.includes(v)));

      const raw = await rawServer(t);
      const c = TsClient.connect(t, [`[::1]:${String(raw.port)}`], {
        keepalive: 5,
        extensions: false, // Go's exact bytes (the extension HELLO is checked below)
        subscribe,
        announce: adds.map(goldenRoute),
      });
      const p = await raw.nextPeer(0);
      // Handshake: HELLO alone, KEEPALIVE alone (rustbond reads only the first message of a read).
      const hs = await serverHandshake(p, 5);
      assert.deepEqual(hs, [vectors.find((v) => v.id === 'hello-5-false')?.frame, KEEPALIVE_HEX]);
      await c.waitEstablished(5000);
      // Then all SUBSCRIBEs, then all ADDs, in the order given, each Go's bytes.
      const want = [
        ...subscribe.map((vni) => byType('SUBSCRIBE').find((v) => v.message.vni === vni)?.frame),
        ...adds.map((v) => v.frame),
      ];
      await p.until(() => framesHex(p).length >= 2 + want.length, 5000, 'sync');
      const synced = framesHex(p)
        .slice(2)
        .filter((f) => f !== KEEPALIVE_HEX);
      assert.deepEqual(synced, want);

      // UNSUBSCRIBE and REMOVE (a REMOVE needs the route announced first).
      const before = framesHex(p).length;
      for (const vni of unsubscribe) await c.client.unsubscribe(vni);
      for (const v of removes) {
        const r = goldenRoute(v);
        await c.announce(r).catch((e: unknown) => {
          if (!(e instanceof MetalBondError && e.code === 'ROUTE_ALREADY_ANNOUNCED')) throw e;
        });
        await c.withdraw(r);
      }
      const wanted = [
        ...unsubscribe.map(
          (vni) => byType('UNSUBSCRIBE').find((v) => v.message.vni === vni)?.frame ?? '?',
        ),
        ...removes.map((v) => v.frame),
      ];
      const later = (): string[] => framesHex(p).slice(before);
      await p.until(
        () => wanted.every((f) => later().includes(f)),
        5000,
        `UNSUBSCRIBE and REMOVE frames ${JSON.stringify(wanted)}`,
      );
    },
  );

  it(
    'a tsbond client with keepalive 300 sends the golden HELLO',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const raw = await rawServer(t);
      TsClient.connect(t, [`[::1]:${String(raw.port)}`], { keepalive: 300, extensions: false });
      const p = await raw.nextPeer(0);
      const [hello] = await exactly(p, 1, 'HELLO');
      assert.equal(hello, vectors.find((v) => v.id === 'hello-300-false')?.frame);
      // With the extensions (the default), the same frame plus field 1000 = 7 (`c0 3e 07`).
      const raw2 = await rawServer(t);
      TsClient.connect(t, [`[::1]:${String(raw2.port)}`], { keepalive: 300 });
      const p2 = await raw2.nextPeer(0);
      const [hello2] = await exactly(p2, 1, 'HELLO with features');
      assert.equal(hello2, '010006' + '0108ac02' + 'c03e07');
    },
  );

  it(
    'a tsbond server answers with the golden HELLO and KEEPALIVE, nothing else',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      for (const v of byType('HELLO').filter((x) => x.message.isServer === true)) {
        const ka = v.message.keepaliveInterval ?? 0;
        // The reply carries the negotiated value: offer more than the server has where we can.
        const server = await startTsServer(t, { keepalive: ka });
        const p = await RawPeer.connect(server.port);
        t.after(() => {
          p.close();
        });
        p.send(encodeHello(ka + 7, false));
        assert.deepEqual(await exactly(p, 1, `${v.id}: HELLO reply`), [v.frame]);
        p.send(encodeKeepalive());
        assert.deepEqual(await exactly(p, 2, `${v.id}: KEEPALIVE reply`), [v.frame, KEEPALIVE_HEX]);
      }
    },
  );

  it(
    'UPDATEs a tsbond server forwards are Go’s golden frames',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const server = await startTsServer(t, { keepalive: 5 });
      const announcer = await RawPeer.connect(server.port);
      const subscriber = await RawPeer.connect(server.port);
      t.after(() => {
        announcer.close();
        subscriber.close();
      });
      await announcer.handshake(5);
      await subscriber.handshake(5);
      const updates = byType('UPDATE');
      const vnis = [...new Set(updates.map((v) => v.message.vni ?? 0))];
      for (const vni of vnis) subscriber.send(encodeSubscribe(vni));
      await subscriber.barrier();
      const start = framesHex(subscriber).length;
      // Sent verbatim by the announcer; a REMOVE needs its route to exist first.
      for (const v of updates) {
        if (v.message.action === 'REMOVE') {
          const r = goldenRoute(v);
          const add = encodeRouteUpdate('ADD', r.vni, r.route);
          if (!updates.some((u) => u.frame === add.toString('hex'))) announcer.send(add);
        }
        announcer.send(Buffer.from(v.frame, 'hex'));
      }
      await announcer.barrier();
      await subscriber.barrier();
      const got = framesHex(subscriber)
        .slice(start)
        .filter((f) => f !== KEEPALIVE_HEX);
      for (const v of updates) assert.ok(got.includes(v.frame), `${v.id} forwarded as ${v.frame}`);
    },
  );

  it(
    'frames of a tsbond client equal those of a Go client and a rustbond client',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go', 'rust');
      if (!peers) return;
      const routes = [
        makeRoute({ vni: 100, prefix: '10.0.1.0/24', hop: '2001:db8::1' }),
        makeRoute({
          vni: 100,
          prefix: '2001:db8:1::/48',
          hop: '2001:db8::99',
          type: 'LOADBALANCER_TARGET',
        }),
        makeRoute({
          vni: 200,
          prefix: '10.0.2.0/24',
          hop: '2001:db8::2',
          type: 'NAT',
          natFrom: 1024,
          natTo: 2048,
        }),
        makeRoute({ vni: 23, prefix: '10.0.23.42/32', hop: '2001:db8::1' }),
      ];
      const withTargetVni = [
        ...routes,
        makeRoute({ vni: 100, prefix: '10.0.0.0/8', hop: '2001:db8::3', targetVni: 500 }),
      ];

      /** Connects a client to a fresh raw server, handshakes, returns its sync frames sorted. */
      const capture = async (
        connect: (addr: string) => Promise<unknown>,
        n: number,
      ): Promise<{ hello: string; sync: string[] }> => {
        const raw = await rawServer(t);
        // Not awaited yet: a peer driver may wait for the handshake we are about to play.
        const started = connect(`[::1]:${String(raw.port)}`);
        const p = await raw.nextPeer(0, 10_000);
        await p.until(() => p.received.length >= 1, 5000, 'HELLO');
        p.send(encodeHello(5, true));
        await p.until(() => p.received.some((m) => m.type === 'KEEPALIVE'), 5000, 'KEEPALIVE');
        p.send(encodeKeepalive());
        await started;
        // Unique frames: a rustbond client may send an ADD twice right after connecting (its
        // re-sync on ESTABLISHED races with the announce command that started it).
        const sync = (): string[] => [
          ...new Set(
            framesHex(p)
              .slice(1)
              .filter((f) => f !== KEEPALIVE_HEX),
          ),
        ];
        await p.until(() => sync().length >= n, 10_000, `${String(n)} sync frames`);
        return { hello: framesHex(p)[0] ?? '', sync: sync().sort() };
      };

      const ts = await capture(
        (addr) =>
          Promise.resolve(
            TsClient.connect(t, [addr], {
              keepalive: 5,
              extensions: false,
              subscribe: [100, 23],
              announce: routes,
            }),
          ),
        2 + routes.length,
      );
      const go = await capture(
        (addr) =>
          GoClient.start(t, peers, {
            servers: [addr],
            subscribe: [100, 23],
            announce: routes,
            keepalive: 5,
            waitEstablished: false,
          }),
        2 + routes.length,
      );
      assert.equal(ts.hello, go.hello, 'HELLO');
      assert.deepEqual(ts.sync, go.sync, 'SUBSCRIBEs and ADDs');

      const tsTv = await capture(
        (addr) =>
          Promise.resolve(
            TsClient.connect(t, [addr], {
              keepalive: 5,
              extensions: false,
              subscribe: [100],
              announce: withTargetVni,
            }),
          ),
        1 + withTargetVni.length,
      );
      const rust = await capture(
        (addr) =>
          RustClient.start(t, peers, {
            servers: [addr],
            subscribe: [100],
            announce: withTargetVni,
          }),
        1 + withTargetVni.length,
      );
      assert.equal(tsTv.hello, rust.hello, 'HELLO (rustbond always offers 5)');
      assert.deepEqual(tsTv.sync, rust.sync, 'SUBSCRIBE and ADDs incl. a target VNI');
    },
  );

  it(
    'a tsbond server answers HELLO exactly like a Go server',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go');
      if (!peers) return;
      const replies: string[][] = [];
      for (const port of [
        (await GoServer.start(t, peers, { keepalive: 5 })).port,
        (await startTsServer(t, { keepalive: 5 })).port,
      ]) {
        const p = await RawPeer.connect(port);
        t.after(() => {
          p.close();
        });
        p.send(encodeHello(3, false));
        await p.until(() => p.received.length >= 1, 5000, 'HELLO reply');
        p.send(encodeKeepalive());
        await p.until(() => p.received.length >= 2, 5000, 'KEEPALIVE reply');
        replies.push(framesHex(p));
      }
      assert.deepEqual(replies[1], replies[0]);
      assert.deepEqual(replies[0], ['0100040108031001', KEEPALIVE_HEX]);
    },
  );
});

describe('tsbond never triggers the known bugs of the reference peers', () => {
  it(
    'never sends the same SUBSCRIBE twice on one session (deadlocks a Go server)',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const raw = await rawServer(t);
      const c = TsClient.connect(t, [`[::1]:${String(raw.port)}`], {
        keepalive: 5,
        subscribe: [100],
        backoffMinMs: 50,
        backoffMaxMs: 100,
      });
      const first = await raw.nextPeer(0);
      await serverHandshake(first, 5);
      await c.waitEstablished(5000);
      await assert.rejects(c.client.subscribe(100), AlreadySubscribedError);
      await c.client.subscribe(200);
      await assert.rejects(c.client.subscribe(200), AlreadySubscribedError);
      await c.client.unsubscribe(200);
      await c.client.subscribe(200);
      await first.until(
        () => first.received.filter((m) => m.type !== 'KEEPALIVE').length >= 4,
        5000,
        'frames',
      );
      await delay(QUIET_MS);
      const seq = (p: RawPeer): string[] =>
        p.received.flatMap((m) =>
          m.type === 'SUBSCRIBE' || m.type === 'UNSUBSCRIBE' ? [`${m.type} ${String(m.vni)}`] : [],
        );
      assert.deepEqual(seq(first), [
        'SUBSCRIBE 100',
        'SUBSCRIBE 200',
        'UNSUBSCRIBE 200',
        'SUBSCRIBE 200',
      ]);
      // A new session after a reconnect: each VNI exactly once again.
      first.close();
      const second = await raw.nextPeer(1, 5000);
      await serverHandshake(second, 5);
      await second.until(() => seq(second).length >= 2, 5000, 'resubscribe');
      await delay(QUIET_MS);
      assert.deepEqual(seq(second), ['SUBSCRIBE 100', 'SUBSCRIBE 200']);
    },
  );

  it(
    'never sends keepalive 0, and refuses it (crashes a Go server, deadlocks a Go client)',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      assert.throws(
        () => MetalBondClient.connect(['[::1]:1'], ignoreRoutes, { keepalive: 0 }),
        MetalBondError,
      );
      await assert.rejects(MetalBondServer.start('[::1]:0', { keepalive: 0 }), MetalBondError);

      // A server never answers a HELLO with keepalive 0; it closes.
      const server = await startTsServer(t, { keepalive: 5 });
      const p = await RawPeer.connect(server.port);
      t.after(() => {
        p.close();
      });
      p.send(Buffer.from('01000001', 'hex'));
      await p.waitClosed(5000);
      assert.deepEqual(framesHex(p), []);

      // A client offered keepalive 0 does not go on with the handshake; it drops and retries.
      const raw = await rawServer(t);
      TsClient.connect(t, [`[::1]:${String(raw.port)}`], {
        keepalive: 5,
        extensions: false,
        backoffMinMs: 50,
        backoffMaxMs: 100,
      });
      const first = await raw.nextPeer(0);
      await exactly(first, 1, 'HELLO');
      first.send(encodeHello(0, true));
      await first.waitClosed(5000);
      assert.deepEqual(framesHex(first), [vectors.find((v) => v.id === 'hello-5-false')?.frame]);
      await raw.nextPeer(1, 5000);
    },
  );

  it(
    'never echoes a peer’s own routes, NAT or not (Go and rustbond do)',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const server = await startTsServer(t, { keepalive: 5 });
      const a = await RawPeer.connect(server.port);
      const b = await RawPeer.connect(server.port);
      t.after(() => {
        a.close();
        b.close();
      });
      await a.handshake(5);
      await b.handshake(5);
      const nat = makeRoute({
        vni: 100,
        prefix: '10.9.1.0/24',
        hop: '2001:db8::9',
        type: 'NAT',
        natFrom: 1,
        natTo: 2,
      });
      const std = makeRoute({ vni: 100, prefix: '10.9.2.0/24', hop: '2001:db8::9' });
      const fromB = makeRoute({ vni: 100, prefix: '10.9.3.0/24', hop: '2001:db8::8' });
      // Announce first, subscribe afterwards: the order in which Go and rustbond echo.
      a.send(encodeRouteUpdate('ADD', 100, nat.route));
      a.send(encodeRouteUpdate('ADD', 100, std.route));
      await a.barrier();
      a.send(encodeSubscribe(100));
      await a.barrier();
      assert.deepEqual(a.updateLines(), [], 'no echo in the snapshot');
      // b announces a route of its own and subscribes: each sees only the other's routes.
      b.send(encodeRouteUpdate('ADD', 100, fromB.route));
      b.send(encodeSubscribe(100));
      await b.barrier();
      await a.barrier();
      assert.deepEqual(a.updateLines(), ['ADD 100 10.9.3.0/24 via 2001:db8::8']);
      assert.deepEqual(b.updateLines().sort(), [
        'ADD 100 10.9.1.0/24 via 2001:db8::9 [NAT ports 1-2]',
        'ADD 100 10.9.2.0/24 via 2001:db8::9',
      ]);
    },
  );
});
