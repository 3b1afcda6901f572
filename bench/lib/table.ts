/**
 * Benchmarks 2-4 on one loaded table: a server is filled with R routes (one VNI) by several
 * announcers, one of which (the "victim") owns V of them; a subscriber connected from the start
 * (the "sentinel") tells when the server holds them all. Then:
 *  - memory: server RSS (and for tsbond V8 heap, after a full GC) per route, baseline subtracted;
 *  - sync: a NEW subscriber connects and subscribes; time until it has all R routes;
 *  - withdraw: the victim disconnects; time until the sentinel has all V REMOVEs.
 *
 * Routes are loaded in windows of W frames with a KEEPALIVE round trip after each, so a Go server
 * never gets more than one window per read (it resets a connection when one read fills its 64 KiB
 * buffer, and misparses frames split across reads). Timed steps run inside one worker process,
 * with the wait armed before the action, so the times are exact to one received chunk.
 */

import { fmtBytes, fmtCount, fmtRate, fmtSeconds, progress } from './format.js';
import type { RunningServer, ServerKind } from './servers.js';
import { WorkerPool } from './workers.js';

export interface TableOptions {
  readonly routes: number;
  /** Routes the victim owns (<= routes). */
  readonly victimRoutes: number;
  /** Announcers besides the victim, sharing routes - victimRoutes. */
  readonly announcers: number;
  readonly window: number;
  readonly vni: number;
  readonly keepalive: number;
  readonly sync: boolean;
  readonly withdraw: boolean;
  /**
   * Withdraw runs: after each, the victim reconnects and announces its routes again. The first
   * `withdrawWarmup` runs warm the code up (the first withdraw runs cold code: about twice as
   * slow); the median of the `withdrawRuns` after them is reported (one run of some 30 ms moves
   * by tens of percent with the machine's noise). Every run is kept.
   */
  readonly withdrawRuns: number;
  readonly withdrawWarmup: number;
  /** Upper bound for loading, syncing or withdrawing, seconds. */
  readonly stepTimeoutS: number;
}

export interface TableResult {
  readonly server: ServerKind;
  readonly routes: number;
  readonly victimRoutes: number;
  readonly announcers: number;
  readonly load: { readonly seconds: number; readonly routesPerSec: number } | undefined;
  readonly memory:
    | {
        readonly baselineRss: number;
        readonly rss: number;
        readonly rssPerRoute: number;
        readonly baselineHeapUsed?: number | undefined;
        readonly heapUsed?: number | undefined;
        readonly heapPerRoute?: number | undefined;
        readonly externalPerRoute?: number | undefined;
      }
    | undefined;
  readonly sync:
    | {
        readonly seconds: number;
        readonly connectSeconds: number;
        readonly received: number;
        readonly duplicates: number;
      }
    | undefined;
  readonly withdraw:
    | {
        /** Median of the measured runs (those after the warm-up). */
        readonly seconds: number;
        /** Every run's time, in order, warm-up first (absent in results saved before runs were repeated). */
        readonly runs?: readonly number[];
        /** How many of `runs` were warm-up. */
        readonly warmup?: number;
        readonly received: number;
        readonly duplicates: number;
        readonly routesAfter: number | undefined;
      }
    | undefined;
  readonly serverLog: Readonly<Record<string, number>>;
  readonly ok: boolean;
  readonly problems: readonly string[];
  /** Share of the machine busy during the second before the run (other work). */
  readonly background?: number;
}

const SENTINEL = 'sentinel';
/** A step fails when nothing arrives for this long (e.g. rustbond silently drops a subscriber). */
const STALL_MS = 15_000;
const VICTIM = 'victim';
const NEWSUB = 'newsub';

