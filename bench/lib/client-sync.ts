/**
 * Client-side sync (issue 11): a default tsbond client (MetalBondClient, default options, no-op
 * handler; bench/client-sync-probe.ts in its own process) subscribes to a VNI of R routes
 * (default 1,000,000) on a default tsbond server that has been up past its sync delay. Measured:
 * time from SUBSCRIBE to the R-th route handed to the handler, and to SYNCED (waitSynced) once
 * the client has it; the client's memory per route (RSS and V8 heap after a full GC, over its
 * size before connecting).
 *
 * The server holds SYNCED back for its first `syncDelayS` seconds (default 15) of uptime: the
 * table is loaded first, then the run waits until the server has been listening that long (plus
 * a margin) before the client subscribes; the client connects meanwhile.
 */

import type { ChildProcess } from 'node:child_process';

import { fmtBytes, fmtCount, fmtSeconds, progress } from './format.js';
import { loadTable } from './loader.js';
import { forkTs, waitExit } from './procs.js';
import type { RunningServer, ServerKind } from './servers.js';

export interface ClientSyncOptions {
  readonly routes: number;
  readonly announcers: number;
  readonly window: number;
  readonly vni: number;
  readonly keepalive: number;
  /** HELLO field 1000 of the announcers that load the table. */
  readonly features: number | undefined;
  /** Wait until the server has been listening this long before subscribing (its sync delay). */
  readonly syncDelayS: number;
  readonly targetS: number;
  readonly timeoutS: number;
  /** Client processes run one after the other against the loaded table (medians reported). */
  readonly rounds: number;
  /** The client also announces a route (as hypervisors' clients do). */
  readonly announce: boolean;
}

export interface ClientSyncResult {
  readonly server: ServerKind;
  readonly serverFlags: readonly string[];
  readonly routes: number;
  /** The client announced a route too (undefined in older runs: it did not). */
  readonly clientAnnounces?: boolean;
  readonly loadS: number;
  /** Server uptime when the client subscribed, seconds. */
  readonly uptimeAtSubscribeS: number;
  /** SUBSCRIBE to the R-th route handed to the handler. */
  readonly allRoutesS: number | undefined;
  /** SUBSCRIBE to SYNCED (waitSynced resolved); undefined: the client has no waitSynced yet. */
  readonly syncedS: number | undefined;
  /** Every round's allRoutesS and syncedS (allRoutesS and syncedS are their medians). */
  readonly roundsAllS?: readonly number[];
  readonly roundsSyncedS?: readonly number[] | undefined;
  readonly adds: number;
  readonly removes: number;
  readonly rssPerRoute: number | undefined;
  readonly heapPerRoute: number | undefined;
  readonly clientRss: number | undefined;
  readonly targetMet: boolean;
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly background?: number;
}

interface ProbeResult {
  event: 'result';
  allS: number;
  syncedS: number | undefined;
  adds: number;
  removes: number;
  serverRoutes: number | undefined;
  baseline: NodeJS.MemoryUsage;
  after: NodeJS.MemoryUsage;
}

type ProbeMessage =
  | { event: 'ready'; baseline: NodeJS.MemoryUsage }
  | ProbeResult
  | { event: 'error'; error: string };

function isProbeMessage(m: unknown): m is ProbeMessage {
  return (
    typeof m === 'object' && m !== null && typeof (m as { event?: unknown }).event === 'string'
  );
}

async function next(c: ChildProcess, ms: number): Promise<ProbeMessage> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => {
      cleanup();
      reject(new Error(`client probe: nothing within ${String(ms)} ms`));
    }, ms);
    const onMsg = (m: unknown): void => {
      if (!isProbeMessage(m)) return;
      cleanup();
      resolve(m);
    };
    const onExit = (code: number | null): void => {
      cleanup();
      reject(new Error(`client probe exited (${String(code)})`));
    };
    const cleanup = (): void => {
      clearTimeout(t);
      c.off('message', onMsg);
      c.off('exit', onExit);
    };
    c.on('message', onMsg);
    c.once('exit', onExit);
  });
}

/** One client process: connects, waits for the sync delay, subscribes; its result. */
async function probeOnce(
  server: RunningServer,
  o: ClientSyncOptions,
  tag: string,
): Promise<ProbeResult & { uptimeAtSubscribeS: number }> {
  const child = forkTs(
    'bench/client-sync-probe.ts',
    [
      '--server',
      `[${server.host}]:${String(server.port)}`,
      '--vni',
      String(o.vni),
      '--routes',
      String(o.routes),
      '--timeout-ms',
      String(o.timeoutS * 1000),
      ...(o.announce ? ['--announce'] : []),
    ],
    ['--expose-gc'],
  );
  try {
    const ready = await next(child, 60_000);
    if (ready.event !== 'ready') throw new Error(`client probe: ${JSON.stringify(ready)}`);
    // Past the server's sync delay (plus a margin), so SYNCED is not held back.
    const waitMs = server.listeningAt + o.syncDelayS * 1000 + 250 - Date.now();
    if (waitMs > 0) {
      progress(tag, `waiting ${fmtSeconds(waitMs / 1000)} for the server's sync delay to pass`);
      await new Promise((r) => setTimeout(r, waitMs));
    }
    const uptimeAtSubscribeS = (Date.now() - server.listeningAt) / 1000;
    child.send({ op: 'go' });
    const r = await next(child, o.timeoutS * 1000 + 10_000);
    if (r.event !== 'result') throw new Error(`client: ${r.event === 'error' ? r.error : r.event}`);
    return { ...r, uptimeAtSubscribeS };
  } finally {
    if (child.connected) child.send({ op: 'shutdown' });
    await waitExit(child, 10_000);
  }
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
}

