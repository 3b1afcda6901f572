import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { NotEstablishedError, NotSubscribedError, TimeoutError } from '../../src/errors.js';
import { formatRoute, route, type Route } from '../../src/model/route.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import type { MetalBondServer } from '../../src/server/server.js';
import { encodeHello, encodeKeepalive, encodeSynced } from '../../src/wire/encode.js';
import { ALL_FEATURES } from '../../src/wire/messages.js';
import { client, clientUntil, CountingHandler, Recorder } from '../helpers/recorder.js';
import { RawServer, type RawPeer } from '../helpers/raw-peer.js';
import { rawPeer, startServer } from '../helpers/server-fixture.js';
import { MetalBondClient } from '../../src/client/client.js';
import { encodeSubscribe } from '../../src/wire/encode.js';

const addr = (s: MetalBondServer): string => `[::1]:${String(s.address.port)}`;
const r = (i: number): Route =>
  route(`10.${String(i >> 8)}.${String(i & 255)}.0/24`, '2001:db8::1');

describe('tsbond extensions: negotiation', () => {
  it('a tsbond client offers its features in HELLO field 1000; the server answers with its own', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    client(t, [`[::1]:${String(raw.port)}`], { keepalive: 7 });
    const p = await raw.nextPeer(0);
    await p.until(() => p.bytes.length > 0);
    assert.equal(Buffer.concat(p.bytes).toString('hex'), '0100050108' + '07' + 'c03e07');

    const server = await startServer(t);
    const withField = await rawPeer(t, server, 5, 0);
    const hello = withField.received[0];
    assert.ok(hello?.type === 'HELLO');
    assert.equal(hello.features, ALL_FEATURES);
    const plain = await rawPeer(t, server, 5);
    // A Go or rustbond client gets Go's exact bytes.
    assert.equal(Buffer.concat(plain.bytes).toString('hex').slice(0, 16), '0100040108051001');
  });

  it('between tsbond peers: no pacing and no window; towards plain peers: paced, and shown per peer', async (t) => {
    const server = await startServer(t);
    const ts = client(t, [addr(server)], { subscribe: [1] });
    const plain = client(t, [addr(server)], { subscribe: [1], extensions: false });
    await ts.client.waitEstablished(5000);
    await plain.client.waitEstablished(5000);
    await clientUntil(
      ts.client,
      () => server.peers().filter((p) => p.state === 'ESTABLISHED').length === 2,
    );
    const infos = server.peers();
    const tsInfo = infos.find((p) => p.implementation === 'tsbond');
    const plainInfo = infos.find((p) => p.implementation === 'metalbond');
    assert.ok(tsInfo && plainInfo);
    assert.deepEqual(tsInfo.features, {
      peer: ALL_FEATURES,
      reassembly: true,
      syncMarker: true,
      refusals: true,
    });
    assert.equal(tsInfo.paced, false);
    assert.equal(plainInfo.paced, true);
    assert.equal(plainInfo.features?.peer, undefined);
    const [s] = ts.client.serverStates();
    assert.equal(s?.features?.reassembly, true);
    assert.equal(plain.client.serverStates()[0]?.features?.peer, undefined);
  });

  it('--no-extensions on the server: plain MetalBond bytes to a tsbond client, paced, no SYNCED', async (t) => {
    const server = await startServer(t, { extensions: false });
    const p = await rawPeer(t, server, 5, ALL_FEATURES);
    assert.equal(Buffer.concat(p.bytes).toString('hex').slice(0, 16), '0100040108051001');
    p.send(encodeSubscribe(3));
    await p.barrier();
    assert.equal(server.peers()[0]?.paced, true);
    assert.equal(p.received.filter((m) => m.type === 'SYNCED').length, 0);
  });

  it('an old tsbond (no extensions) and a new one interoperate, paced both ways', async (t) => {
    // Old server, new client; new server, old client.
    const oldServer = await startServer(t, { extensions: false });
    const newServer = await startServer(t);
    for (const [server, clientOptions] of [
      [oldServer, {}],
      [newServer, { extensions: false }],
    ] as const) {
      const a = client(t, [addr(server)], {
        ...clientOptions,
        subscribe: [8],
        announce: [{ vni: 8, route: r(8) }],
      });
      const b = client(t, [addr(server)], { subscribe: [8], announce: [{ vni: 8, route: r(9) }] });
      await a.rec.waitCalls(1);
      await b.rec.waitCalls(1);
      assert.deepEqual(a.rec.calls, ['add 8 10.0.9.0/24 via 2001:db8::1']);
      assert.deepEqual(b.rec.calls, ['add 8 10.0.8.0/24 via 2001:db8::1']);
      // `a` is the old side's client, or the old client itself.
      const status = a.client.serverStates()[0];
      assert.ok(status);
      assert.equal(status.features?.peer, undefined, 'no features between them');
      assert.equal(status.implementation, 'metalbond');
      // The server paces the old peer (or every peer, when the server is the old one).
      const paced = server.peers().filter((p) => p.paced).length;
      assert.equal(paced, server === oldServer ? 2 : 1);
      // SYNCED only where both sides have the extensions.
      if (server === newServer) {
        await b.client.waitSynced(8, { timeoutMs: 5000 });
        assert.deepEqual(b.client.serverStates()[0]?.synced, [8]);
      }
      await a.client.shutdown();
      await b.client.shutdown();
    }
  });

  it('type 100 or 101 from a client is a protocol error; field 1000 of another wire type is ignored', async (t) => {
    const server = await startServer(t);
    const bad = await rawPeer(t, server, 5, ALL_FEATURES);
    bad.send(encodeSynced(1));
    await bad.waitClosed();
    assert.equal(server.counters.protocolErrors, 1);
    // HELLO keepalive 5 + field 1000 as length-delimited (c2 3e 01 07): ignored, a plain peer.
    const odd = await (await import('../helpers/raw-peer.js')).RawPeer.connect(server.address.port);
    t.after(() => {
      odd.close();
    });
    odd.send(Buffer.from('010006010805c23e0107', 'hex'));
    const hello = await odd.next();
    assert.ok(hello.type === 'HELLO');
    assert.equal(hello.features, undefined);
  });
});

