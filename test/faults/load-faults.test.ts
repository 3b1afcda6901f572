/**
 * Faults under load against the real server CLI: a subscriber that stops reading while a
 * publisher floods its VNI (it is cut, server memory stays bounded, the other subscribers are
 * unaffected), and 2,000 connections opened and closed at once (twice), next to CLI clients
 * whose views must stay exact and whose sessions must never drop.
 */

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { describe, it } from 'node:test';

import { MetalBondClient } from '../../src/client/client.js';
import { routeKey } from '../../src/model/wire-route.js';
import { route, type Route } from '../../src/model/route.js';
import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import { encodeHello, encodeKeepalive, encodeSubscribe } from '../../src/wire/encode.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { Cli, clientArgs, freePort, routeLine, rssOf, serverArgs } from './helpers/cli.js';

function floodRoute(i: number): Route {
  return route(`10.${String((i >> 8) & 255)}.${String(i & 255)}.0/24`, 'fd00::f');
}

/**
 * A raw peer that handshakes, subscribes, and then never reads again; it keeps sending KEEPALIVEs
 * (alive, but its reader is stuck), so only the stall can get it cut.
 */
async function stalledSubscriber(port: number, vni: number): Promise<Socket> {
  const s = connect({ host: '::1', port });
  await once(s, 'connect');
  s.write(encodeHello(5, false));
  await once(s, 'data');
  s.write(encodeKeepalive());
  await once(s, 'data');
  s.write(encodeSubscribe(vni));
  s.pause();
  const ka = setInterval(() => {
    if (!s.destroyed) s.write(encodeKeepalive());
  }, 300);
  s.once('close', () => {
    clearInterval(ka);
  });
  s.on('error', () => undefined); // the server resets it when it cuts it
  return s;
}

/**
 * A light raw peer for the connection storm: counts the frames it receives by their headers,
 * without decoding or keeping them (2,000 of them must not load the test process).
 */
class LightPeer {
  frames = 0;
  closed = false;
  private skip = 0;
  private header = Buffer.alloc(0);
  private waiter: (() => void) | undefined;

