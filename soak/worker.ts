/**
 * A soak worker process: runs a share of the clients (soak/clients.ts) and answers the driver's
 * commands over IPC (soak/protocol.ts). Exits when the IPC channel closes.
 */

import { monitorEventLoopDelay } from 'node:perf_hooks';

import { parseHostPort } from '../src/net-address.js';
import { LightSoakClient, MbSoakClient, type SoakClient } from './clients.js';
import type { Command, Reply, WorkerStatus } from './protocol.js';

const clients = new Map<number, SoakClient>();
const lights: LightSoakClient[] = [];
let operationErrors = 0;
const errorSamples: string[] = [];
const lag = monitorEventLoopDelay({ resolution: 10 });
lag.enable();
let ticker: NodeJS.Timeout | undefined;

function reply(r: Reply): void {
  if (process.connected) process.send?.(r);
}

function opError(e: unknown): void {
  operationErrors++;
  if (errorSamples.length < 5) errorSamples.push(e instanceof Error ? e.message : String(e));
}

function status(): WorkerStatus {
  let established = 0;
  let lastChangeAt = 0;
  const digests: [number, number, number][] = [];
  const drops: [number, number][] = [];
  for (const c of clients.values()) {
    if (c.established) established++;
    digests.push([c.index, c.count, c.hash]);
    if (c.drops > 0) drops.push([c.index, c.drops]);
    if (c.lastChangeAt > lastChangeAt) lastChangeAt = c.lastChangeAt;
  }
  const s: WorkerStatus = {
    clients: clients.size,
    established,
    digests,
    drops,
    lastChangeAt,
    operationErrors,
    errorSamples: [...errorSamples],
    rssBytes: process.memoryUsage().rss,
    lagP99Ms: Math.max(0, Math.round(lag.percentile(99) / 1e4 - 1000) / 100),
  };
  lag.reset();
  return s;
}

async function spawnClients(c: Extract<Command, { op: 'spawn' }>): Promise<void> {
  const hp = parseHostPort(c.server);
  let i = 0;
  for (const [index, vni] of c.clients) {
    const client =
      c.kind === 'mb'
        ? new MbSoakClient(index, vni, c.server, c.keepalive, c.routes)
        : new LightSoakClient(index, vni, hp.host, hp.port, c.keepalive, c.routes);
    clients.set(index, client);
    if (client instanceof LightSoakClient) lights.push(client);
    if (++i % c.rampPer10ms === 0) await new Promise((r) => setTimeout(r, 10));
  }
  if (lights.length > 0 && ticker === undefined) {
    ticker = setInterval(() => {
      const now = Date.now();
      for (const l of lights) l.tick(now);
    }, c.keepalive * 1000);
  }
}

async function apply(
  items: readonly (readonly [number, number])[],
  withdraw: boolean,
): Promise<void> {
  for (const [index, n] of items) {
    const c = clients.get(index);
    if (c === undefined) continue;
    try {
      await (withdraw ? c.withdraw(n) : c.announce(n));
    } catch (e) {
      opError(e);
    }
  }
}

process.on('message', (m: Command) => {
  void (async () => {
    try {
      switch (m.op) {
        case 'spawn':
          await spawnClients(m);
          reply({ seq: m.seq, ok: true });
          break;
        case 'status':
          reply({ seq: m.seq, ok: true, status: status() });
          break;
        case 'announce':
          await apply(m.items, false);
          reply({ seq: m.seq, ok: true });
          break;
        case 'withdraw':
          await apply(m.items, true);
          reply({ seq: m.seq, ok: true });
          break;
        case 'keys':
          reply({ seq: m.seq, ok: true, keys: clients.get(m.index)?.keys() ?? [] });
          break;
        case 'stop':
          if (ticker !== undefined) clearInterval(ticker);
          await Promise.all([...clients.values()].map((c) => c.stop()));
          reply({ seq: m.seq, ok: true });
          break;
      }
    } catch (e) {
      reply({ seq: m.seq, ok: false, error: e instanceof Error ? e.message : String(e) });
    }
  })();
});

process.on('disconnect', () => {
  process.exit(0);
});
