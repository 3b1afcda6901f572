/** Limits, --allow, the authorisation policy and mutual TLS on a live server. */

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';

import { parseAuthorization } from '../../src/access/authorization.js';
import { TlsCredentials } from '../../src/access/tls.js';
import { MetalBondClient } from '../../src/client/client.js';
import { route } from '../../src/model/route.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import type { MetalBondServer } from '../../src/server/server.js';
import { encodeSubscribe } from '../../src/wire/encode.js';
import { ALL_FEATURES } from '../../src/wire/messages.js';
import { TestPki, type CertFiles } from '../helpers/pki.js';
import { client, clientUntil, Recorder } from '../helpers/recorder.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { rawPeer, startServer } from '../helpers/server-fixture.js';

const addr = (s: MetalBondServer): string => `[::1]:${String(s.address.port)}`;
const r = (i: number): ReturnType<typeof route> =>
  route(`10.${String(i >> 8)}.${String(i & 255)}.0/24`, '2001:db8::1');

describe('server limits', () => {
  it('routes per peer: the ADD over the limit is refused (REFUSED to tsbond peers), the session stays', async (t) => {
    const server = await startServer(t, { limits: { maxRoutesPerPeer: 2 } });
    const c = client(t, [addr(server)]);
    await c.client.waitEstablished(5000);
    const refused: string[] = [];
    c.client.on('refused', (e) => refused.push(`${e.kind} ${String(e.vni)} ${e.reason}`));
    for (let i = 0; i < 3; i++) await c.client.announce(1, r(i).destination, r(i).nextHop);
    await clientUntil(c.client, () => refused.length === 1);
    assert.deepEqual(refused, ['UPDATE 1 limit of 2 routes per peer reached']);
    assert.equal(server.routeCount, 2);
    assert.deepEqual(
      c.client.serverStates()[0]?.refusedRoutes.map((x) => x.route.destination.address),
      ['10.0.2.0'],
    );
    assert.equal(c.client.counters.refusedUpdates, 1);
    assert.equal(server.counters.refusedUpdates, 1);
    assert.deepEqual(server.counters.refusalsByCause, { 'routes-per-peer': 1 });
    // A duplicate ADD of an owned route and a REMOVE are never refused; after a REMOVE there is room.
    await c.client.withdraw(1, r(0).destination, r(0).nextHop);
    await c.client.withdraw(1, r(2).destination, r(2).nextHop);
    await c.client.announce(1, r(3).destination, r(3).nextHop);
    await clientUntil(
      c.client,
      () =>
        server.routeCount === 2 &&
        server.routes(1).some((x) => x.route.destination.address === '10.0.3.0'),
    );
    assert.equal(refused.length, 1);
    assert.equal(c.client.state.kind, 'FullyConnected');
    assert.equal(server.peers()[0]?.routesOwned, 2);
  });

  it('routes per peer per VNI, and a plain MetalBond peer: refused silently, nothing stored', async (t) => {
    const server = await startServer(t, { limits: { maxRoutesPerPeerPerVni: 1 } });
    const p = await rawPeer(t, server); // no REFUSALS feature
    p.send(encodeRouteUpdate('ADD', 1, r(1)));
    p.send(encodeRouteUpdate('ADD', 1, r(2)));
    p.send(encodeRouteUpdate('ADD', 2, r(3)));
    await p.barrier();
    assert.equal(server.routeCount, 2);
    assert.equal(server.counters.refusedUpdates, 1);
    assert.deepEqual(
      p.received.filter((m) => m.type === 'REFUSED'),
      [],
      'a peer without REFUSALS never gets one',
    );
    assert.equal(p.isClosed, false);
  });

  it('subscriptions per peer: REFUSED answers the SUBSCRIBE (no SYNCED), the session stays', async (t) => {
    const server = await startServer(t, { limits: { maxSubscriptionsPerPeer: 1 } });
    const p = await rawPeer(t, server, 5, ALL_FEATURES);
    p.send(encodeSubscribe(1));
    p.send(encodeSubscribe(2));
    await p.until(() => p.received.some((m) => m.type === 'REFUSED'));
    await p.barrier();
    const answers = p.received
      .filter((m) => m.type === 'SYNCED' || m.type === 'REFUSED')
      .map((m) => `${m.type} ${String(m.vni)}`);
    // One answer per SUBSCRIBE (in stream order per VNI; VNIs are independent).
    assert.deepEqual(answers.sort(), ['REFUSED 2', 'SYNCED 1']);
    assert.deepEqual(server.subscribers(2), []);
    // The client API: the refused subscription is shown per server and is never synced.
    const c = client(t, [addr(server)], { subscribe: [1, 2] });
    await c.client.waitSynced(1, { timeoutMs: 5000 });
    await clientUntil(
      c.client,
      () => c.client.serverStates()[0]?.refusedSubscriptions.length === 1,
    );
    assert.deepEqual(c.client.serverStates()[0]?.refusedSubscriptions, [2]);
    assert.equal(c.client.isSynced(2), false);
  });

  it('connections in all: the one over the limit is closed before any reply', async (t) => {
    const server = await startServer(t, { limits: { maxConnections: 2 } });
    await rawPeer(t, server);
    await rawPeer(t, server);
    const third = await RawPeer.connect(server.address.port);
    t.after(() => {
      third.close();
    });
    await third.waitClosed();
    assert.equal(Buffer.concat(third.bytes).length, 0);
    assert.equal(server.counters.connectionsRefused, 1);
    assert.equal(server.peerCount, 2);
  });

  it('refusal log lines are rate-limited, the counters are not', async (t) => {
    const lines: string[] = [];
    const { Writable } = await import('node:stream');
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(
          ...chunk
            .toString()
            .split('\n')
            .filter((l) => l.includes('refused:')),
        );
        done();
      },
    });
    const { pino } = await import('pino');
    const server = await startServer(t, {
      limits: { maxRoutesPerPeer: 0 },
      logger: pino({ level: 'warn' }, sink),
    });
    const p = await rawPeer(t, server);
    const frames: Buffer[] = [];
    for (let i = 0; i < 500; i++) frames.push(encodeRouteUpdate('ADD', 1, r(i)));
    p.send(Buffer.concat(frames));
    await p.barrier();
    assert.equal(server.counters.refusedUpdates, 500);
    assert.ok(lines.length <= 11 && lines.length >= 1, `${String(lines.length)} lines logged`);
  });
});

