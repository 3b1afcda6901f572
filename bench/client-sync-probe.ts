/**
 * The client side of the client-sync benchmark (issue 11), in its own process so that its memory
 * is the client's: a default MetalBondClient (src/, default options: no logger, default keepalive,
 * window and pacing) with a no-op handler that only counts, connected to one server.
 *
 * Forked by bench/lib/client-sync.ts with `node --import tsx --expose-gc`; args: --server
 * HOST:PORT --vni N --routes N --timeout-ms N. Messages to the driver: {event:'ready', baseline}
 * once established (baseline: memory after a full GC before connecting); then on {op:'go'}:
 * subscribe, wait for every route and SYNCED, {event:'result', ...}; {op:'shutdown'} exits.
 */

import { parseArgs } from 'node:util';

import { MetalBondClient } from '../src/client/client.js';
import { route } from '../src/model/route.js';

const { values } = parseArgs({
  options: {
    server: { type: 'string' },
    vni: { type: 'string', default: '100' },
    routes: { type: 'string' },
    'timeout-ms': { type: 'string', default: '120000' },
    // Also announce one route (in another VNI), as a hypervisor's client does: the client then
    // keeps its index by destination (loop prevention) for every route it receives.
    announce: { type: 'boolean', default: false },
  },
});
if (values.server === undefined || values.routes === undefined) {
  throw new Error('usage: client-sync-probe.ts --server HOST:PORT --routes N [--vni N]');
}
const vni = Number(values.vni);
const routes = Number(values.routes);
const timeoutMs = Number(values['timeout-ms']);

const gc = (globalThis as { gc?: () => void }).gc;
function memory(): NodeJS.MemoryUsage {
  gc?.();
  gc?.();
  return process.memoryUsage();
}

function send(m: object): void {
  if (process.connected) process.send?.(m, undefined, {}, () => undefined);
}

const baseline = memory();

let adds = 0;
let removes = 0;
let allAt: number | undefined;
let onAll: (() => void) | undefined;
const handler = {
  addRoute(): void {
    adds++;
    if (adds === routes) {
      allAt = performance.now();
      onAll?.();
    }
  },
  removeRoute(): void {
    removes++;
  },
};

const client = MetalBondClient.connect([values.server], handler, {
  announce: values.announce
    ? [{ vni: vni + 1, route: route('192.0.2.1/32', '2001:db8::ffff') }]
    : [],
});

/** Waits for the subscription's SYNCED (and every handler call before it). */
async function waitSynced(): Promise<number> {
  await client.waitSynced(vni, { timeoutMs });
  return performance.now();
}

async function go(): Promise<void> {
  const allRoutes = new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => {
      reject(
        new Error(
          `timeout: ${String(adds)} of ${String(routes)} routes after ${String(timeoutMs)} ms`,
        ),
      );
    }, timeoutMs);
    onAll = () => {
      clearTimeout(t);
      resolve();
    };
  });
  const t0 = performance.now();
  await client.subscribe(vni);
  const synced = waitSynced();
  await allRoutes;
  const syncedAt = await synced;
  // Anything after the last route (duplicates, removals) would show within a quiet half second.
  await new Promise((r) => setTimeout(r, 500));
  const after = memory();
  const status = client.serverStates()[0];
  send({
    event: 'result',
    allS: ((allAt ?? NaN) - t0) / 1000,
    syncedS: (syncedAt - t0) / 1000,
    adds,
    removes,
    serverRoutes: status?.routes,
    baseline,
    after,
  });
}

process.on('message', (m: unknown) => {
  const op = typeof m === 'object' && m !== null ? (m as { op?: unknown }).op : undefined;
  if (op === 'go') {
    go().catch((e: unknown) => {
      send({ event: 'error', error: e instanceof Error ? e.message : String(e) });
    });
  } else if (op === 'shutdown') {
    void client.shutdown().finally(() => process.exit(0));
  }
});
process.on('disconnect', () => process.exit(0));

client.waitEstablished(30_000).then(
  () => {
    send({ event: 'ready', baseline });
  },
  (e: unknown) => {
    send({ event: 'error', error: e instanceof Error ? e.message : String(e) });
  },
);