describe('tsbond extensions: SYNCED and waitSynced', () => {
  it('one SYNCED per SUBSCRIBE after its snapshot; waitSynced resolves after the handler saw it', async (t) => {
    const server = await startServer(t);
    const pub = client(t, [addr(server)]);
    await pub.client.waitEstablished(5000);
    for (let i = 0; i < 300; i++) await pub.client.announce(5, r(i).destination, r(i).nextHop);
    await clientUntil(pub.client, () => server.routeCount === 300);
    const sub = client(t, [addr(server)]);
    await sub.client.waitEstablished(5000);
    const synced: string[] = [];
    sub.client.on('synced', (e) => synced.push(`${String(e.vni)} ${e.via}`));
    await assert.rejects(sub.client.waitSynced(5), NotSubscribedError);
    await sub.client.subscribe(5);
    await sub.client.waitSynced(5, { timeoutMs: 5000 });
    assert.equal(sub.rec.calls.length, 300);
    assert.deepEqual(synced, ['5 marker']);
    assert.equal(sub.client.isSynced(5), true);
    assert.deepEqual(sub.client.syncedVnis(), [5]);
    assert.deepEqual(sub.client.serverStates()[0]?.synced, [5]);
    assert.equal(server.counters.syncedSent, 1);
  });

  it('a raw peer gets exactly one SYNCED per SUBSCRIBE, in stream order, also when UNSUBSCRIBE cut it short', async (t) => {
    const server = await startServer(t);
    const pub = await rawPeer(t, server, 5, ALL_FEATURES);
    const frames: Buffer[] = [];
    for (let i = 0; i < 20_000; i++) frames.push(encodeRouteUpdate('ADD', 9, r(i)));
    pub.send(Buffer.concat(frames));
    await pub.barrier();
    const p = await rawPeer(t, server, 5, ALL_FEATURES);
    p.send(Buffer.concat([encodeSubscribe(9), encodeSubscribe(9)])); // the second is a no-op
    p.send(Buffer.concat([(await import('../../src/wire/encode.js')).encodeUnsubscribe(9)]));
    p.send(encodeSubscribe(9));
    await p.until(() => p.received.filter((m) => m.type === 'SYNCED').length === 2, 10000);
    await p.barrier();
    const kinds = p.received.filter((m) => m.type === 'SYNCED' || m.type === 'UPDATE');
    const syncedAt = kinds.flatMap((m, i) => (m.type === 'SYNCED' ? [i] : []));
    assert.equal(syncedAt.length, 2);
    // After the second SYNCED the peer holds exactly the VNI's routes.
    assert.equal(p.view.size, 20_000);
    assert.deepEqual(
      p.viewErrors.filter((e) => !e.startsWith('duplicate')),
      [],
    );
    assert.equal(kinds[kinds.length - 1]?.type, 'SYNCED');
  });

  it('holds SYNCED back for the sync delay after the server started', async (t) => {
    const server = await startServer(t, { syncDelayMs: 600 });
    const c = client(t, [addr(server)], { subscribe: [1] });
    await c.client.waitEstablished(5000);
    await assert.rejects(c.client.waitSynced(1, { timeoutMs: 100 }), TimeoutError);
    await c.client.waitSynced(1, { timeoutMs: 5000 });
    assert.ok(Date.now() - server.startedAt >= 600);
  });

  it('waitSynced waits for a server; it rejects NotEstablished when none is established at its timeout', async (t) => {
    const c = MetalBondClient.connect(['[::1]:1'], new Recorder(), { subscribe: [1] });
    t.after(() => c.shutdown());
    await assert.rejects(c.waitSynced(1, { timeoutMs: 200 }), NotEstablishedError);
    // Called before any session is up, it resolves once one is and has synced.
    const server = await startServer(t);
    const late = client(t, [addr(server)], { subscribe: [1] });
    await late.client.waitSynced(1, { timeoutMs: 5000 });
  });

  it('settle rule with a server without SYNC_MARKER: synced after 2 s quiet and 15 s up (scaled)', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    // secondMs 20: quiet 40 ms, 300 ms after establishment.
    const c = client(t, [`[::1]:${String(raw.port)}`], { subscribe: [4], secondMs: 20 });
    const p = await establish(raw);
    p.answerKeepalives = true; // keepalive 5 s is 100 ms here
    await c.client.waitEstablished(2000);
    const via: string[] = [];
    c.client.on('synced', (e) => via.push(e.via));
    const started = Date.now();
    p.send(encodeRouteUpdate('ADD', 4, r(1)));
    await c.client.waitSynced(4, { timeoutMs: 5000 });
    assert.ok(Date.now() - started >= 250, 'not before 15 s (scaled) after establishment');
    assert.deepEqual(via, ['settle']);
    assert.equal(c.rec.calls.length, 1);
  });
});

