/**
 * Snapshot storm (issue 10, target (a)): a VNI of R routes (default 1,000,000) loaded on the
 * server, then S subscribers (default 200; generator clients announcing REASSEMBLY, so the server
 * writes to them at full speed) subscribe at the same moment. Checked per subscriber: exactly R
 * ADDs, no REMOVE, and an order-independent checksum of the received routes equal to the loaded
 * table's (catches missing and duplicate routes without a set per subscriber). Measured: when
 * each subscriber had its R routes (first, median, last, from the moment the SUBSCRIBEs were
 * written), and the server's peak RSS over its loaded size (VmRSS sampled every 20 ms by the
 * driver, and VmHWM, the kernel's own peak, read before and after).
 */

import { fmtBytes, fmtCount, fmtSeconds, progress } from './format.js';
import { featuresText } from './hello.js';
import { loadTable, loadedSum } from './loader.js';
import { sumText, sumsEqual } from './route-sum.js';
import type { RunningServer, ServerKind } from './servers.js';
import { WorkerPool } from './workers.js';

export interface StormOptions {
  readonly routes: number;
  readonly subscribers: number;
  readonly announcers: number;
  readonly window: number;
  readonly vni: number;
  readonly keepalive: number;
  /** HELLO field 1000 of the subscribers (undefined: none). */
  readonly features: number | undefined;
  readonly workers: number;
  /** Targets: the last subscriber complete within this, peak RSS growth below that. */
  readonly targetS: number;
  readonly rssGrowthLimitBytes: number;
  /** Safety stop: the server is killed when its RSS grows by more than this over its loaded size. */
  readonly rssAbortBytes: number;
  /** Bounds: the whole storm, and silence on one subscriber. */
  readonly timeoutS: number;
  readonly stallS: number;
  readonly sampleMs: number;
}

export interface StormResult {
  readonly server: ServerKind;
  readonly serverFlags: readonly string[];
  readonly routes: number;
  readonly subscribers: number;
  readonly features: number | undefined;
  readonly loadS: number;
  /** RSS before loading, after loading (after a full GC for tsbond), peak during the storm. */
  readonly baselineRss: number;
  readonly loadedRss: number;
  readonly peakRss: number;
  readonly peakGrowth: number;
  readonly hwmBefore: number;
  readonly hwmAfter: number;
  readonly rssSamples: number;
  /** Seconds from the SUBSCRIBEs to each subscriber's last route: first, median, last. */
  readonly firstS: number | undefined;
  readonly medianS: number | undefined;
  readonly lastS: number | undefined;
  readonly complete: number;
  readonly exact: number;
  /** Subscribers that received SYNCED (only with SYNC_MARKER among the features). */
  readonly synced: number;
  readonly expectedSum: string;
  readonly failures: readonly string[];
  readonly targetMet: { readonly exact: boolean; readonly rss: boolean; readonly time: boolean };
  readonly ok: boolean;
  readonly problems: readonly string[];
  readonly background?: number;
}

function median(xs: readonly number[]): number | undefined {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? undefined : s[Math.floor((s.length - 1) / 2)];
}

