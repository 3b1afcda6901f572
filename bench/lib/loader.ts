/**
 * Loads a table into a server: K announcer connections (`a1..aK` in one worker process, kept
 * connected: a peer that leaves takes its routes with it) announce their TableFrames in windows
 * of W frames, each followed by a KEEPALIVE round trip (so a Go server never gets more than one
 * window per read); loaded = the server reports the route count (tsbond, rustbond) after every
 * announcer's last round trip.
 */

import { fmtCount, fmtRate, fmtSeconds, progress } from './format.js';
import { tableSum } from './frames.js';
import type { SumValue } from './route-sum.js';
import { routeCountSettled, type RunningServer } from './servers.js';
import { WorkerPool } from './workers.js';

export interface LoadOptions {
  readonly routes: number;
  readonly announcers: number;
  readonly window: number;
  readonly vni: number;
  readonly keepalive: number;
  readonly timeoutMs: number;
  /** HELLO field 1000 of the announcers. */
  readonly features: number | undefined;
}

export interface LoadedTable {
  /** Announcer index (address plan of TableFrames) and route count of each announcer. */
  readonly announcers: readonly { announcer: number; count: number }[];
  readonly seconds: number;
  /** Routes the server reports after loading (undefined: it cannot tell). */
  readonly serverRoutes: number | undefined;
  /** The worker holding the announcers; stop() withdraws the table. */
  readonly pool: WorkerPool;
}

/** Announcer i gets an equal share (announcers numbered from 1). */
export function splitRoutes(
  routes: number,
  announcers: number,
): { announcer: number; count: number }[] {
  const k = Math.max(1, Math.min(announcers, routes));
  return Array.from({ length: k }, (_, i) => ({
    announcer: i + 1,
    count: Math.floor(routes / k) + (i < routes % k ? 1 : 0),
  }));
}

export async function loadTable(
  server: RunningServer,
  o: LoadOptions,
  tag: string,
): Promise<LoadedTable> {
  const announcers = splitRoutes(o.routes, o.announcers);
  const pool = new WorkerPool(1);
  const w = pool.at(0);
  try {
    await w.request({
      op: 'connect',
      target: { host: server.host, port: server.port },
      conns: announcers.map((a) => ({ id: `a${String(a.announcer)}`, features: o.features })),
      keepalive: o.keepalive,
      keepaliveEveryMs: 2000,
      timeoutMs: 30_000,
    });
    progress(
      tag,
      `loading ${fmtCount(o.routes)} routes from ${String(announcers.length)} announcers`,
    );
    const t0 = performance.now();
    await Promise.all(
      announcers.map((a) =>
        w.request(
          {
            op: 'tableAnnounce',
            id: `a${String(a.announcer)}`,
            announcer: a.announcer,
            count: a.count,
            vni: o.vni,
            window: o.window,
            timeoutMs: 60_000,
          },
          o.timeoutMs,
        ),
      ),
    );
    const serverRoutes = await routeCountSettled(server, o.routes);
    const seconds = (performance.now() - t0) / 1000;
    progress(
      tag,
      `loaded in ${fmtSeconds(seconds)} (${fmtRate(o.routes / seconds)} routes/s); server reports ${serverRoutes === undefined ? 'n/a' : fmtCount(serverRoutes)}`,
    );
    return { announcers, seconds, serverRoutes, pool };
  } catch (e) {
    await pool.stop();
    throw e;
  }
}

/** The checksum every subscriber must end with after the snapshot of the loaded table. */
export function loadedSum(vni: number, t: Pick<LoadedTable, 'announcers'>): SumValue {
  return tableSum(vni, t.announcers);
}