describe('tsbond extensions: graceful restart', () => {
  it('a server restart causes no handler removal and no re-add; a route withdrawn meanwhile goes after the re-sync', async (t) => {
    let server = await startServer(t);
    const port = server.address.port;
    const keep = route('10.1.0.0/16', '2001:db8::a');
    const gone = route('10.2.0.0/16', '2001:db8::a');
    const pub = client(t, [addr(server)], {
      announce: [
        { vni: 1, route: keep },
        { vni: 1, route: gone },
      ],
    });
    const sub = client(t, [addr(server)], { subscribe: [1] });
    await sub.rec.waitCalls(2);
    const stale: string[] = [];
    sub.client.on('staleRoutes', (e) => stale.push(`${e.kind} ${String(e.routes)}`));
    await server.shutdown();
    await clientUntil(sub.client, () => sub.client.staleRouteCount === 2);
    assert.deepEqual(
      sub.client.receivedRoutes(1).map((x) => x.stale),
      [true, true],
    );
    // While the server is down, the publisher withdraws one route; the server comes back.
    await pub.client.shutdown();
    const pub2 = client(t, [`[::1]:${String(port)}`], { announce: [{ vni: 1, route: keep }] });
    server = await startServer(t, { syncDelayMs: 300 }, `[::1]:${String(port)}`);
    await pub2.client.waitEstablished(10000);
    await sub.client.waitEstablished(10000);
    await sub.client.waitSynced(1, { timeoutMs: 10000 });
    assert.deepEqual(sub.rec.calls, [
      'add 1 10.1.0.0/16 via 2001:db8::a',
      'add 1 10.2.0.0/16 via 2001:db8::a',
      'remove 1 10.2.0.0/16 via 2001:db8::a',
    ]);
    assert.equal(sub.client.staleRouteCount, 0);
    assert.deepEqual(stale, ['stale 2', 'confirmed 1', 'expired 1']);
  });

  it('100,000 routes through a server restart on the same port: no removal, no re-add; the one withdrawn meanwhile goes after the re-sync', async (t) => {
    const N = 100_000;
    const routes = Array.from({ length: N }, (_, i) => ({
      vni: 1,
      route: route(
        `10.${String(i >> 16)}.${String((i >> 8) & 255)}.${String(i & 255)}/32`,
        `2001:db8::${((i % 50) + 1).toString(16)}`,
      ),
    }));
    let server = await startServer(t);
    const port = server.address.port;
    const at = [`[::1]:${String(port)}`];
    const counts = new CountingHandler();
    const sub = MetalBondClient.connect(at, counts, {
      subscribe: [1],
      backoffMinMs: 50,
      backoffMaxMs: 200,
    });
    t.after(() => sub.shutdown());
    const pub = client(t, at, { announce: routes });
    await clientUntil(sub, () => counts.adds === N, 60_000);
    await pub.client.waitEstablished(5000);

    await server.shutdown();
    await clientUntil(sub, () => sub.staleRouteCount === N, 10_000);
    const gone = routes[12_345]?.route;
    assert.ok(gone !== undefined);
    await pub.client.withdraw(1, gone.destination, gone.nextHop); // while no server is up
    const before = { adds: counts.adds, removes: counts.removes };
    // The sync delay gives the publisher time to announce its routes again.
    server = await startServer(t, { syncDelayMs: 3000 }, at[0]);
    await sub.waitSynced(1, { timeoutMs: 30_000 });
    await clientUntil(sub, () => counts.removes > before.removes, 10_000);
    assert.equal(counts.adds - before.adds, 0, 're-adds');
    assert.deepEqual(counts.removed, [`1 ${formatRoute(gone)}`]);
    assert.equal(sub.staleRouteCount, 0);
    assert.equal(sub.receivedRoutes(1).length, N - 1);
    assert.equal(server.routeCount, N - 1);
  });

  it('stale routes are removed when the hold time ends', async (t) => {
    const server = await startServer(t);
    const pub = client(t, [addr(server)], { announce: [{ vni: 1, route: r(1) }] });
    const sub = client(t, [addr(server)], { subscribe: [1], holdTime: 1, secondMs: 200 });
    await sub.rec.waitCalls(1);
    await pub.client.waitEstablished(5000);
    await server.shutdown();
    await sub.rec.waitCalls(2, 5000);
    assert.deepEqual(sub.rec.calls, [
      'add 1 10.0.1.0/24 via 2001:db8::1',
      'remove 1 10.0.1.0/24 via 2001:db8::1',
    ]);
  });

  it("unsubscribing drops that VNI's stale routes at once", async (t) => {
    const server = await startServer(t);
    const pub = client(t, [addr(server)], { announce: [{ vni: 1, route: r(1) }] });
    const sub = client(t, [addr(server)], { subscribe: [1] });
    await sub.rec.waitCalls(1);
    await pub.client.waitEstablished(5000);
    await server.shutdown();
    await clientUntil(sub.client, () => sub.client.staleRouteCount === 1);
    await sub.client.unsubscribe(1);
    assert.equal(sub.rec.calls.length, 2);
    assert.equal(sub.client.staleRouteCount, 0);
  });
});

