import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { MetalBondClient } from '../../src/client/client.js';
import {
  AlreadySubscribedError,
  ClosedError,
  ConnectionTimeoutError,
  InvalidArgumentError,
  NotEstablishedError,
  NotSubscribedError,
  RouteAlreadyAnnouncedError,
  RouteNotFoundError,
  TimeoutError,
} from '../../src/errors.js';
import {
  loadBalancerNextHop,
  natNextHop,
  nextHop,
  parseDestination,
  route,
} from '../../src/model/route.js';
import { MetalBondServer } from '../../src/server/server.js';
import { encodeHello, encodeKeepalive } from '../../src/wire/encode.js';
import { client, clientUntil } from '../helpers/recorder.js';
import { RawServer, type RawPeer } from '../helpers/raw-peer.js';
import { startServer } from '../helpers/server-fixture.js';

const addr = (s: MetalBondServer): string => `[::1]:${String(s.address.port)}`;
const d = parseDestination;

describe('client with one server', () => {
  it('distributes between clients, withdraws, and never echoes', async (t) => {
    const server = await startServer(t);
    const a = client(t, [addr(server)], { subscribe: [100] });
    const b = client(t, [addr(server)], { subscribe: [100] });
    await Promise.all([a.client.waitEstablished(5000), b.client.waitEstablished(5000)]);
    await a.client.announce(100, d('10.0.1.0/24'), nextHop('2001:db8::1'));
    await b.rec.waitCalls(1);
    assert.deepEqual(b.rec.calls, ['add 100 10.0.1.0/24 via 2001:db8::1']);
    await a.client.withdraw(100, d('10.0.1.0/24'), nextHop('2001:db8::1'));
    await b.rec.waitCalls(2);
    assert.deepEqual(b.rec.calls, [
      'add 100 10.0.1.0/24 via 2001:db8::1',
      'remove 100 10.0.1.0/24 via 2001:db8::1',
    ]);
    assert.deepEqual(a.rec.calls, []);
    assert.equal(server.routeCount, 0);
  });

  it('gets a snapshot on subscribe, per VNI, with NAT/LB/targetVni fields and IPv6 destinations intact', async (t) => {
    const server = await startServer(t);
    const a = client(t, [addr(server)]);
    await a.client.waitEstablished(5000);
    await a.client.announce(100, d('10.0.1.0/24'), natNextHop('2001:db8::2', 30000, 40000));
    await a.client.announce(100, d('10.0.3.0/24'), loadBalancerNextHop('2001:db8::3'));
    await a.client.announce(100, d('2001:db8:1::/48'), nextHop('2001:db8::4', { targetVni: 500 }));
    await a.client.announce(200, d('10.0.2.0/24'), nextHop('2001:db8::5'));
    await clientUntil(a.client, () => server.routeCount === 4);
    const b = client(t, [addr(server)], { subscribe: [100] });
    await b.rec.waitCalls(3);
    assert.deepEqual(b.rec.held(), [
      '100 10.0.1.0/24 via 2001:db8::2 [NAT ports 30000-40000]',
      '100 10.0.3.0/24 via 2001:db8::3 [LB]',
      '100 2001:db8:1::/48 via 2001:db8::4 (VNI: 500)',
    ]);
    const r = b.client.receivedRoutes(100).find((x) => x.route.nextHop.type === 'NAT');
    assert.deepEqual(r?.route.nextHop, {
      address: '2001:db8::2',
      targetVni: 0,
      type: 'NAT',
      natPortRangeFrom: 30000,
      natPortRangeTo: 40000,
    });
    assert.deepEqual(b.client.receivedRoutes(200), []);
  });

  it("multiple VNIs: a route reaches only that VNI's subscribers; unsubscribe removes what it got", async (t) => {
    const server = await startServer(t);
    const pub = client(t, [addr(server)]);
    const s100 = client(t, [addr(server)], { subscribe: [100] });
    const s200 = client(t, [addr(server)], { subscribe: [200] });
    await Promise.all([pub, s100, s200].map((x) => x.client.waitEstablished(5000)));
    await pub.client.announce(100, d('10.1.0.0/16'), nextHop('::1'));
    await pub.client.announce(200, d('10.2.0.0/16'), nextHop('::1'));
    await s100.rec.waitCalls(1);
    await s200.rec.waitCalls(1);
    assert.deepEqual(s100.rec.calls, ['add 100 10.1.0.0/16 via ::1']);
    assert.deepEqual(s200.rec.calls, ['add 200 10.2.0.0/16 via ::1']);
    await s100.client.unsubscribe(100);
    assert.deepEqual(s100.rec.calls, [
      'add 100 10.1.0.0/16 via ::1',
      'remove 100 10.1.0.0/16 via ::1',
    ]);
    await assert.rejects(s100.client.unsubscribe(100), NotSubscribedError);
  });

  it('unsubscribing keeps our own announcements in that VNI on the server', async (t) => {
    const server = await startServer(t);
    const a = client(t, [addr(server)], { subscribe: [100] });
    const watcher = client(t, [addr(server)], { subscribe: [100] });
    await Promise.all([a.client.waitEstablished(5000), watcher.client.waitEstablished(5000)]);
    await a.client.announce(100, d('10.1.0.0/16'), nextHop('::1'));
    await watcher.rec.waitCalls(1);
    await a.client.unsubscribe(100);
    await a.client.subscribe(100);
    await clientUntil(a.client, () => server.subscribers(100).length === 2);
    // The server withdrew the route on UNSUBSCRIBE; the client announced it again at once.
    await clientUntil(a.client, () => server.routeCount === 1 && watcher.rec.held().length === 1);
    assert.deepEqual(watcher.rec.held(), ['100 10.1.0.0/16 via ::1']);
  });

  it('errors: each failed call changes nothing', async (t) => {
    const server = await startServer(t);
    const a = client(t, [addr(server)]);
    const h = nextHop('2001:db8::1');
    const down = MetalBondClient.connect(
      ['[::1]:1'],
      { addRoute: () => undefined, removeRoute: () => undefined },
      { backoffMinMs: 1000 },
    );
    t.after(() => down.shutdown());
    await assert.rejects(down.subscribe(1), NotEstablishedError);
    await assert.rejects(down.announce(1, d('10.0.0.0/8'), h), NotEstablishedError);
    assert.deepEqual(down.announcedRoutes(), []);
    assert.deepEqual([...down.subscriptions], []);
    await assert.rejects(down.withdraw(1, d('10.0.0.0/8'), h), RouteNotFoundError);
    await a.client.waitEstablished(5000);
    await a.client.subscribe(1);
    await assert.rejects(a.client.subscribe(1), AlreadySubscribedError);
    await a.client.announce(1, d('10.0.0.0/8'), h);
    await assert.rejects(
      a.client.announce(1, d('10.0.0.0/8'), nextHop('2001:DB8:0::1')),
      RouteAlreadyAnnouncedError,
    );
    await assert.rejects(a.client.withdraw(1, d('10.0.0.0/9'), h), RouteNotFoundError);
    // A hand-built next hop that every server would drop is refused before anything is sent.
    await assert.rejects(
      a.client.announce(1, d('10.1.0.0/16'), { ...h, type: 'NAT', natPortRangeTo: 70000 }),
      (e: unknown) => e instanceof InvalidArgumentError && e.code === 'INVALID_ARGUMENT',
    );
    assert.equal(a.client.announcedRoutes().length, 1);
    await a.client.shutdown();
    await assert.rejects(a.client.subscribe(2), ClosedError);
    assert.equal(a.client.state.kind, 'Closed');
  });

  it('loop prevention: a received route for a destination we announce is held back, handed over on withdraw', async (t) => {
    const server = await startServer(t);
    const a = client(t, [addr(server)], { subscribe: [7] });
    const b = client(t, [addr(server)], { subscribe: [7] });
    await Promise.all([a.client.waitEstablished(5000), b.client.waitEstablished(5000)]);
    // b already holds a's route when it starts announcing the same destination: it is taken back.
    await a.client.announce(7, d('0.0.0.0/0'), nextHop('2001:db8::a'));
    await b.rec.waitCalls(1);
    await b.client.announce(7, d('0.0.0.0/0'), nextHop('2001:db8::b'));
    assert.deepEqual(b.rec.calls, [
      'add 7 0.0.0.0/0 via 2001:db8::a',
      'remove 7 0.0.0.0/0 via 2001:db8::a',
    ]);
    // a receives b's route while announcing the destination: held back.
    await clientUntil(a.client, () => a.client.heldBackRoutes().length === 1);
    assert.deepEqual(a.rec.calls, []);
    await a.client.withdraw(7, d('0.0.0.0/0'), nextHop('2001:db8::a'));
    assert.deepEqual(a.rec.calls, ['add 7 0.0.0.0/0 via 2001:db8::b']);
    await b.client.withdraw(7, d('0.0.0.0/0'), nextHop('2001:db8::b'));
    await a.rec.waitCalls(2);
    assert.deepEqual(a.rec.calls, [
      'add 7 0.0.0.0/0 via 2001:db8::b',
      'remove 7 0.0.0.0/0 via 2001:db8::b',
    ]);
    assert.deepEqual(b.rec.held(), []);
  });

  it('a throwing handler is reported and does not break the client', async (t) => {
    const server = await startServer(t);
    const errors: unknown[] = [];
    const calls: string[] = [];
    const c = MetalBondClient.connect(
      [addr(server)],
      {
        addRoute: (_vni, r) => {
          calls.push(r.destination.address);
          throw new Error('boom');
        },
        removeRoute: () => Promise.reject(new Error('async boom')),
      },
      { subscribe: [1] },
    );
    t.after(() => c.shutdown());
    c.on('handlerError', (e) => errors.push(e));
    const p = client(t, [addr(server)]);
    await Promise.all([c.waitEstablished(5000), p.client.waitEstablished(5000)]);
    await p.client.announce(1, d('10.0.0.0/8'), nextHop('::1'));
    await p.client.announce(1, d('11.0.0.0/8'), nextHop('::1'));
    await clientUntil(c, () => calls.length === 2);
    await p.client.withdraw(1, d('10.0.0.0/8'), nextHop('::1'));
    await clientUntil(c, () => errors.length === 3);
    assert.equal(c.state.kind, 'FullyConnected');
  });
});

