/**
 * The fan-out series of a benchmark run: ladders (retried, extended, bisected), unpaced runs
 * alternating between the servers, the Go-compatible and mixed fleets, runs with extra flags
 * (--compare-flags), and paced-one (baseline and paced runs alternating).
 */

import type { FanoutResult } from './fanout-result.js';
import type { FleetName } from './fleet.js';
import { fmtRate, progress } from './format.js';
import type { Runner } from './runner.js';
import type { ServerKind } from './servers.js';

/** Two significant digits (bisected rates read well: 35k, not 35355). */
function roundRate(x: number): number {
  return Number(x.toPrecision(2));
}

/** A rung passes when every update reached every receiver (views exact, nothing lost). */
export function passes(r: FanoutResult): boolean {
  return r.ok && r.deliveryRatio === 1;
}

/**
 * Paced rungs ascending; a failing rung is re-run `retry` times; after the listed rates the
 * ladder goes on doubling (up to maxRate) while the server passes, so that no server's best is
 * capped by the ladder; then `refine` runs bisect between its highest passing and lowest failing
 * rate.
 */
export async function ladder(run: Runner, kind: ServerKind, fleetName: FleetName): Promise<void> {
  const fo = run.o.fanout;
  const listed = [...new Set(fo.rates.filter((x) => x > 0))].sort((a, b) => a - b);
  let lastOk: number | undefined;
  let firstFail: number | undefined;
  for (let i = 0; ; i++) {
    const prev = lastOk ?? 0;
    const rate =
      i < listed.length
        ? listed[i]
        : fo.extend && prev > 0 && prev * 2 <= fo.maxRate
          ? prev * 2
          : undefined;
    if (rate === undefined) break;
    const step = i < listed.length ? 'ladder' : 'extend';
    let ok = passes(await run.fanout(kind, fleetName, rate, { step }));
    for (let k = 0; !ok && k < fo.retry; k++) {
      progress('bench', `fanout ${kind} ${fmtRate(rate)}/s failed: once more`);
      ok = passes(await run.fanout(kind, fleetName, rate, { step: 'retry' }));
    }
    if (!ok) {
      firstFail = rate;
      const rest = listed.filter((x) => x > rate);
      if (rest.length > 0) {
        const why = `fanout ${kind} [${fleetName}] paced ${rest.map(fmtRate).join(', ')}/s skipped: failed at ${fmtRate(rate)}/s`;
        progress('bench', why);
        run.out.skipped.push(why);
      }
      break;
    }
    lastOk = rate;
  }
  if (firstFail === undefined) return;
  let hi = firstFail;
  let lo = lastOk ?? 0;
  for (let k = 0; k < fo.refine; k++) {
    const m = roundRate(lo > 0 ? Math.sqrt(lo * hi) : hi / 2);
    if (m <= lo || m >= hi) break;
    if (passes(await run.fanout(kind, fleetName, m, { step: 'refine' }))) lo = m;
    else hi = m;
  }
}

/** `rounds` unpaced runs of a fleet on tsbond. */
async function unpacedRounds(
  run: Runner,
  fleetName: FleetName,
  rounds: number,
  flags?: readonly string[],
): Promise<void> {
  for (let round = 1; round <= rounds; round++) {
    await run.fanout('tsbond', fleetName, 0, {
      round,
      rounds,
      step: flags === undefined ? 'unpaced' : 'compare-flags',
      ...(flags === undefined ? {} : { flags }),
    });
  }
}

export async function fanoutSeries(run: Runner): Promise<void> {
  const fo = run.o.fanout;
  if (fo.fleets.includes('tsbond')) {
    await run.section('fan-out, default tsbond peers', async () => {
      // Ladders first (the forwarder only runs unpaced: it is the ceiling of that comparison).
      for (const kind of run.env.usable)
        if (kind !== 'forwarder') await ladder(run, kind, 'tsbond');
      if (!fo.rates.includes(0)) return;
      // Unpaced, alternating between the servers round by round, so that slow drifts of the
      // machine hit all of them alike; every server gets the same number of runs.
      for (let round = 1; round <= fo.repeat; round++) {
        for (const kind of run.env.usable) {
          progress('bench', `unpaced round ${String(round)}/${String(fo.repeat)}: ${kind}`);
          await run.fanout(kind, 'tsbond', 0, { round, rounds: fo.repeat, step: 'unpaced' });
        }
      }
    });
  }
  if (!run.has('tsbond')) return;
  await run.section('fan-out, Go-compatible and mixed fleets', async () => {
    if (fo.fleets.includes('plain')) {
      // The ladder until the first rate the paced peers cannot take whole (a backlog starts
      // coalescing: correct, but no longer every update), then the unpaced runs.
      if (!run.o.smoke) await ladder(run, 'tsbond', 'plain');
      await unpacedRounds(run, 'plain', fo.fleetRepeat);
    }
    if (fo.fleets.includes('mixed')) await unpacedRounds(run, 'mixed', fo.fleetRepeat);
    const alt = run.o.compareFlags;
    if (alt !== undefined && fo.fleets.includes('tsbond')) {
      await unpacedRounds(run, 'tsbond', fo.fleetRepeat, [...run.o.serverFlags, ...alt]);
    }
  });
}

/** Paced-one: baseline and paced runs alternating, `pacedRepeat` rounds. */
export async function pacedOneSeries(run: Runner): Promise<void> {
  const n = run.o.fanout.pacedRepeat;
  await run.section('one paced subscriber', async () => {
    for (let round = 1; round <= n; round++) {
      for (const name of ['one-paced-baseline', 'one-paced'] as const) {
        progress('bench', `paced-one round ${String(round)}/${String(n)}: ${name}`);
        await run.fanout('tsbond', name, 0, { round, rounds: n, step: 'unpaced' });
      }
    }
  });
}