describe('--allow', () => {
  it('closes a connection from outside every prefix before any reply; admits one inside', async (t) => {
    const outside = await startServer(t, { allow: ['10.0.0.0/8', '2001:db8::/32'] });
    const p = await RawPeer.connect(outside.address.port);
    t.after(() => {
      p.close();
    });
    await p.waitClosed();
    assert.equal(Buffer.concat(p.bytes).length, 0);
    assert.equal(outside.counters.connectionsRefused, 1);
    const inside = await startServer(t, { allow: ['::1/128'] });
    const q = await rawPeer(t, inside);
    assert.equal(q.isClosed, false);
  });
});

describe('authorisation policy', () => {
  const policy = (announce: string, subscribe: string) =>
    parseAuthorization(
      `rules:\n  - name: local\n    match: { cidr: "::1/128" }\n    announce: [${announce}]\n    subscribe: [${subscribe}]\n`,
    );

  it('refuses what no rule grants; a reload withdraws what is no longer granted, sessions stay', async (t) => {
    const server = await startServer(t, { authorization: policy('100, 200', '100') });
    const a = client(t, [addr(server)], { subscribe: [100] });
    const b = client(t, [addr(server)], { subscribe: [100, 300] });
    await a.client.waitEstablished(5000);
    await b.client.waitEstablished(5000);
    await b.client.waitSynced(100, { timeoutMs: 5000 });
    await clientUntil(
      b.client,
      () => b.client.serverStates()[0]?.refusedSubscriptions.length === 1,
    );
    assert.deepEqual(b.client.serverStates()[0]?.refusedSubscriptions, [300]);
    await a.client.announce(100, r(1).destination, r(1).nextHop);
    await a.client.announce(300, r(2).destination, r(2).nextHop);
    await b.rec.waitCalls(1);
    await clientUntil(a.client, () => a.client.counters.refusedUpdates === 1);
    assert.deepEqual(
      server.routes().map((x) => x.vni),
      [100],
    );
    assert.deepEqual(server.peers()[0]?.rules, ['local']);
    // Reload: VNI 100 may no longer be announced into, nor subscribed to.
    server.setAuthorization(policy('200', '200'));
    await b.rec.waitCalls(2);
    assert.deepEqual(b.rec.calls, [
      'add 100 10.0.1.0/24 via 2001:db8::1',
      'remove 100 10.0.1.0/24 via 2001:db8::1',
    ]);
    assert.equal(server.routeCount, 0);
    assert.deepEqual(server.subscribers(100), []);
    assert.equal(server.peerCount, 2);
    assert.equal(a.client.state.kind, 'FullyConnected');
  });
});