describe('client with two servers (HA)', () => {
  it('dedups the same route from both servers; removes only when the last one withdraws', async (t) => {
    const s1 = await startServer(t);
    const s2 = await startServer(t);
    const ha = client(t, [addr(s1), addr(s2)], { subscribe: [100] });
    const p1 = client(t, [addr(s1)]);
    const p2 = client(t, [addr(s2)]);
    await Promise.all([
      ha.client.waitAllEstablished(5000),
      p1.client.waitEstablished(5000),
      p2.client.waitEstablished(5000),
    ]);
    assert.equal(ha.client.state.kind, 'FullyConnected');
    const r = route('10.0.0.0/24', '2001:db8::1');
    await p1.client.announce(100, r.destination, r.nextHop);
    await p2.client.announce(100, r.destination, r.nextHop);
    await clientUntil(ha.client, () => ha.client.routeServers(100, r).length === 2);
    assert.deepEqual(ha.rec.calls, ['add 100 10.0.0.0/24 via 2001:db8::1']);
    await p1.client.withdraw(100, r.destination, r.nextHop);
    await clientUntil(ha.client, () => ha.client.routeServers(100, r).length === 1);
    assert.deepEqual(ha.rec.calls, ['add 100 10.0.0.0/24 via 2001:db8::1']);
    await p2.client.withdraw(100, r.destination, r.nextHop);
    await ha.rec.waitCalls(2);
    assert.deepEqual(ha.rec.calls, [
      'add 100 10.0.0.0/24 via 2001:db8::1',
      'remove 100 10.0.0.0/24 via 2001:db8::1',
    ]);
  });

  it('different next hops for one destination are separate calls (ECMP)', async (t) => {
    const s1 = await startServer(t);
    const s2 = await startServer(t);
    const ha = client(t, [addr(s1), addr(s2)], { subscribe: [100] });
    const p1 = client(t, [addr(s1)], {
      announce: [{ vni: 100, route: route('10.0.0.0/24', '2001:db8::1') }],
    });
    const p2 = client(t, [addr(s2)], {
      announce: [{ vni: 100, route: route('10.0.0.0/24', '2001:db8::2') }],
    });
    await ha.rec.waitCalls(2);
    assert.deepEqual(ha.rec.held(), [
      '100 10.0.0.0/24 via 2001:db8::1',
      '100 10.0.0.0/24 via 2001:db8::2',
    ]);
    await p1.client.shutdown();
    await p2.client.shutdown();
    await ha.rec.waitCalls(4);
    assert.deepEqual(ha.rec.held(), []);
  });

  it('announces and subscribes on every server', async (t) => {
    const s1 = await startServer(t);
    const s2 = await startServer(t);
    const ha = client(t, [addr(s1), addr(s2)]);
    await ha.client.waitAllEstablished(5000);
    await ha.client.subscribe(5);
    await ha.client.announce(5, d('10.5.0.0/16'), nextHop('::5'));
    await clientUntil(
      ha.client,
      () =>
        s1.routeCount === 1 &&
        s2.routeCount === 1 &&
        s1.subscribers(5).length === 1 &&
        s2.subscribers(5).length === 1,
    );
  });

  it("hold time 0 (Go's behaviour): keeps a route while one server restarts, converges to the restarted server's view", async (t) => {
    const s1 = await startServer(t);
    let s2 = await startServer(t);
    const port2 = s2.address.port;
    const ha = client(t, [addr(s1), addr(s2)], { subscribe: [100], holdTime: 0 });
    const pub = client(t, [addr(s1), addr(s2)], {
      announce: [{ vni: 100, route: route('10.0.0.0/24', '2001:db8::1') }],
    });
    await ha.client.waitAllEstablished(5000);
    await pub.client.waitAllEstablished(5000);
    const r = route('10.0.0.0/24', '2001:db8::1');
    await clientUntil(ha.client, () => ha.client.routeServers(100, r).length === 2);
    await s2.shutdown();
    await clientUntil(
      ha.client,
      () =>
        ha.client.state.kind === 'PartiallyConnected' &&
        ha.client.routeServers(100, r).length === 1,
    );
    assert.deepEqual(ha.rec.calls, ['add 100 10.0.0.0/24 via 2001:db8::1']);
    // A route announced while s2 is down must reach it after the restart.
    await pub.client.announce(100, d('10.9.0.0/16'), nextHop('2001:db8::1'));
    s2 = await startServer(t, {}, `[::1]:${String(port2)}`);
    await ha.client.waitAllEstablished(10000);
    await clientUntil(
      ha.client,
      () => s2.routeCount === 2 && ha.client.routeServers(100, r).length === 2,
      10000,
    );
    assert.deepEqual(ha.rec.held(), [
      '100 10.0.0.0/24 via 2001:db8::1',
      '100 10.9.0.0/16 via 2001:db8::1',
    ]);
    assert.deepEqual(s2.subscribers(100).length, 1);
  });

  it('hold time 0: re-announces after the only server restarts on the same port, and forgets what it had received', async (t) => {
    let server = await startServer(t);
    const port = server.address.port;
    const a = client(t, [addr(server)], {
      subscribe: [1],
      holdTime: 0,
      announce: [{ vni: 1, route: route('10.1.0.0/16', '::a') }],
    });
    const b = client(t, [addr(server)], {
      subscribe: [1],
      holdTime: 0,
      announce: [{ vni: 1, route: route('10.2.0.0/16', '::b') }],
    });
    await a.rec.waitCalls(1);
    await b.rec.waitCalls(1);
    await server.shutdown();
    await a.rec.waitCalls(2);
    assert.deepEqual(a.rec.held(), []);
    server = await startServer(t, {}, `[::1]:${String(port)}`);
    await a.rec.waitCalls(3, 10000);
    await b.rec.until(() => b.rec.held().length === 1, 10000);
    assert.deepEqual(a.rec.held(), ['1 10.2.0.0/16 via ::b']);
    assert.deepEqual(b.rec.held(), ['1 10.1.0.0/16 via ::a']);
    assert.equal(server.routeCount, 2);
  });
});

