/** The shape of a run's results (bench/results/*.json) and small selectors used by the reports. */

import type { ClientSyncResult } from './client-sync.js';
import type { ExtraResult } from './extra.js';
import type { FanoutResult } from './fanout-result.js';
import type { FleetName } from './fleet.js';
import type { MachineInfo } from './machine.js';
import type { ProfileSummary } from './profile.js';
import type { ServerKind } from './servers.js';
import type { StormResult } from './storm.js';
import type { TableResult } from './table.js';

export interface SectionTime {
  readonly name: string;
  readonly seconds: number;
}

export interface RunResults {
  readonly startedAt: string;
  /** Wall time of the whole run (absent in older results). */
  readonly durationS?: number;
  readonly sections?: readonly SectionTime[];
  readonly command: string;
  readonly machine: MachineInfo;
  readonly smoke: boolean;
  readonly options: unknown;
  /** Flags of `tsbond server` of the main figures ([] = defaults; absent in older results). */
  readonly serverFlags?: readonly string[];
  /** The tsbond server's resolved configuration with `serverFlags` (as its probe reported it). */
  readonly serverConfig?: unknown;
  /** Flags of the extra unpaced runs reported beside the default ones (--compare-flags). */
  readonly compareFlags?: readonly string[];
  readonly fanout: readonly FanoutResult[];
  readonly table: readonly TableResult[];
  readonly storm?: readonly StormResult[];
  readonly clientSync?: readonly ClientSyncResult[];
  readonly extra?: Readonly<Record<string, ExtraResult>>;
  readonly profile: ProfileSummary | undefined;
  /** Runs not made, and why. */
  readonly skipped?: readonly string[];
  /** Set when these results merge several runs (`report A.json B.json ...`): one per run. */
  readonly parts?: readonly RunPart[];
}

export interface RunPart {
  readonly file: string;
  readonly command: string;
  readonly startedAt: string;
  readonly durationS?: number;
  readonly source: string;
}

/**
 * Several runs as one (each benchmark taken from the run that measured it): their figures side by
 * side, the machine and flags of the last run given, and the list of runs in `parts`. Give the
 * runs oldest first: an extra benchmark measured by several of them is taken from the last one.
 * Runs of different tsbond server flags are refused (every figure would be labelled with the same
 * flags).
 */
export function mergeResults(runs: readonly { file: string; r: RunResults }[]): RunResults {
  const first = runs[runs.length - 1]?.r;
  if (first === undefined) throw new Error('nothing to merge');
  for (const { file, r } of runs) {
    if (JSON.stringify(r.serverFlags ?? null) !== JSON.stringify(first.serverFlags ?? null))
      throw new Error(`${file}: other tsbond server flags than the first run`);
  }
  const all = runs.map((x) => x.r);
  const extra: Record<string, ExtraResult> = {};
  for (const r of all) Object.assign(extra, r.extra ?? {});
  return {
    ...first,
    command: all.map((r) => r.command).join('\n'),
    durationS: all.reduce((n, r) => n + (r.durationS ?? 0), 0),
    sections: all.flatMap((r) => r.sections ?? []),
    fanout: all.flatMap((r) => r.fanout),
    table: all.flatMap((r) => r.table),
    storm: all.flatMap((r) => r.storm ?? []),
    clientSync: all.flatMap((r) => r.clientSync ?? []),
    extra,
    profile: all.find((r) => r.profile !== undefined)?.profile,
    skipped: all.flatMap((r) => r.skipped ?? []),
    parts: runs.map(({ file, r }) => ({
      file,
      command: r.command,
      startedAt: r.startedAt,
      ...(r.durationS !== undefined && { durationS: r.durationS }),
      source: r.machine.source,
    })),
  };
}

/**
 * The fleet of a fan-out run. Results saved before fleets existed had generator clients without
 * field 1000 and a tsbond server with pacing off: reported as 'legacy'.
 */
export function fleetOf(f: FanoutResult): FleetName | 'legacy' {
  return f.fleet ?? 'legacy';
}

/**
 * Flags of `tsbond server` a run used. Older results: the probe then ran the server with the
 * library option `pacing: false`, i.e. `--no-pacing`.
 */
export function flagsOf(f: { server: ServerKind; serverFlags?: readonly string[] }): string[] {
  if (f.server !== 'tsbond') return [];
  return [...(f.serverFlags ?? ['--no-pacing'])];
}

export function flagsText(flags: readonly string[]): string {
  return flags.length === 0 ? 'defaults' : flags.join(' ');
}

export function median<T>(xs: readonly T[], by: (x: T) => number): T | undefined {
  const s = [...xs].sort((a, b) => by(a) - by(b));
  return s[Math.floor((s.length - 1) / 2)];
}

/** Fan-out runs of one server, fleet and flags set. */
export function runsOf(
  r: RunResults,
  kind: ServerKind,
  fleet: FleetName | 'legacy',
  flags?: readonly string[],
): FanoutResult[] {
  const want = flags === undefined ? undefined : flagsText(flags);
  return r.fanout.filter(
    (f) =>
      f.server === kind &&
      fleetOf(f) === fleet &&
      (want === undefined || flagsText(flagsOf(f)) === want),
  );
}

/** The median unpaced run (by delivered updates/s; the lower middle for an even count). */
export function unpacedMedian(runs: readonly FanoutResult[]): FanoutResult | undefined {
  return median(
    runs.filter((f) => f.mode === 'unpaced'),
    (f) => f.deliveredPerSec,
  );
}

/** The best run with every update delivered (any mode). */
export function bestRun(runs: readonly FanoutResult[]): FanoutResult | undefined {
  return runs
    .filter((f) => f.ok && f.deliveryRatio === 1)
    .sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0];
}

/** The main fleet of a run's results: 'tsbond' when present, else 'legacy'. */
export function mainFleet(r: RunResults): FleetName | 'legacy' {
  return r.fanout.some((f) => f.fleet === 'tsbond') ? 'tsbond' : 'legacy';
}

/** Main-fleet runs with the main flags (tsbond) or any (others). */
export function mainRuns(r: RunResults, kind: ServerKind): FanoutResult[] {
  const fleet = mainFleet(r);
  return kind === 'tsbond'
    ? runsOf(r, kind, fleet, fleet === 'legacy' ? undefined : (r.serverFlags ?? []))
    : runsOf(r, kind, fleet);
}

/** The median of the finite numbers (NaN when there is none). */
export function medianOf(xs: readonly number[]): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] ?? 0) : ((s[m - 1] ?? 0) + (s[m] ?? 0)) / 2;
}