export async function runStorm(server: RunningServer, o: StormOptions): Promise<StormResult> {
  const tag = `storm ${server.kind} ${fmtCount(o.routes)} x ${String(o.subscribers)}`;
  const problems: string[] = [];
  const failures: string[] = [];
  const baselineRss = server.rssNow()?.rss ?? 0;
  const loaded = await loadTable(server, { ...o, timeoutMs: o.timeoutS * 1000 }, tag);
  const pool = new WorkerPool(Math.max(1, Math.min(o.workers, o.subscribers)));
  const ids = (w: number): string[] =>
    Array.from({ length: o.subscribers }, (_, i) => i)
      .filter((i) => i % pool.workers.length === w)
      .map((i) => `s${String(i)}`);
  let peak = 0;
  let samples = 0;
  let aborted: string | undefined;
  let sampler: NodeJS.Timeout | undefined;
  try {
    if (loaded.serverRoutes !== undefined && loaded.serverRoutes !== o.routes) {
      problems.push(`the server holds ${String(loaded.serverRoutes)} routes after loading`);
    }
    const expected = loadedSum(o.vni, loaded);
    await pool.all((w) => ({
      op: 'connect',
      target: { host: server.host, port: server.port },
      conns: ids(w.index).map((id) => ({ id, features: o.features, sums: true })),
      keepalive: o.keepalive,
      keepaliveEveryMs: 2000,
      timeoutMs: 30_000,
    }));
    // The loaded size: after a full GC where the server can be asked (tsbond), else as is.
    const mem = await server.memory();
    const loadedRss = mem.rss;
    const hwmBefore = server.rssNow()?.hwm ?? 0;
    peak = server.rssNow()?.rss ?? loadedRss;
    sampler = setInterval(() => {
      const r = server.rssNow();
      if (r !== undefined) {
        peak = Math.max(peak, r.rss);
        samples++;
        if (r.rss - loadedRss > o.rssAbortBytes && aborted === undefined) {
          aborted = `server killed: its RSS grew by ${fmtBytes(r.rss - loadedRss)} (safety bound ${fmtBytes(o.rssAbortBytes)})`;
          progress(tag, aborted);
          server.kill();
        }
      }
    }, o.sampleMs);
    progress(
      tag,
      `loaded RSS ${fmtBytes(loadedRss)}; ${String(o.subscribers)} subscribers (${featuresText(o.features)}) subscribe now`,
    );
    const ticker = setInterval(() => {
      const s = pool.latest();
      progress(
        tag,
        `${fmtCount(s.adds)} of ${fmtCount(o.routes * o.subscribers)} routes delivered; peak RSS +${fmtBytes(peak - loadedRss)}`,
      );
    }, 5000);
    let replies;
    try {
      replies = await pool.all(
        (w) => ({
          op: 'storm',
          ids: ids(w.index),
          vni: o.vni,
          adds: o.routes,
          timeoutMs: o.timeoutS * 1000,
          stallMs: o.stallS * 1000,
        }),
        o.timeoutS * 1000 + 30_000,
      );
    } finally {
      clearInterval(ticker);
    }
    const start = Math.min(...replies.map((r) => r.startedAt ?? Infinity));
    const times: number[] = [];
    for (const r of replies) {
      for (const [id, x] of Object.entries(r.storm ?? {})) {
        if (x.completedAt !== undefined) times.push((x.completedAt - start) / 1000);
        else failures.push(`${id}: ${x.error ?? 'incomplete'}`);
      }
    }
    // A quiet second: duplicates sent after the last route would show in the counts.
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(sampler);
    sampler = undefined;
    const hwmAfter = server.rssNow()?.hwm ?? 0;
    if (hwmAfter > hwmBefore) peak = Math.max(peak, hwmAfter);
    const details = await pool.all((w) => ({ op: 'details', ids: ids(w.index) }));
    let exact = 0;
    let synced = 0;
    for (const d of details) {
      for (const [id, c] of Object.entries(d.details ?? {})) {
        if (c.synced > 0) synced++;
        const sum = c.addSum;
        const ok =
          c.adds === o.routes &&
          c.removes === 0 &&
          sum !== undefined &&
          sumsEqual(sum, expected) &&
          c.lost === undefined;
        if (ok) exact++;
        else if (failures.length < 10) {
          failures.push(
            `${id}: ${String(c.adds)} ADDs, ${String(c.removes)} REMOVEs, checksum ${sum === undefined ? 'n/a' : sumText(sum)} (expected ${sumText(expected)})${c.lost === undefined ? '' : `; lost: ${c.lost}`}`,
          );
        }
      }
    }
    const lastS = times.length === o.subscribers ? Math.max(...times) : undefined;
    const growth = peak - loadedRss;
    const targetMet = {
      exact: exact === o.subscribers,
      rss: growth < o.rssGrowthLimitBytes,
      time: lastS !== undefined && lastS <= o.targetS,
    };
    if (!targetMet.exact) {
      problems.push(
        `${String(o.subscribers - exact)} of ${String(o.subscribers)} subscribers without the exact view`,
      );
    }
    if (aborted !== undefined) problems.push(aborted);
    else if (!server.alive()) problems.push('the server process died');
    progress(
      tag,
      `done: ${String(exact)}/${String(o.subscribers)} exact; complete after ${fmtSeconds(Math.min(...times))} (first), ` +
        `${fmtSeconds(median(times))} (median), ${fmtSeconds(lastS)} (last); peak RSS +${fmtBytes(growth)} over ${fmtBytes(loadedRss)}` +
        (failures.length > 0 ? `; failures: ${failures.slice(0, 3).join(' | ')}` : ''),
    );
    return {
      server: server.kind,
      serverFlags: server.flags,
      routes: o.routes,
      subscribers: o.subscribers,
      features: o.features,
      loadS: loaded.seconds,
      baselineRss,
      loadedRss,
      peakRss: peak,
      peakGrowth: growth,
      hwmBefore,
      hwmAfter,
      rssSamples: samples,
      firstS: times.length > 0 ? Math.min(...times) : undefined,
      medianS: median(times),
      lastS,
      complete: times.length,
      exact,
      synced,
      expectedSum: sumText(expected),
      failures,
      targetMet,
      ok: problems.length === 0,
      problems,
    };
  } finally {
    if (sampler !== undefined) clearInterval(sampler);
    await pool.stop();
    await loaded.pool.stop();
  }
}