  private constructor(readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.count(d);
      this.waiter?.();
    });
    socket.on('close', () => {
      this.closed = true;
      this.waiter?.();
    });
    socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<LightPeer> {
    const s = connect({ host: '::1', port, noDelay: true });
    await once(s, 'connect');
    return new LightPeer(s);
  }

  private count(d: Buffer): void {
    let p = 0;
    while (p < d.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, d.length - p);
        this.skip -= n;
        p += n;
        continue;
      }
      const need = 4 - this.header.length;
      this.header = Buffer.concat([this.header, d.subarray(p, p + need)]);
      p += Math.min(need, d.length - p);
      if (this.header.length === 4) {
        this.frames++;
        this.skip = this.header.readUInt16BE(1);
        this.header = Buffer.alloc(0);
      }
    }
  }

  async waitFrames(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames < n) {
      if (this.closed) throw new Error(`closed by the server after ${String(this.frames)} frames`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timeout waiting for frame ${String(n)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    this.waiter = undefined;
  }

  send(b: Buffer): void {
    if (!this.closed) this.socket.write(b);
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('load faults (CLI server)', () => {
  it('a stalled consumer is cut; server memory stays bounded; the other subscribers get every update', async (t) => {
    const port = await freePort();
    // --no-pacing: peers that reassemble the stream (every tsbond client) are not paced.
    const server = Cli.start(t, serverArgs(port, '::1', ['--no-pacing']));
    await server.log(/server listening/);
    const addr = `[::1]:${String(port)}`;
    const good = Array.from({ length: 3 }, () =>
      MetalBondClient.connect(
        [addr],
        { addRoute: () => undefined, removeRoute: () => undefined },
        {
          subscribe: [100],
          keepalive: 1,
        },
      ),
    );
    let drops = 0;
    for (const c of good) {
      c.on('server', (e) => {
        if (e.state === 'RETRY') drops++;
      });
    }
    t.after(() => Promise.all(good.map((c) => c.shutdown())));
    await Promise.all(good.map((c) => c.waitEstablished(10_000)));
    const stalled = await stalledSubscriber(port, 100);
    t.after(() => stalled.destroy());
    const publisher = await RawPeer.connect(port);
    t.after(() => {
      publisher.close();
    });
    await publisher.handshake(5);
    // The negotiated keepalive is 1 s: a silent publisher would be timed out (and its routes
    // withdrawn), so it sends a KEEPALIVE every 300 ms like any client.
    const ka = setInterval(() => {
      publisher.send(encodeKeepalive());
    }, 300);
    t.after(() => {
      clearInterval(ka);
    });

    // Flood: ADD and REMOVE of 1,000 routes, over and over, until the server cuts the stalled peer.
    const N = 1000;
    const adds = Buffer.concat(
      Array.from({ length: N }, (_, i) => encodeRouteUpdate('ADD', 100, floodRoute(i))),
    );
    const removes = Buffer.concat(
      Array.from({ length: N }, (_, i) => encodeRouteUpdate('REMOVE', 100, floodRoute(i))),
    );
    const baseRss = rssOf(server.pid);
    let maxRss = baseRss;
    let sent = 0;
    const t0 = Date.now();
    const cutAt = server.logs.length;
    const isCut = (): boolean =>
      server.logs.slice(cutAt).some((l) => /slow consumer|stall/i.test(l.msg ?? ''));
    while (!isCut() && Date.now() - t0 < 30_000) {
      const okAdds = publisher.socket.write(adds);
      const ok = publisher.socket.write(removes) && okAdds;
      sent += 2 * N;
      maxRss = Math.max(maxRss, rssOf(server.pid));
      if (!ok)
        await Promise.race([
          once(publisher.socket, 'drain'),
          new Promise((r) => setTimeout(r, 100)),
        ]);
      else await new Promise((r) => setImmediate(r));
    }
    const cutMs = Date.now() - t0;
    assert.ok(
      isCut(),
      `the stalled consumer was not cut within 30 s (${String(sent)} updates sent)`,
    );
    const cut = server.logs.slice(cutAt).find((l) => /slow consumer|stall/i.test(l.msg ?? ''));
    t.diagnostic(
      `stalled consumer cut after ${String(cutMs)} ms and ${String(sent)} updates (${JSON.stringify(cut?.why)}); server RSS ${String(Math.round(baseRss / 1048576))} -> max ${String(Math.round(maxRss / 1048576))} MB`,
    );
    assert.ok(
      maxRss - baseRss < 300 * 1048576,
      `server RSS grew by ${String(Math.round((maxRss - baseRss) / 1048576))} MB`,
    );

    // Final state: routes 0..9 announced. Every good subscriber converges to exactly that.
    publisher.socket.write(
      Buffer.concat(
        Array.from({ length: 10 }, (_, i) => encodeRouteUpdate('ADD', 100, floodRoute(i))),
      ),
    );
    const want = new Set(Array.from({ length: 10 }, (_, i) => routeKey(100, floodRoute(i))));
    const deadline = Date.now() + 30_000;
    const exact = (c: MetalBondClient): boolean => {
      const have = c.receivedRoutes(100).map((x) => routeKey(x.vni, x.route));
      return have.length === want.size && have.every((k) => want.has(k));
    };
    while (!good.every(exact) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    assert.ok(
      good.every(exact),
      `the good subscribers did not converge to the final view: ${JSON.stringify(good.map((c) => [c.receivedRoutes(100).length, c.serverStates()[0]?.state]))}; server: ${server.logs
        .slice(-5)
        .map((l) => l.msg)
        .join(' | ')}`,
    );
    assert.equal(drops, 0, 'a good subscriber lost its session');
    assert.ok(server.running);
  });

  it('2,000 simultaneous connects and disconnects (twice): server and established clients unaffected', async (t) => {
    const port = await freePort();
    // Keepalive 10 s: the handshake deadline (2.5 K = 25 s) holds even on a loaded machine.
    const server = Cli.start(t, serverArgs(port, '::1', ['--keepalive', '10']));
    await server.log(/server listening/);
    const addr = `[::1]:${String(port)}`;
    const a = Cli.start(
      t,
      clientArgs(addr, 100, ['100#10.255.0.0/24@fd00::a'], ['--keepalive', '2']),
    );
    const b = Cli.start(
      t,
      clientArgs(addr, 100, ['100#10.255.1.0/24@fd00::b'], ['--keepalive', '2']),
    );
    const lineA = routeLine(100, '10.255.0.0/24', 'fd00::a');
    const lineB = routeLine(100, '10.255.1.0/24', 'fd00::b');
    await a.viewIs([lineB], 15_000);
    await b.viewIs([lineA], 15_000);
    const baseRss = rssOf(server.pid);
    let maxRss = baseRss;
    const rounds = 2;
    const N = 2000;
    const live = new Set<LightPeer>();
    // Established raw peers keep their sessions alive like any client (keepalive 5 s).
    const ka = setInterval(() => {
      for (const p of live) p.send(encodeKeepalive());
    }, 2000);
    t.after(() => {
      clearInterval(ka);
    });
    for (let round = 0; round < rounds; round++) {
      const t0 = Date.now();
      // All connects at once; each handshakes and announces one route, one in 20 also subscribes
      // (every subscriber receives every route: 100 x 2,000 frames per round).
      const peers = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const p = await LightPeer.open(port);
          p.send(encodeHello(5, false));
          await p.waitFrames(1, 30_000); // HELLO
          p.send(encodeKeepalive());
          await p.waitFrames(2, 30_000); // KEEPALIVE
          live.add(p);
          p.send(encodeSubscribe(100));
          p.send(
            encodeRouteUpdate(
              'ADD',
              100,
              route(`10.${String(i >> 8)}.${String(i & 255)}.0/24`, 'fd00::99'),
            ),
          );
          return p;
        }),
      ).catch((e: unknown) => {
        const reasons = new Map<string, number>();
        for (const l of server.logs) {
          if (l.msg !== 'peer closed') continue;
          const r = String(l.reason);
          reasons.set(r, (reasons.get(r) ?? 0) + 1);
        }
        throw new Error(
          `round ${String(round + 1)}: ${String(e)}; server closes: ${JSON.stringify([...reasons])}`,
        );
      });
      const connectMs = Date.now() - t0;
      await b
        .until(() => b.view.size === N + 1, 30_000, `${String(N + 1)} routes at client b`)
        .catch((e: unknown) => {
          const msgs = new Map<string, number>();
          for (const l of server.logs) msgs.set(String(l.msg), (msgs.get(String(l.msg)) ?? 0) + 1);
          throw new Error(
            `${String(e)}; server log: ${JSON.stringify([...msgs])}; b: ${JSON.stringify(b.logs.slice(-3))}`,
          );
        });
      const fullMs = Date.now() - t0;
      maxRss = Math.max(maxRss, rssOf(server.pid));
      // All disconnects at once.
      const t1 = Date.now();
      for (const p of peers) {
        live.delete(p);
        p.close();
      }
      await b.viewIs([lineA], 30_000);
      await a.viewIs([lineB], 30_000);
      t.diagnostic(
        `round ${String(round + 1)}: ${String(N)} connected+handshaken in ${String(connectMs)} ms, all routes at a client after ${String(fullMs)} ms, all withdrawn ${String(Date.now() - t1)} ms after the disconnects; server RSS max ${String(Math.round(maxRss / 1048576))} MB`,
      );
    }
    assert.ok(server.running);
    const lost = [...a.logs, ...b.logs].filter((l) =>
      (l.msg ?? '').includes('server connection lost'),
    );
    assert.deepEqual(lost, [], 'an established client lost its session');
    assert.ok(
      maxRss - baseRss < 300 * 1048576,
      `server RSS grew by ${String(Math.round((maxRss - baseRss) / 1048576))} MB`,
    );
  });
});