describe('client on the wire (raw test server)', () => {
  async function establish(raw: RawServer): Promise<RawPeer> {
    const p = await raw.nextPeer(0);
    await p.until(() => p.received.length === 1);
    p.send(encodeHello(5, true));
    await p.until(() => p.received.length === 2);
    p.send(encodeKeepalive());
    return p;
  }

  it('keeps at most the window in flight: a KEEPALIVE probe, then nothing until the reply', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const announce = Array.from({ length: 500 }, (_, i) => ({
      vni: 100,
      route: route(`10.1.${String(i >> 8)}.${String(i & 255)}/32`, '2001:db8::1'),
    }));
    const c = client(t, [`[::1]:${String(raw.port)}`], { windowBytes: 4096, announce });
    const p = await establish(raw);
    await c.client.waitEstablished(2000);
    const kaCount = (): number => p.received.filter((m) => m.type === 'KEEPALIVE').length;
    // The first probe: received messages after the handshake KEEPALIVE.
    await p.until(() => kaCount() === 2);
    const before = Buffer.concat(p.bytes).length;
    await new Promise((r) => setTimeout(r, 200)); // a bounded check that nothing more comes
    assert.equal(
      Buffer.concat(p.bytes).length,
      before,
      'nothing beyond the window before the reply',
    );
    assert.ok(before - 10 <= 4096 + 4, `${String(before - 10)} bytes in the first window`);
    // Answer every probe until all 500 ADDs are in.
    let answered = 1;
    while (p.updateCount < 500) {
      p.send(encodeKeepalive());
      answered++;
      await p.until(() => kaCount() > answered || p.updateCount === 500, 5000);
    }
    assert.ok(answered >= 5, `${String(answered)} round trips for about 18 KB`);
  });

  it('ignores its own routes echoed back by a server, also after withdrawing them', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const own = route('10.15.1.0/24', '2001:db8::1:e1');
    const c = client(t, [`[::1]:${String(raw.port)}`], {
      subscribe: [100],
      announce: [{ vni: 100, route: own }],
    });
    const p = await establish(raw);
    await c.client.waitEstablished(2000);
    const { encodeRouteUpdate } = await import('../../src/model/wire-route.js');
    p.send(encodeRouteUpdate('ADD', 100, own)); // echo, as Go and rustbond snapshots do
    p.send(encodeRouteUpdate('ADD', 100, route('10.15.1.0/24', '2001:db8::2')));
    await clientUntil(c.client, () => c.client.heldBackRoutes().length === 1);
    assert.deepEqual(
      c.client.heldBackRoutes().map((r) => r.route.nextHop.address),
      ['2001:db8::2'],
    );
    await c.client.withdraw(100, own.destination, own.nextHop);
    // Only the other hypervisor's route is handed over; the echo is not.
    assert.deepEqual(c.rec.calls, ['add 100 10.15.1.0/24 via 2001:db8::2']);
  });

  it('handshakes in order without pipelining, then SUBSCRIBEs once per VNI before its ADDs', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const c = client(t, [`[::1]:${String(raw.port)}`], {
      keepalive: 7,
      extensions: false,
      subscribe: [100, 200],
      announce: [{ vni: 100, route: route('10.0.1.0/24', '2001:db8::1') }],
    });
    const p = await raw.nextPeer(0);
    await p.until(() => p.bytes.length > 0);
    // Only the HELLO arrives before we answer: Go's exact bytes without the extensions.
    assert.equal(Buffer.concat(p.bytes).toString('hex'), '010002010807');
    p.send(encodeHello(5, true));
    await p.until(() => p.received.length === 2);
    assert.equal(p.received[1]?.type, 'KEEPALIVE');
    assert.equal(
      Buffer.concat(p.bytes).length,
      6 + 4,
      'nothing but KEEPALIVE before the server answers it',
    );
    p.send(encodeKeepalive());
    await c.client.waitEstablished(5000);
    await p.until(() => p.received.length === 5);
    assert.deepEqual(
      p.received.slice(2).map((m) => m.type),
      ['SUBSCRIBE', 'SUBSCRIBE', 'UPDATE'],
    );
    // subscribe() of a VNI already synced is refused locally; nothing more on the wire
    await assert.rejects(c.client.subscribe(100), AlreadySubscribedError);
    await c.client.subscribe(300);
    await p.until(() => p.received.length === 6);
    assert.deepEqual(
      p.received.map((m) => (m.type === 'SUBSCRIBE' ? m.vni : m.type)),
      ['HELLO', 'KEEPALIVE', 100, 200, 'UPDATE', 300],
    );
    assert.equal(c.client.serverStates()[0]?.keepalive, 5);
  });

  it('sends a KEEPALIVE every negotiated interval and times out a silent server after 2.5 intervals', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    // A keepalive second of 400 ms: margins a loaded CI machine survives.
    const c = client(t, [`[::1]:${String(raw.port)}`], {
      keepalive: 1,
      secondMs: 400,
      backoffMinMs: 5000,
    });
    const p = await raw.nextPeer(0);
    await p.until(() => p.received.length === 1);
    p.send(encodeHello(1, true));
    await p.until(() => p.received.length === 2);
    p.send(encodeKeepalive());
    await c.client.waitEstablished(2000);
    const t0 = Date.now();
    // Answer three periodic KEEPALIVEs as a server does.
    for (let n = 3; n < 6; n++) {
      await p.until(() => p.received.length >= n, 3000);
      p.send(encodeKeepalive());
    }
    const elapsed = Date.now() - t0;
    assert.ok(elapsed >= 1000, `three keepalives took ${String(elapsed)} ms, expected about 1200`);
    assert.equal(c.client.serverStates()[0]?.state, 'ESTABLISHED');
    // The raw server never answers now: the client gives up after 2.5 x 400 ms without frames.
    await clientUntil(c.client, () => c.client.serverStates()[0]?.state === 'RETRY', 5000);
    assert.match(c.client.serverStates()[0]?.lastError ?? '', /keepalive timeout/);
  });

  it('gives up on a server that accepts but never answers HELLO, and retries', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const c = client(t, [`[::1]:${String(raw.port)}`], {
      helloTimeoutMs: 150,
      backoffMinMs: 50,
      backoffMaxMs: 100,
    });
    await raw.nextPeer(1, 5000); // a second connection: the first one was given up
    assert.match(
      c.client.serverStates()[0]?.lastError ?? '',
      /handshake not completed within 150 ms/,
    );
    await assert.rejects(c.client.waitEstablished(100), TimeoutError);
    await assert.rejects(c.client.waitAllEstablished(100), ConnectionTimeoutError);
  });

  it('refuses a server HELLO with keepalive 0 and never sends keepalive 0', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const c = client(t, [`[::1]:${String(raw.port)}`], { backoffMinMs: 50, backoffMaxMs: 100 });
    const p = await raw.nextPeer(0);
    await p.until(() => p.received.length === 1);
    p.send(Buffer.from('01000001', 'hex'));
    await p.waitClosed();
    await clientUntil(c.client, () =>
      (c.client.serverStates()[0]?.lastError ?? '').includes('keepalive interval 0'),
    );
    assert.throws(
      () =>
        MetalBondClient.connect(
          ['[::1]:1'],
          { addRoute: () => undefined, removeRoute: () => undefined },
          { keepalive: 0 },
        ),
      /keepalive must be/,
    );
  });

  it('drops a duplicate ADD from a server and an invalid UPDATE without losing the session', async (t) => {
    const raw = await RawServer.start();
    t.after(() => raw.close());
    const c = client(t, [`[::1]:${String(raw.port)}`], { subscribe: [100] });
    const p = await raw.nextPeer(0);
    await p.until(() => p.received.length === 1);
    p.send(encodeHello(5, true));
    await p.until(() => p.received.length === 2);
    p.send(encodeKeepalive());
    await c.client.waitEstablished(2000);
    const { encodeRouteUpdate } = await import('../../src/model/wire-route.js');
    const add = encodeRouteUpdate('ADD', 100, route('10.0.1.0/24', '2001:db8::1'));
    p.send(
      Buffer.concat([
        add,
        add,
        Buffer.from('0100140510641a0812040a00020018182206 0a04c0a80101'.replace(' ', ''), 'hex'),
      ]),
    );
    await c.rec.waitCalls(1);
    p.send(encodeRouteUpdate('REMOVE', 100, route('10.0.1.0/24', '2001:db8::1')));
    await c.rec.waitCalls(2);
    assert.deepEqual(c.rec.calls, [
      'add 100 10.0.1.0/24 via 2001:db8::1',
      'remove 100 10.0.1.0/24 via 2001:db8::1',
    ]);
    assert.equal(c.client.state.kind, 'FullyConnected');
    // The invalid one is visible per server and in the client's counters.
    assert.equal(c.client.serverStates()[0]?.invalidUpdates, 1);
    assert.equal(c.client.counters.invalidUpdates, 1);
    assert.equal(c.client.counters.internalErrors, 0);
  });
});
