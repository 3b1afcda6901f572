/**
 * Live fuzz target: a tsbond server in a child process (test/helpers/server-probe.ts), a group of
 * well-behaved MetalBondClients that announce, subscribe and churn, and many hostile raw
 * connections sending mutated traffic. Checked: the server never crashes (no uncaught exception,
 * no unhandled rejection, no exit), its RSS stays under a bound, the good peers' sessions are
 * never dropped, and at every quiet point (all hostile connections closed) every good peer's view
 * is exactly what the other good peers of its VNI announce.
 */

import { connect } from 'node:net';

import { PeerGroup } from '../../test/helpers/peer-group.js';
import { ServerProcess } from '../../test/helpers/server-process.js';
import { T, traffic } from './corpus.js';
import { InputGenerator } from './mutate.js';
import type { Finding } from './inproc.js';
import { frame } from './proto.js';
import { Rng } from './rng.js';

export interface LiveOptions {
  readonly seed: number;
  /** Frames to send in all (at least). */
  readonly frames: number;
  /** Hostile connections to open in all (at least). */
  readonly connections: number;
  /** Time bound. */
  readonly seconds: number;
  /** Hostile connections open at once. */
  readonly concurrency?: number;
  /** Server RSS above this is a finding. */
  readonly rssLimitMB?: number;
}

export interface LiveResult {
  readonly target: 'live';
  readonly seed: number;
  readonly seconds: number;
  readonly framesSent: number;
  readonly bytesSent: number;
  readonly connections: number;
  readonly handshakes: number;
  readonly closedByServer: number;
  readonly kinds: Record<string, number>;
  readonly quietPoints: number;
  readonly server: {
    readonly rssStartMB: number;
    readonly rssMaxMB: number;
    readonly rssEndMB: number;
    readonly lagP99MaxMs: number;
    readonly counters: Record<string, number>;
    readonly crashes: number;
    readonly unexpectedExits: number;
  };
  readonly goodPeers: {
    readonly clients: number;
    readonly routes: number;
    readonly churnSteps: number;
    readonly viewChecks: number;
    readonly drops: number;
  };
  readonly findings: Finding[];
}

const GOOD_VNIS = [100, 200];

/** Counts the frames of a stream by walking its headers (a lying length counts as one). */
function countFrames(b: Buffer): number {
  let n = 0;
  let p = 0;
  while (p + 4 <= b.length) {
    n++;
    p += 4 + b.readUInt16BE(p + 1);
  }
  return n;
}

type Kind = 'fuzz' | 'fuzz-after-handshake' | 'trickle' | 'silent' | 'garbage';

interface Conn {
  framesSent: number;
  bytesSent: number;
  handshaken: boolean;
  closedByServer: boolean;
}

