/**
 * Benchmark 4's measurement: the victim disconnects, the sentinel counts its REMOVEs; repeated,
 * with the victim coming back (reconnect, announce again) between runs. Used by lib/table.ts,
 * once on the loaded table and, in the same server process, once more after the other
 * announcers left (so only the table size differs between the two).
 */

import { fmtCount, fmtSeconds, progress } from './format.js';
import { routeCountSettled, type RunningServer } from './servers.js';
import type { Worker } from './workers.js';

export interface WithdrawFigure {
  /** Median of the measured runs (those after the warm-up). */
  readonly seconds: number;
  /** Every run's time, in order, warm-up first (absent in results saved before runs were repeated). */
  readonly runs?: readonly number[];
  /** How many of `runs` were warm-up. */
  readonly warmup?: number;
  readonly received: number;
  readonly duplicates: number;
  readonly routesAfter: number | undefined;
  /** Routes the server held before each withdraw (absent in older results: the table size). */
  readonly tableRoutes?: number;
}

export interface WithdrawSetup {
  readonly tag: string;
  readonly server: RunningServer;
  /** The worker holding the sentinel and the victim. */
  readonly w0: Worker;
  readonly sentinel: string;
  readonly victim: string;
  readonly victimRoutes: number;
  /** Connects the victim again (same id). */
  readonly reconnect: () => Promise<unknown>;
  /** The victim announces its routes (whole windows, as when loading). */
  readonly announce: () => Promise<unknown>;
  readonly timeoutMs: number;
  readonly stallMs: number;
  readonly warmup: number;
  readonly runs: number;
}

/**
 * Runs warm-up + measured withdraws of a table of `tableRoutes` routes. The victim is connected
 * with its routes announced when `victimPresent`; otherwise it comes back first. Problems are
 * appended to `problems`; a failing run ends the series.
 */
export async function measureWithdraws(
  s: WithdrawSetup,
  tableRoutes: number,
  victimPresent: boolean,
  problems: string[],
): Promise<WithdrawFigure | undefined> {
  const runs: number[] = [];
  let received = 0;
  let routesAfter: number | undefined;
  const { w0, sentinel, victimRoutes, timeoutMs } = s;
  const total = s.warmup + s.runs;
  try {
    for (let k = 0; k < total; k++) {
      if (k > 0 || !victimPresent) {
        // The victim comes back with the same routes; the sentinel has them all again.
        await w0.request({ op: 'reset', ids: [sentinel] });
        await s.reconnect();
        await s.announce();
        await w0.request(
          {
            op: 'wait',
            ids: [sentinel],
            adds: victimRoutes,
            removes: 0,
            timeoutMs,
            stallMs: s.stallMs,
          },
          timeoutMs + 5000,
        );
        await w0.request({ op: 'reset', ids: [sentinel] });
      }
      const r = await w0.request(
        {
          op: 'close',
          ids: [s.victim],
          then: { id: sentinel, adds: 0, removes: victimRoutes, timeoutMs, stallMs: s.stallMs },
        },
        timeoutMs + 5000,
      );
      const seconds = ((r.at ?? 0) - (r.startedAt ?? 0)) / 1000;
      // Quiet for 300 ms first: a KEEPALIVE reply may overtake queued REMOVEs.
      await w0.request({ op: 'quiet', ids: [sentinel], ms: 300, timeoutMs: 30_000 });
      const after = await w0.request({ op: 'roundTrip', ids: [sentinel], timeoutMs: 30_000 });
      received = after.counts?.[sentinel]?.removes ?? 0;
      routesAfter = await routeCountSettled(s.server, tableRoutes - victimRoutes);
      runs.push(seconds);
      progress(
        s.tag,
        `withdraw ${String(k + 1)}/${String(total)}${k < s.warmup ? ' (warm-up)' : ''}, table ${fmtCount(tableRoutes)}: ` +
          `${fmtCount(victimRoutes)} REMOVEs after ${fmtSeconds(seconds)}`,
      );
      if (received !== victimRoutes) {
        problems.push(`sentinel got ${String(received)} REMOVEs, expected ${String(victimRoutes)}`);
        break;
      }
      if (routesAfter !== undefined && routesAfter !== tableRoutes - victimRoutes) {
        problems.push(
          `server holds ${String(routesAfter)} routes after the withdraw, expected ${String(tableRoutes - victimRoutes)}`,
        );
        break;
      }
    }
  } catch (e) {
    const text = (e instanceof Error ? e.message : String(e)).replace(/^worker \d+: /, '');
    problems.push(`withdraw: ${text}`);
    progress(s.tag, `withdraw FAILED: ${text}`);
  }
  if (runs.length === 0) return undefined;
  // Warm-up runs count only when nothing else was measured (a failure stops the runs).
  const warmup = runs.length > s.warmup ? s.warmup : 0;
  const sorted = runs.slice(warmup).sort((a, b) => a - b);
  return {
    seconds: sorted[Math.floor((sorted.length - 1) / 2)] ?? 0,
    runs,
    warmup,
    received,
    duplicates: received - victimRoutes,
    routesAfter,
    tableRoutes,
  };
}