describe('mutual TLS', () => {
  let pki: TestPki;
  let ca: { cert: string; key: string };
  let serverCert: CertFiles;
  let agent: CertFiles;
  let other: CertFiles;
  before(async () => {
    pki = await TestPki.create();
    ca = await pki.ca('test-ca');
    serverCert = await pki.leaf(ca, { subject: '/CN=route-server', san: 'DNS:localhost,IP:::1' });
    agent = await pki.leaf(ca, { subject: '/CN=hv-1/O=Tenant A', san: 'DNS:hv-1.example' });
    const otherCa = await pki.ca('other-ca');
    other = await pki.leaf(otherCa, { subject: '/CN=intruder' });
  });
  after(() => pki.remove());

  it('serves tsbond peers over mutual TLS beside plain TCP; identities drive the policy', async (t) => {
    const server = await startServer(t, {
      tls: { listen: '[::1]:0', credentials: TlsCredentials.loadSync(serverCert) },
      authorization: parseAuthorization(
        'rules:\n  - name: tenant-a\n    match: { subject: "CN=hv-*, O=Tenant A" }\n    announce: [7]\n    subscribe: [7]\n  - name: plain\n    match: { cidr: "::1/128" }\n    subscribe: [7]\n',
      ),
    });
    const tlsAddr = `tls://[::1]:${String(server.tlsAddress?.port)}`;
    const viaTls = client(t, [tlsAddr], {
      tls: TlsCredentials.loadSync(agent),
      announce: [{ vni: 7, route: r(7) }],
    });
    const plain = client(t, [addr(server)], { subscribe: [7] });
    await plain.rec.waitCalls(1, 10000);
    assert.deepEqual(plain.rec.calls, ['add 7 10.0.7.0/24 via 2001:db8::1']);
    await viaTls.client.waitEstablished(5000);
    const infos = server.peers();
    const tlsPeer = infos.find((p) => p.listener === 'tls');
    assert.ok(tlsPeer);
    assert.match(tlsPeer.identity, /CN=hv-1/);
    assert.deepEqual(tlsPeer.rules, ['tenant-a', 'plain']);
    // The plain peer may subscribe but not announce.
    await plain.client.announce(7, r(8).destination, r(8).nextHop);
    await clientUntil(plain.client, () => plain.client.counters.refusedUpdates === 1);
  });

  it('refuses a client whose certificate another CA signed, during the TLS handshake', async (t) => {
    const server = await startServer(t, {
      tls: { listen: '[::1]:0', credentials: TlsCredentials.loadSync(serverCert) },
    });
    const c = MetalBondClient.connect(
      [`tls://[::1]:${String(server.tlsAddress?.port)}`],
      new Recorder(),
      { tls: TlsCredentials.loadSync(other), backoffMinMs: 50, backoffMaxMs: 100 },
    );
    t.after(() => c.shutdown());
    await clientUntil(
      c,
      () =>
        (c.serverStates()[0]?.connects ?? 0) === 0 && c.serverStates()[0]?.lastError !== undefined,
      5000,
    );
    assert.equal(server.peerCount, 0);
    assert.equal(c.isEstablished, false);
  });
});