export async function runTable(server: RunningServer, o: TableOptions): Promise<TableResult> {
  const tag = `table ${server.kind} ${fmtCount(o.routes)}`;
  const victimRoutes = Math.min(o.victimRoutes, o.routes);
  const rest = o.routes - victimRoutes;
  const announcers = rest > 0 ? Math.max(1, o.announcers) : 0;
  const counts = Array.from(
    { length: announcers },
    (_, i) => Math.floor(rest / announcers) + (i < rest % announcers ? 1 : 0),
  );
  const problems: string[] = [];
  const timeoutMs = o.stepTimeoutS * 1000;
  // Worker 0: sentinel, victim, new subscriber (timed steps); worker 1: the other announcers.
  const pool = new WorkerPool(announcers > 0 ? 2 : 1);
  const w0 = pool.at(0);
  const wa = pool.at(1);
  const target = { host: server.host, port: server.port };
  const connectBase = { target, keepalive: o.keepalive, keepaliveEveryMs: 2000, timeoutMs: 30_000 };
  const announceVictim = () =>
    w0.request(
      {
        op: 'tableAnnounce',
        id: VICTIM,
        announcer: 0,
        count: victimRoutes,
        vni: o.vni,
        window: o.window,
        timeoutMs: 60_000,
      },
      timeoutMs,
    );
  let load: TableResult['load'];
  let memory: TableResult['memory'];
  let sync: TableResult['sync'];
  let withdraw: TableResult['withdraw'];
  try {
    const base = await server.memory();
    await w0.request({
      op: 'connect',
      ...connectBase,
      conns: [{ id: SENTINEL, subscribe: o.vni }, { id: VICTIM }],
    });
    if (announcers > 0) {
      await wa.request({
        op: 'connect',
        ...connectBase,
        conns: counts.map((_, i) => ({ id: `a${String(i + 1)}` })),
      });
    }
    // Probe: the sentinel's subscription is active before anything is loaded.
    for (const remove of [false, true]) {
      await w0.request({ op: 'probe', id: VICTIM, vni: o.vni, remove });
      await w0.request({
        op: 'wait',
        ids: [SENTINEL],
        adds: 1,
        removes: remove ? 1 : 0,
        timeoutMs: 20_000,
      });
    }
    await w0.request({ op: 'reset', ids: [SENTINEL] });

    progress(
      tag,
      `loading ${fmtCount(o.routes)} routes (victim ${fmtCount(victimRoutes)}, ${String(announcers)} more announcers, windows of ${String(o.window)})`,
    );
    const loadStart = Date.now();
    const loading = Promise.all([
      announceVictim(),
      ...counts.map((count, i) =>
        wa.request(
          {
            op: 'tableAnnounce',
            id: `a${String(i + 1)}`,
            announcer: i + 1,
            count,
            vni: o.vni,
            window: o.window,
            timeoutMs: 60_000,
          },
          timeoutMs,
        ),
      ),
    ]);
    const ticker = setInterval(() => {
      const s = w0.latest;
      if (s !== undefined)
        progress(tag, `sentinel has ${fmtCount(s.adds)} / ${fmtCount(o.routes)}`);
    }, 2000);
    let loaded: number;
    try {
      await loading;
      const r = await w0.request(
        { op: 'wait', ids: [SENTINEL], adds: o.routes, removes: 0, timeoutMs, stallMs: STALL_MS },
        timeoutMs + 5000,
      );
      loaded = r.at ?? Date.now();
    } finally {
      clearInterval(ticker);
    }
    const loadS = (loaded - loadStart) / 1000;
    load = { seconds: loadS, routesPerSec: o.routes / loadS };
    progress(tag, `loaded in ${fmtSeconds(loadS)} (${fmtRate(o.routes / loadS)} routes/s)`);

    const mem = await server.memory();
    memory = {
      baselineRss: base.rss,
      rss: mem.rss,
      rssPerRoute: (mem.rss - base.rss) / o.routes,
      baselineHeapUsed: base.heapUsed,
      heapUsed: mem.heapUsed,
      heapPerRoute:
        mem.heapUsed !== undefined && base.heapUsed !== undefined
          ? (mem.heapUsed - base.heapUsed) / o.routes
          : undefined,
      externalPerRoute:
        mem.external !== undefined && base.external !== undefined
          ? (mem.external - base.external) / o.routes
          : undefined,
    };
    progress(
      tag,
      `memory: RSS ${fmtBytes(mem.rss)} (${memory.rssPerRoute.toFixed(0)} B/route)` +
        (memory.heapPerRoute !== undefined
          ? `, heap ${memory.heapPerRoute.toFixed(0)} B/route`
          : ''),
    );
    const count0 = await routeCountSettled(server, o.routes);
    if (count0 !== undefined && count0 !== o.routes) {
      problems.push(
        `server reports ${String(count0)} routes after loading, expected ${String(o.routes)}`,
      );
    }

    if (o.sync) {
      try {
        const c0 = Date.now();
        const conn = await w0.request({ op: 'connect', ...connectBase, conns: [{ id: NEWSUB }] });
        const connectS = ((conn.at ?? Date.now()) - c0) / 1000;
        const r = await w0.request(
          {
            op: 'subscribe',
            id: NEWSUB,
            vni: o.vni,
            then: { id: NEWSUB, adds: o.routes, removes: 0, timeoutMs, stallMs: STALL_MS },
          },
          timeoutMs + 5000,
        );
        const seconds = ((r.at ?? 0) - (r.startedAt ?? 0)) / 1000;
        const after = await w0.request({ op: 'roundTrip', ids: [NEWSUB], timeoutMs: 30_000 });
        const received = after.counts?.[NEWSUB]?.adds ?? 0;
        sync = { seconds, connectSeconds: connectS, received, duplicates: received - o.routes };
        if (received !== o.routes) {
          problems.push(
            `new subscriber got ${String(received)} ADDs, expected ${String(o.routes)}`,
          );
        }
        progress(
          tag,
          `sync: new subscriber had all ${fmtCount(o.routes)} routes after ${fmtSeconds(seconds)}`,
        );
      } catch (e) {
        problems.push(`sync: ${errText(e)}`);
        progress(tag, `sync FAILED: ${errText(e)}`);
      } finally {
        await w0.request({ op: 'close', ids: [NEWSUB] }).catch(() => undefined);
      }
    }

    if (o.withdraw) {
      const runs: number[] = [];
      let received = 0;
      let routesAfter: number | undefined;
      try {
        const total = o.withdrawWarmup + o.withdrawRuns;
        for (let k = 0; k < total; k++) {
          if (k > 0) {
            // The victim comes back with the same routes; the sentinel has them all again.
            await w0.request({ op: 'reset', ids: [SENTINEL] });
            await w0.request({ op: 'connect', ...connectBase, conns: [{ id: VICTIM }] });
            await announceVictim();
            await w0.request(
              {
                op: 'wait',
                ids: [SENTINEL],
                adds: victimRoutes,
                removes: 0,
                timeoutMs,
                stallMs: STALL_MS,
              },
              timeoutMs + 5000,
            );
            await w0.request({ op: 'reset', ids: [SENTINEL] });
          }
          const r = await w0.request(
            {
              op: 'close',
              ids: [VICTIM],
              then: { id: SENTINEL, adds: 0, removes: victimRoutes, timeoutMs, stallMs: STALL_MS },
            },
            timeoutMs + 5000,
          );
          const seconds = ((r.at ?? 0) - (r.startedAt ?? 0)) / 1000;
          const after = await w0.request({ op: 'roundTrip', ids: [SENTINEL], timeoutMs: 30_000 });
          received = after.counts?.[SENTINEL]?.removes ?? 0;
          routesAfter = await routeCountSettled(server, o.routes - victimRoutes);
          runs.push(seconds);
          progress(
            tag,
            `withdraw ${String(k + 1)}/${String(total)}${k < o.withdrawWarmup ? ' (warm-up)' : ''}: ` +
              `${fmtCount(victimRoutes)} REMOVEs after ${fmtSeconds(seconds)}`,
          );
          if (received !== victimRoutes) {
            problems.push(
              `sentinel got ${String(received)} REMOVEs, expected ${String(victimRoutes)}`,
            );
            break;
          }
          if (routesAfter !== undefined && routesAfter !== o.routes - victimRoutes) {
            problems.push(
              `server holds ${String(routesAfter)} routes after the withdraw, expected ${String(o.routes - victimRoutes)}`,
            );
            break;
          }
        }
      } catch (e) {
        problems.push(`withdraw: ${errText(e)}`);
        progress(tag, `withdraw FAILED: ${errText(e)}`);
      }
      if (runs.length > 0) {
        // Warm-up runs count only when nothing else was measured (a failure stops the runs).
        const warmup = runs.length > o.withdrawWarmup ? o.withdrawWarmup : 0;
        const sorted = runs.slice(warmup).sort((a, b) => a - b);
        withdraw = {
          seconds: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
          runs,
          warmup,
          received,
          duplicates: received - victimRoutes,
          routesAfter,
        };
      }
    }
  } catch (e) {
    problems.push(errText(e));
    progress(tag, `FAILED: ${errText(e)}`);
  } finally {
    await pool.stop();
  }
  if (!server.alive()) problems.push('the server process died');
  return {
    server: server.kind,
    routes: o.routes,
    victimRoutes,
    announcers: announcers + 1,
    load,
    memory,
    sync,
    withdraw,
    serverLog: await server.logSummary().catch(() => ({})),
    ok: problems.length === 0,
    problems,
  };
}

function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/^worker \d+: /, '');
}

/** The server's route count once it reached `want` (rustbond reports it every 200 ms), or the last seen. */
async function routeCountSettled(server: RunningServer, want: number): Promise<number | undefined> {
  const deadline = Date.now() + 3000;
  for (;;) {
    const n = await server.routeCount();
    if (n === undefined || n === want || Date.now() > deadline) return n;
    await new Promise((r) => setTimeout(r, 100));
  }
}