describe('tsbond extensions: handler promises', () => {
  it('at most maxHandlerCalls in flight, one call per route at a time, nothing lost', async (t) => {
    const server = await startServer(t);
    const pub = client(t, [addr(server)]);
    await pub.client.waitEstablished(5000);
    const N = 2000;
    for (let i = 0; i < N; i++) await pub.client.announce(2, r(i).destination, r(i).nextHop);
    await clientUntil(pub.client, () => server.routeCount === N);
    let inFlight = 0;
    let maxInFlight = 0;
    const done: string[] = [];
    const slow = MetalBondClient.connect(
      [addr(server)],
      {
        addRoute: async (vni, rt) => {
          inFlight++;
          maxInFlight = Math.max(maxInFlight, inFlight);
          await new Promise((res) => setTimeout(res, 2));
          inFlight--;
          done.push(`${String(vni)} ${rt.destination.address}`);
        },
        removeRoute: () => undefined,
      },
      { subscribe: [2], maxHandlerCalls: 16 },
    );
    t.after(() => slow.shutdown());
    await slow.waitEstablished(5000);
    await slow.waitSynced(2, { timeoutMs: 30000 });
    assert.equal(done.length, N, 'every add settled before waitSynced resolved');
    assert.equal(new Set(done).size, N);
    assert.ok(maxInFlight <= 16, `at most 16 in flight, saw ${String(maxInFlight)}`);
    assert.ok(maxInFlight >= 8, `calls did overlap (${String(maxInFlight)})`);
  });
});

async function establish(raw: RawServer): Promise<RawPeer> {
  const p = await raw.nextPeer(0);
  await p.until(() => p.received.length === 1);
  p.send(encodeHello(5, true));
  await p.until(() => p.received.length === 2);
  p.send(encodeKeepalive());
  return p;
}