/**
 * Loads the table once, then runs `o.rounds` client processes one after the other (each a fresh
 * client subscribing to the same loaded VNI); times and memory are the medians of the rounds,
 * every round's time is kept.
 */
export async function runClientSync(
  server: RunningServer,
  o: ClientSyncOptions,
): Promise<ClientSyncResult> {
  const tag = `client-sync ${fmtCount(o.routes)}`;
  const problems: string[] = [];
  const loaded = await loadTable(server, { ...o, timeoutMs: o.timeoutS * 1000 }, tag);
  let uptimeAtSubscribeS = 0;
  try {
    if (loaded.serverRoutes !== undefined && loaded.serverRoutes !== o.routes) {
      problems.push(`the server holds ${String(loaded.serverRoutes)} routes after loading`);
    }
    const results: ProbeResult[] = [];
    for (let round = 1; round <= o.rounds; round++) {
      const r = await probeOnce(server, o, `${tag} round ${String(round)}/${String(o.rounds)}`);
      if (round === 1) uptimeAtSubscribeS = r.uptimeAtSubscribeS;
      const at = `round ${String(round)}: `;
      if (r.adds !== o.routes)
        problems.push(`${at}handler got ${String(r.adds)} ADDs, expected ${String(o.routes)}`);
      if (r.removes !== 0) problems.push(`${at}handler got ${String(r.removes)} REMOVEs`);
      if (r.serverRoutes !== undefined && r.serverRoutes !== o.routes) {
        problems.push(`${at}the client reports ${String(r.serverRoutes)} routes from the server`);
      }
      progress(
        tag,
        `round ${String(round)}/${String(o.rounds)}: all routes in the handler after ${fmtSeconds(r.allS)}, ` +
          `SYNCED ${r.syncedS === undefined ? 'not measured (no waitSynced)' : `after ${fmtSeconds(r.syncedS)}`}; ` +
          `client ${((r.after.rss - r.baseline.rss) / o.routes).toFixed(0)} B/route RSS, ` +
          `${((r.after.heapUsed - r.baseline.heapUsed) / o.routes).toFixed(0)} B/route heap (RSS ${fmtBytes(r.after.rss)})`,
      );
      results.push(r);
    }
    const allS = results.map((r) => r.allS);
    const syncedS = results.map((r) => r.syncedS ?? NaN);
    const totals = results.map((r) => Math.max(r.allS, r.syncedS ?? 0));
    const synced = results.every((r) => r.syncedS !== undefined);
    const rssPerRoute = median(results.map((r) => (r.after.rss - r.baseline.rss) / o.routes));
    const heapPerRoute = median(
      results.map((r) => (r.after.heapUsed - r.baseline.heapUsed) / o.routes),
    );
    return {
      server: server.kind,
      serverFlags: server.flags,
      routes: o.routes,
      clientAnnounces: o.announce,
      loadS: loaded.seconds,
      uptimeAtSubscribeS,
      allRoutesS: median(allS),
      syncedS: synced ? median(syncedS) : undefined,
      roundsAllS: allS,
      roundsSyncedS: synced ? syncedS : undefined,
      adds: results[0]?.adds ?? 0,
      removes: results.reduce((a, r) => a + r.removes, 0),
      rssPerRoute,
      heapPerRoute,
      clientRss: median(results.map((r) => r.after.rss)),
      targetMet: synced && median(totals) < o.targetS && problems.length === 0,
      ok: problems.length === 0,
      problems,
    };
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    progress(tag, `FAILED: ${msg}`);
    return {
      server: server.kind,
      serverFlags: server.flags,
      routes: o.routes,
      clientAnnounces: o.announce,
      loadS: loaded.seconds,
      uptimeAtSubscribeS: (Date.now() - server.listeningAt) / 1000,
      allRoutesS: undefined,
      syncedS: undefined,
      adds: 0,
      removes: 0,
      rssPerRoute: undefined,
      heapPerRoute: undefined,
      clientRss: undefined,
      targetMet: false,
      ok: false,
      problems: [...problems, msg],
    };
  } finally {
    await loaded.pool.stop();
  }
}