export async function fuzzLive(o: LiveOptions): Promise<LiveResult> {
  const rng = new Rng(o.seed);
  const gen = new InputGenerator(rng, 'client');
  const findings: Finding[] = [];
  const add = (error: string): void => {
    if (findings.length < 20)
      findings.push({ target: 'live', seed: o.seed, index: -1, generator: '-', error, input: '' });
  };
  const server = new ServerProcess({ listen: '[::1]:0', keepalive: 2, pacing: false });
  await server.start();
  const port = server.port;
  const t0 = Date.now();
  const deadline = t0 + o.seconds * 1000;
  const first = await server.sample();
  const rssStart = first?.rssBytes ?? 0;
  let rssMax = rssStart;
  let lagMax = 0;
  const rssLimit = (o.rssLimitMB ?? 1024) * 1048576;
  const sampler = setInterval(() => {
    void server.sample().then((s) => {
      if (s === undefined) return;
      rssMax = Math.max(rssMax, s.rssBytes);
      lagMax = Math.max(lagMax, s.lagP99Ms);
    });
  }, 1000);

  const group = new PeerGroup([`[::1]:${String(port)}`], GOOD_VNIS, 3, { keepalive: 2 });
  await group.start(20);
  const initial = await group.waitConverged(15_000);
  if (initial.length > 0)
    add(`good peers did not converge at start: ${JSON.stringify(initial.slice(0, 3))}`);

  let framesSent = 0;
  let bytesSent = 0;
  let connections = 0;
  let handshakes = 0;
  let closedByServer = 0;
  let churnSteps = 0;
  let viewChecks = 0;
  let quietPoints = 0;
  const kinds: Record<string, number> = {};
  const framesPerConn = Math.max(1, Math.round(o.frames / Math.max(1, o.connections)));
  const done = (): boolean =>
    (framesSent >= o.frames && connections >= o.connections) ||
    Date.now() > deadline ||
    findings.length >= 20;

  /** One hostile connection from connect to close. */
  const hostile = async (): Promise<void> => {
    const x = rng.int(100);
    const kind: Kind =
      x < 2
        ? 'silent'
        : x < 4
          ? 'trickle'
          : x < 10
            ? 'garbage'
            : x < 30
              ? 'fuzz'
              : 'fuzz-after-handshake';
    kinds[kind] = (kinds[kind] ?? 0) + 1;
    connections++;
    const c: Conn = { framesSent: 0, bytesSent: 0, handshaken: false, closedByServer: false };
    const socket = connect({ host: '::1', port });
    const state = { closed: false };
    const closedP = new Promise<void>((resolve) => {
      socket.on('close', () => {
        state.closed = true;
        resolve();
      });
    });
    socket.on('error', () => undefined);
    let received = Buffer.alloc(0);
    let waiter: (() => void) | undefined;
    socket.on('data', (d: Buffer) => {
      if (received.length < 64) received = Buffer.concat([received, d]);
      waiter?.();
    });
    socket.on('end', () => {
      c.closedByServer = true;
    });
    const write = (b: Buffer): void => {
      if (state.closed || b.length === 0) return;
      socket.write(b);
      c.bytesSent += b.length;
      c.framesSent += countFrames(b);
    };
    const waitFor = async (cond: () => boolean, ms: number): Promise<boolean> => {
      const end = Date.now() + ms;
      while (!cond() && !state.closed && Date.now() < end) {
        await new Promise<void>((r) => {
          const t = setTimeout(r, Math.max(1, end - Date.now()));
          waiter = () => {
            clearTimeout(t);
            r();
          };
        });
      }
      waiter = undefined;
      return cond();
    };
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('connect', resolve);
        socket.once('error', reject);
      });
    } catch {
      return;
    }
    if (kind === 'silent') {
      // Connects and says nothing: the server's handshake timeout (2.5 K = 5 s) closes it.
      await Promise.race([closedP, new Promise((r) => setTimeout(r, 8000))]);
      if (!state.closed) add('a silent connection was not closed by the handshake timeout');
      socket.destroy();
      return;
    }
    if (kind === 'garbage') {
      write(rng.bytes(rng.range(1, 512)));
    } else {
      let body: Buffer;
      if (kind === 'fuzz') {
        body = gen.next().bytes;
      } else {
        // A valid handshake, then a long run of valid and semantically invalid traffic (the
        // session lives through it), then one mutated input (which may end the session).
        write(frame(T.HELLO, Buffer.from([0x08, rng.range(1, 10), 0xc0, 0x3e, 0x07])));
        if (!(await waitFor(() => received.length >= 6, 3000))) {
          socket.destroy();
          return;
        }
        write(frame(T.KEEPALIVE, Buffer.alloc(0)));
        c.handshaken = await waitFor(() => countFrames(received) >= 2, 3000);
        const parts: Buffer[] = [];
        let n = 0;
        const want = rng.range(1, 2 * framesPerConn);
        while (n < want) {
          const t = traffic(rng, 'client', false, 48);
          parts.push(...t);
          n += t.length;
        }
        parts.push(gen.next().bytes);
        body = Buffer.concat(parts);
      }
      if (kind === 'trickle') {
        // Slow-loris: a few bytes at a time.
        const end = Math.min(body.length, 64);
        for (let p = 0; p < end && !state.closed; p += 3) {
          write(body.subarray(p, p + 3));
          await new Promise((r) => setTimeout(r, 5));
        }
      } else {
        write(body);
      }
    }
    // Close: FIN (the server handles what it got first) or an abrupt destroy.
    if (rng.chance(0.7)) {
      socket.end();
      await Promise.race([closedP, new Promise((r) => setTimeout(r, 2000))]);
    }
    socket.destroy();
    framesSent += c.framesSent;
    bytesSent += c.bytesSent;
    if (c.handshaken) handshakes++;
    if (c.closedByServer) closedByServer++;
  };

  const concurrency = o.concurrency ?? 48;
  const checkEvery = Math.max(500, Math.floor(o.connections / 10));
  let nextCheck = checkEvery;
  let lastChurn = Date.now();
  while (!done()) {
    // A wave of hostile connections, then a quiet point.
    const wave: Promise<void>[] = [];
    let running = 0;
    await new Promise<void>((resolveWave) => {
      const launch = (): void => {
        while (running < concurrency && connections < nextCheck && !done()) {
          running++;
          const p = hostile()
            .catch((e: unknown) => {
              add(`hostile connection failed in the fuzzer: ${String(e)}`);
            })
            .finally(() => {
              running--;
              if (Date.now() - lastChurn > 200) {
                lastChurn = Date.now();
                churnSteps++;
                void group
                  .churn(() => rng.u32() / 4294967296)
                  .catch((e: unknown) => {
                    add(`churn failed: ${String(e)}`);
                  });
              }
              launch();
              if (running === 0) resolveWave();
            });
          wave.push(p);
        }
        if (running === 0) resolveWave();
      };
      launch();
    });
    await Promise.all(wave);
    nextCheck += checkEvery;
    // Quiet point: every hostile connection is closed; the server withdrew what they announced.
    quietPoints++;
    const m = await group.waitConverged(15_000);
    viewChecks += group.peers.length;
    if (m.length > 0)
      add(
        `views not exact at quiet point ${String(quietPoints)}: ${JSON.stringify(m.slice(0, 3))}`,
      );
    if (!server.running) break;
    process.stderr.write(
      `fuzz: live: ${String(connections)} connections, ${String(framesSent)} frames, server RSS ${String(Math.round(rssMax / 1048576))} MB\n`,
    );
  }
  clearInterval(sampler);
  const last = await server.sample();
  if (last !== undefined) {
    rssMax = Math.max(rssMax, last.rssBytes);
  }
  const drops = group.drops;
  if (drops > 0) {
    add(
      `good sessions dropped: ${String(drops)} (${group.peers
        .flatMap((p) => p.dropReasons)
        .slice(0, 3)
        .join('; ')})`,
    );
  }
  for (const c of server.crashes) add(`server crashed: ${c}`);
  for (const e of server.unexpectedExits) add(`server exited: ${e}`);
  if (rssMax > rssLimit)
    add(
      `server RSS ${String(Math.round(rssMax / 1048576))} MB above ${String(o.rssLimitMB ?? 1024)} MB`,
    );
  const routes = group.routes();
  await group.stop();
  await server.stop();
  const mb = (b: number): number => Math.round((b / 1048576) * 10) / 10;
  return {
    target: 'live',
    seed: o.seed,
    seconds: Math.round((Date.now() - t0) / 100) / 10,
    framesSent,
    bytesSent,
    connections,
    handshakes,
    closedByServer,
    kinds,
    quietPoints,
    server: {
      rssStartMB: mb(rssStart),
      rssMaxMB: mb(rssMax),
      rssEndMB: mb(last?.rssBytes ?? 0),
      lagP99MaxMs: lagMax,
      counters: last?.counters ?? {},
      crashes: server.crashes.length,
      unexpectedExits: server.unexpectedExits.length,
    },
    goodPeers: { clients: group.peers.length, routes, churnSteps, viewChecks, drops },
    findings,
  };
}
