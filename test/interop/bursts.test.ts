/**
 * Bursts towards Go MetalBond clients. Go does not reassemble TCP reads (reference notes §1.2): it
 * reads at most 65,535 bytes at a time, resets the session when a read fills that buffer ("too many
 * messages in inbound queue") and misparses a frame cut by a read boundary. Whatever a server
 * writes faster than a Go client reads can break it.
 *
 * - 10,000 routes announced back to back by a tsbond client, through a tsbond, a Go and a rustbond
 *   server, must all reach a Go client.
 * - The largest SUBSCRIBE snapshot a Go client survives is measured for a Go server and for the
 *   tsbond server; tsbond must do at least as well as Go's own server. The figures are printed as
 *   test diagnostics and recorded in docs/interop.md.
 */

import assert from 'node:assert/strict';
import { before, describe, it, type TestContext } from 'node:test';

import { encodeRouteUpdate } from '../../src/model/wire-route.js';
import { RawPeer } from '../helpers/raw-peer.js';
import { GoClient, GoServer } from './helpers/go.js';
import { requirePeers, type Peers, PEER_BUILD_TIMEOUT_MS, warmPeers } from './helpers/peers.js';
import { burstPrefix, makeRoute, type VniRoute } from './helpers/routes.js';
import { RustServer } from './helpers/rust.js';
import { startTsServer, TsClient } from './helpers/tsbond.js';
import { PollAbort, pollUntil } from './helpers/wait.js';

const TEST_TIMEOUT_MS = 240_000;

before(() => warmPeers(), { timeout: PEER_BUILD_TIMEOUT_MS });

const BURST = 10_000;
const VNI = 100;

function burstRoute(i: number): VniRoute {
  return makeRoute({ vni: VNI, prefix: burstPrefix(i), hop: '2001:db8::77' });
}

type ServerKind = 'tsbond' | 'Go' | 'rustbond';

interface Started {
  readonly address: string;
  readonly port: number;
  /** Server-side log lines about protocol errors (Go), warnings (rustbond); none for tsbond. */
  protocolErrors(): string[];
}

async function startServer(
  t: TestContext,
  peers: Peers,
  kind: ServerKind,
  keepalive = 5,
): Promise<Started> {
  switch (kind) {
    case 'tsbond': {
      const s = await startTsServer(t, { keepalive });
      return { address: s.address, port: s.port, protocolErrors: () => [] };
    }
    case 'Go': {
      const s = await GoServer.start(t, peers, { keepalive });
      return { address: s.address, port: s.port, protocolErrors: () => s.protocolErrors() };
    }
    case 'rustbond': {
      const s = await RustServer.start(t, peers, { keepalive });
      return { address: s.address, port: s.port, protocolErrors: () => s.warnings() };
    }
  }
}

/**
 * Waits until the Go client holds `n` routes. Fails as soon as the Go client resets its session
 * or the announcing tsbond client had to reconnect, with the evidence.
 */
async function waitGoClientHolds(
  go: GoClient,
  n: number,
  timeoutMs: number,
  extra: () => string | undefined = () => undefined,
): Promise<number> {
  let last = 0;
  const t0 = Date.now();
  await pollUntil(
    `${String(n)} routes at the Go client`,
    async () => {
      if (go.proc.exited) throw new PollAbort(`the Go client exited\n${go.proc.tail(10)}`);
      const resets = go.protocolErrors();
      if (resets.length > 0) {
        throw new PollAbort(
          `the Go client reset its session after ${String(last)} of ${String(n)} routes:\n  ${resets.slice(0, 3).join('\n  ')}`,
        );
      }
      const e = extra();
      if (e !== undefined) throw new PollAbort(e);
      last = (await go.routes()).length;
      return last === n ? true : undefined;
    },
    timeoutMs,
    250,
    () => `the Go client held ${String(last)} routes`,
  );
  return Date.now() - t0;
}

