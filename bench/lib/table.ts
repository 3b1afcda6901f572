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
import { routeCountSettled, type RunningServer, type ServerKind } from './servers.js';
import { measureWithdraws, type WithdrawFigure, type WithdrawSetup } from './withdraw.js';
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
  /**
   * HELLO field 1000 of every generator client (lib/hello.ts): REASSEMBLY makes them default
   * tsbond peers, which a default tsbond server does not pace (Go and rustbond ignore the field).
   */
  readonly features: number | undefined;
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
  /** Also measure after the other announcers left, in the same server process. */
  readonly withdrawShrink: boolean;
  /** Upper bound for loading, syncing or withdrawing, seconds. */
  readonly stepTimeoutS: number;
}

export interface TableResult {
  readonly server: ServerKind;
  /** HELLO field 1000 of the generator clients (absent in older results: none). */
  readonly features?: number | undefined;
  /** Flags of `tsbond server` ([] = defaults; absent in older results). */
  readonly serverFlags?: readonly string[];
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
  readonly withdraw: WithdrawFigure | undefined;
  /**
   * The same withdraw in the same server process after the other announcers left (the table then
   * holds only the victim's routes): the comparison where only the table size differs.
   */
  readonly withdrawShrunk?: WithdrawFigure | undefined;
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
  let withdrawShrunk: TableResult['withdrawShrunk'];
  try {
    const base = await server.memory();
    await w0.request({
      op: 'connect',
      ...connectBase,
      conns: [
        { id: SENTINEL, subscribe: o.vni, features: o.features },
        { id: VICTIM, features: o.features },
      ],
    });
    if (announcers > 0) {
      await wa.request({
        op: 'connect',
        ...connectBase,
        conns: counts.map((_, i) => ({ id: `a${String(i + 1)}`, features: o.features })),
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
        const conn = await w0.request({
          op: 'connect',
          ...connectBase,
          conns: [{ id: NEWSUB, features: o.features }],
        });
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
        // Quiet for 500 ms (a KEEPALIVE reply may overtake queued data, so a round trip alone
        // does not prove that nothing more is coming): duplicates would show in the count.
        await w0.request({ op: 'quiet', ids: [NEWSUB], ms: 500, timeoutMs: 30_000 });
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
      const setup: WithdrawSetup = {
        tag,
        server,
        w0,
        sentinel: SENTINEL,
        victim: VICTIM,
        victimRoutes,
        reconnect: () =>
          w0.request({
            op: 'connect',
            ...connectBase,
            conns: [{ id: VICTIM, features: o.features }],
          }),
        announce: announceVictim,
        timeoutMs,
        stallMs: STALL_MS,
        warmup: o.withdrawWarmup,
        runs: o.withdrawRuns,
      };
      withdraw = await measureWithdraws(setup, o.routes, true, problems);
      if (withdraw !== undefined && problems.length === 0 && announcers > 0 && o.withdrawShrink) {
        // The other announcers leave; the table holds the victim's routes only (once it is back).
        progress(
          tag,
          `the other announcers leave: table ${fmtCount(o.routes)} -> ${fmtCount(victimRoutes)}`,
        );
        await w0.request({ op: 'reset', ids: [SENTINEL] });
        await wa.request({ op: 'close', ids: counts.map((_, i) => `a${String(i + 1)}`) });
        await w0.request(
          { op: 'wait', ids: [SENTINEL], adds: 0, removes: rest, timeoutMs, stallMs: STALL_MS },
          timeoutMs + 5000,
        );
        withdrawShrunk = await measureWithdraws(setup, victimRoutes, false, problems);
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
    features: o.features,
    serverFlags: server.flags,
    routes: o.routes,
    victimRoutes,
    announcers: announcers + 1,
    load,
    memory,
    sync,
    withdraw,
    withdrawShrunk,
    serverLog: await server.logSummary().catch(() => ({})),
    ok: problems.length === 0,
    problems,
  };
}

function errText(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).replace(/^worker \d+: /, '');
}
