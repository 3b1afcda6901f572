/** Fan-out tables and summaries, shared by the text report and BENCHMARKS.md. */

import type { FanoutResult } from './fanout-result.js';
import { fmtBytes, fmtPct, fmtRate, fmtSeconds } from './format.js';
import { featuresText } from './hello.js';
import {
  flagsOf,
  flagsText,
  fleetOf,
  median,
  runsOf,
  unpacedMedian,
  type RunResults,
} from './results.js';
import { SERVER_LABEL } from './servers.js';

export function modeLabel(f: FanoutResult): string {
  const round =
    f.rounds !== undefined && f.rounds > 1 ? ` (run ${String(f.round)}/${String(f.rounds)})` : '';
  const step =
    f.step === 'retry'
      ? ' (retry)'
      : f.step === 'refine'
        ? ' (bisect)'
        : f.step === 'extend'
          ? ' (extended)'
          : '';
  const who =
    f.fleet === 'one-paced'
      ? ', last subscriber paced'
      : f.fleet === 'one-paced-baseline'
        ? ', baseline (all unpaced)'
        : '';
  return f.mode === 'paced'
    ? `paced ${fmtRate(f.targetRate)}/s${step}${who}`
    : `unpaced${who}${round}`;
}

export const FANOUT_HEADER = [
  'server',
  'server flags',
  'mode',
  'sent upd/s',
  'delivered upd/s',
  'delivery',
  'lost sessions',
  'server CPU',
  'generators CPU',
  'other processes CPU',
  'server peak RSS / largest peer queue',
  'limited by',
];

export function fanoutRows(rs: readonly FanoutResult[]): string[][] {
  return rs.map((f) => [
    SERVER_LABEL[f.server],
    f.server === 'tsbond' ? flagsText(flagsOf(f)) : '',
    modeLabel(f),
    fmtRate(f.sentPerSec),
    fmtRate(f.deliveredPerSec),
    fmtPct(f.deliveryRatio),
    String(f.lostSessions),
    `${(f.cpu.server * 100).toFixed(0)}%`,
    `${(f.cpu.generators * 100).toFixed(0)}%`,
    `${(f.cpu.others * 100).toFixed(0)}%`,
    fmtBytes(f.serverPeakRss) +
      (f.serverPeakQueuedBytes === undefined ? '' : ` / ${fmtBytes(f.serverPeakQueuedBytes)}`),
    f.ok ? f.limitedBy : `FAILED: ${f.problems.join('; ')}`,
  ]);
}

export const GROUP_HEADER = [
  'mode',
  'group',
  'clients',
  'HELLO features',
  'delivered upd/s',
  'delivered / every update',
  'drain after the stop',
  'check',
];

/** Per group of the multi-group fleets (mixed, plain, paced-one). */
export function groupRows(rs: readonly FanoutResult[]): string[][] {
  return rs.flatMap((f) =>
    (f.groups ?? []).map((g) => [
      modeLabel(f),
      g.name,
      `${String(g.clients)}${g.publish ? '' : ' (subscribe only)'}`,
      featuresText(g.features),
      fmtRate(g.deliveredPerSec),
      fmtPct(g.expected === 0 ? undefined : g.delivered / g.expected),
      fmtSeconds(g.drainS),
      g.ok
        ? [
            g.viewLeft !== undefined ? 'views exact (no duplicate, empty at the end)' : 'exact',
            ...(g.notes ?? []),
          ].join('; ')
        : `FAILED: ${g.problems.join('; ')}`,
    ]),
  );
}

/** The per-round ratios and medians of tsbond vs the forwarder (unpaced, main fleet). */
export interface CeilingSummary {
  readonly ts: FanoutResult;
  readonly fw: FanoutResult;
  readonly share: number;
  readonly rounds: readonly number[];
  readonly runs: number;
}

export function ceiling(
  r: RunResults,
  fleet: ReturnType<typeof fleetOf>,
): CeilingSummary | undefined {
  const flags = fleet === 'legacy' ? undefined : (r.serverFlags ?? []);
  const tsRuns = runsOf(r, 'tsbond', fleet, flags).filter((f) => f.mode === 'unpaced');
  const fwRuns = runsOf(r, 'forwarder', fleet).filter((f) => f.mode === 'unpaced');
  const ts = unpacedMedian(tsRuns);
  const fw = unpacedMedian(fwRuns);
  if (ts === undefined || fw === undefined || fw.deliveredPerSec === 0) return undefined;
  const byRound = (xs: FanoutResult[]): FanoutResult[] =>
    [...xs].sort((a, b) => (a.round ?? 0) - (b.round ?? 0));
  const a = byRound(tsRuns);
  const b = byRound(fwRuns);
  const rounds =
    a.length === b.length
      ? a.map((t, i) => t.deliveredPerSec / (b[i]?.deliveredPerSec ?? NaN))
      : [];
  return {
    ts,
    fw,
    share: ts.deliveredPerSec / fw.deliveredPerSec,
    rounds,
    runs: Math.min(a.length, b.length),
  };
}

/** Paced-one: the 49 publishers' delivered updates/s with and without the paced subscriber. */
export interface PacedOneSummary {
  readonly baseline: readonly FanoutResult[];
  readonly paced: readonly FanoutResult[];
  readonly baselineMedian: number | undefined;
  readonly pacedMedian: number | undefined;
  readonly share: number | undefined;
  /** Every paced run: the publishers exact and the paced subscriber's view exact. */
  readonly exact: boolean;
  /** Seconds from the end of publishing until the paced subscriber had drained, per run. */
  readonly drains: readonly number[];
}

function publishersRate(f: FanoutResult): number {
  return f.groups?.find((g) => g.name === 'publishers')?.deliveredPerSec ?? f.deliveredPerSec;
}

export function pacedOne(r: RunResults): PacedOneSummary | undefined {
  const baseline = r.fanout.filter((f) => fleetOf(f) === 'one-paced-baseline');
  const paced = r.fanout.filter((f) => fleetOf(f) === 'one-paced');
  if (paced.length === 0) return undefined;
  const b = median(baseline, publishersRate);
  const p = median(paced, publishersRate);
  const bm = b === undefined ? undefined : publishersRate(b);
  const pm = p === undefined ? undefined : publishersRate(p);
  return {
    baseline,
    paced,
    baselineMedian: bm,
    pacedMedian: pm,
    share: bm === undefined || pm === undefined || bm === 0 ? undefined : pm / bm,
    exact: paced.every((f) => f.ok),
    drains: paced.map((f) => f.groups?.find((g) => g.name === 'observer')?.drainS ?? NaN),
  };
}

/** Median unpaced run of a fleet (tsbond), with the rate of one group when named. */
export function fleetMedian(
  r: RunResults,
  fleet: 'plain' | 'mixed',
): { run: FanoutResult; runs: number } | undefined {
  const runs = runsOf(r, 'tsbond', fleet).filter((f) => f.mode === 'unpaced');
  const run = unpacedMedian(runs);
  return run === undefined ? undefined : { run, runs: runs.length };
}