describe('bursts to a Go client', () => {
  for (const kind of ['tsbond', 'Go', 'rustbond'] as const) {
    it(
      `${String(BURST)} routes from a tsbond client through a ${kind} server reach a Go client`,
      { timeout: TEST_TIMEOUT_MS },
      async (t) => {
        const peers = await requirePeers(t, 'go', 'rust');
        if (!peers) return;
        const server = await startServer(t, peers, kind);
        const go = await GoClient.start(t, peers, {
          name: 'go-subscriber',
          servers: [server.address],
          subscribe: [VNI],
        });
        const ts = TsClient.connect(t, [server.address], { keepalive: 5 });
        await ts.waitEstablished(5000);
        // As an application does it: announce() back to back.
        for (let i = 0; i < BURST; i++) await ts.announce(burstRoute(i));
        const ms = await waitGoClientHolds(go, BURST, 30_000, () => {
          const s = ts.client.serverStates()[0];
          const errors = server.protocolErrors();
          if ((s?.connects ?? 0) > 1 || errors.length > 0) {
            return `the ${kind} server dropped the announcing tsbond client (${String(s?.connects)} connects, last error ${String(s?.lastError)}):\n  ${errors.slice(0, 3).join('\n  ')}`;
          }
          return undefined;
        });
        t.diagnostic(
          `${kind} server: ${String(BURST)} routes at the Go client after ${String(ms)} ms`,
        );
        assert.deepEqual(go.resets(), []);
      },
    );
  }
});

/** Snapshot sizes tried, in routes of 36-byte frames (1,820 x 36 = 65,520 < 65,535 < 1,821 x 36). */
const LADDER = [500, 1000, 1500, 1820, 1821, 2000, 2500, 3000, 3500, 4000, 5000, 7500, 10_000];
const TRIALS = 3;
const FRAME_BYTES = encodeRouteUpdate('ADD', VNI, burstRoute(0).route).length;

interface Limit {
  /** Largest snapshot every trial received completely. */
  readonly largest: number;
  readonly failure?: { readonly routes: number; readonly trial: number; readonly evidence: string };
}

/**
 * Fills a server with routes (gently: 500 frames per write, then a KEEPALIVE round trip) and lets
 * fresh Go clients subscribe to ever larger snapshots until one does not get all of it.
 */
async function largestSnapshot(t: TestContext, peers: Peers, kind: ServerKind): Promise<Limit> {
  // Long keepalive: the raw filler sends no keepalives of its own.
  const server = await startServer(t, peers, kind, 60);
  const filler = await RawPeer.connect(server.port);
  t.after(() => {
    filler.close();
  });
  await filler.handshake(60);
  let filled = 0;
  let largest = 0;
  for (const n of LADDER) {
    while (filled < n) {
      const k = Math.min(500, n - filled);
      const first = filled;
      filler.send(
        Buffer.concat(
          Array.from({ length: k }, (_, j) =>
            encodeRouteUpdate('ADD', VNI, burstRoute(first + j).route),
          ),
        ),
      );
      await filler.barrier(10_000);
      filled += k;
    }
    for (let trial = 1; trial <= TRIALS; trial++) {
      const go = await GoClient.start(t, peers, {
        name: `go-${kind}-${String(n)}-${String(trial)}`,
        servers: [server.address],
        subscribe: [VNI],
      });
      try {
        await waitGoClientHolds(go, n, 15_000);
      } catch (e) {
        return { largest, failure: { routes: n, trial, evidence: (e as Error).message } };
      } finally {
        await go.kill();
      }
    }
    largest = n;
  }
  return { largest };
}

function describeLimit(kind: string, l: Limit): string {
  const head = `${kind} server: largest snapshot a Go client survived ${String(TRIALS)}/${String(TRIALS)} times: ${String(l.largest)} routes (${String(l.largest * FRAME_BYTES)} bytes)`;
  if (l.failure === undefined) return `${head}; no failure up to ${String(LADDER.at(-1))}`;
  return `${head}; failed at ${String(l.failure.routes)} routes (${String(l.failure.routes * FRAME_BYTES)} bytes), trial ${String(l.failure.trial)}: ${l.failure.evidence.split('\n').slice(0, 2).join(' / ')}`;
}

describe('largest burst a Go client survives', () => {
  it(
    'SUBSCRIBE snapshot: the tsbond server does at least as well as a Go server',
    { timeout: TEST_TIMEOUT_MS },
    async (t) => {
      const peers = await requirePeers(t, 'go');
      if (!peers) return;
      const go = await largestSnapshot(t, peers, 'Go');
      t.diagnostic(describeLimit('Go', go));
      const ts = await largestSnapshot(t, peers, 'tsbond');
      t.diagnostic(describeLimit('tsbond', ts));
      assert.ok(
        ts.largest >= go.largest,
        `tsbond server does worse than the Go server:\n${describeLimit('Go', go)}\n${describeLimit('tsbond', ts)}`,
      );
    },
  );
});
