/**
 * The targets of issues 6, 10 and 11 checked against a run, each with the command that measures
 * it alone and the server flags it ran with; plus the per-benchmark tables (storm, client sync,
 * table) shared by the text report and BENCHMARKS.md.
 */

import type { FanoutResult } from './fanout-result.js';
import { fmtBytes, fmtPct, fmtRate, fmtSeconds } from './format.js';
import { featuresText } from './hello.js';
import { ceiling, fleetMedian, modeLabel, pacedOne } from './report-fanout.js';
import {
  bestRun,
  flagsText,
  mainFleet,
  mainRuns,
  runsOf,
  unpacedMedian,
  type RunResults,
} from './results.js';
import { SERVER_LABEL } from './servers.js';
import type { TableResult } from './table.js';

export interface TargetRow {
  readonly target: string;
  readonly measured: string;
  readonly status: 'met' | 'not met' | 'recorded' | 'not measured';
  readonly command: string;
  readonly flags: string;
}

const RUN = 'node --import tsx bench/run.ts';

/** `--server-flags "..."` when the run used any. */
function flagArg(r: RunResults): string {
  const f = r.serverFlags ?? [];
  return f.length === 0 ? '' : ` --server-flags "${f.join(' ')}"`;
}

function mainFlags(r: RunResults): string {
  return r.serverFlags === undefined ? '--no-pacing (older run)' : flagsText(r.serverFlags);
}

type Withdraw = NonNullable<TableResult['withdraw']>;

function withdrawWorst(w: Withdraw): number {
  return Math.max(w.seconds, ...(w.runs ?? []));
}

function status(ok: boolean): 'met' | 'not met' {
  return ok ? 'met' : 'not met';
}

export function targets(r: RunResults): TargetRow[] {
  const rows: TargetRow[] = [];
  const flags = mainFlags(r);
  const fleet = mainFleet(r);
  const fanoutCmd = `${RUN} fanout --server tsbond,go,rust,forwarder --repeat 9${flagArg(r)}`;

  // Issue 11 (and 10): fan-out between default tsbond peers vs the forwarder and rustbond.
  const c = ceiling(r, fleet);
  if (c !== undefined) {
    const tsOk = c.ts.ok && c.ts.deliveryRatio === 1;
    rows.push({
      target: `fan-out between tsbond peers (${fleet === 'legacy' ? 'clients without field 1000' : 'REASSEMBLY'}) >= 80% of the forwarder ceiling, unpaced, medians of >= 9 alternating runs, 100% delivery`,
      measured:
        `${fmtRate(c.ts.deliveredPerSec)}/s = ${fmtPct(c.share)} of ${fmtRate(c.fw.deliveredPerSec)}/s ` +
        `(medians of ${String(c.runs)} runs each; per round: ${c.rounds.map((x) => fmtPct(x)).join(', ')})` +
        (tsOk ? '' : `; tsbond's median run delivered ${fmtPct(c.ts.deliveryRatio)}`),
      status:
        c.runs < 9
          ? c.share >= 0.8 && tsOk
            ? 'recorded'
            : 'not met'
          : status(c.share >= 0.8 && tsOk),
      command: fanoutCmd,
      flags,
    });
  }
  const tsRuns = mainRuns(r, 'tsbond');
  const rustBest = bestRun(mainRuns(r, 'rust'));
  const goBest = bestRun(mainRuns(r, 'go'));
  const tsUnpaced = unpacedMedian(tsRuns);
  const tsFigure =
    tsUnpaced !== undefined && tsUnpaced.ok && tsUnpaced.deliveryRatio === 1
      ? tsUnpaced
      : bestRun(tsRuns);
  if (tsFigure !== undefined && (rustBest !== undefined || goBest !== undefined)) {
    const ref = [rustBest, goBest]
      .filter((x): x is FanoutResult => x !== undefined)
      .sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0];
    if (ref !== undefined) {
      const x = tsFigure.deliveredPerSec / ref.deliveredPerSec;
      rows.push({
        target: 'fan-out >= 2x the best of rustbond (and Go) on the same ladder, 100% delivery',
        measured:
          `tsbond ${fmtRate(tsFigure.deliveredPerSec)}/s (${tsFigure === tsUnpaced ? 'median unpaced run' : modeLabel(tsFigure)}) vs ` +
          `${SERVER_LABEL[ref.server]} ${fmtRate(ref.deliveredPerSec)}/s (${modeLabel(ref)}) = ${x.toFixed(1)}x`,
        status: status(x >= 2),
        command: fanoutCmd,
        flags,
      });
    }
  }
  // Non-default flags (--compare-flags), beside the default figure.
  if (r.compareFlags !== undefined && c !== undefined) {
    const alt = runsOf(r, 'tsbond', 'tsbond', [...(r.serverFlags ?? []), ...r.compareFlags]);
    const m = unpacedMedian(alt);
    if (m !== undefined) {
      rows.push({
        target:
          'fan-out between tsbond peers with non-default flags, beside the default figure: record',
        measured:
          `${fmtRate(m.deliveredPerSec)}/s = ${fmtPct(m.deliveredPerSec / c.fw.deliveredPerSec)} of the forwarder ` +
          `(median of ${String(alt.length)} runs; default flags: ${fmtRate(c.ts.deliveredPerSec)}/s)` +
          (m.ok ? '' : `; FAILED: ${m.problems.join('; ')}`),
        status: 'recorded',
        command: `${RUN} fanout --fleet tsbond --compare-flags "${r.compareFlags.join(' ')}"`,
        flags: flagsText([...(r.serverFlags ?? []), ...r.compareFlags]),
      });
    }
  }
  for (const name of ['plain', 'mixed'] as const) {
    const m = fleetMedian(r, name);
    if (m === undefined) continue;
    const groups = (m.run.groups ?? [])
      .map(
        (g) =>
          `${g.name} (${String(g.clients)}, ${featuresText(g.features)}): ${fmtRate(g.deliveredPerSec)}/s, ` +
          `${fmtPct(g.expected === 0 ? undefined : g.delivered / g.expected)} of every update`,
      )
      .join('; ');
    const best = bestRun(r.fanout.filter((f) => f.server === 'tsbond' && f.fleet === name));
    rows.push({
      target:
        name === 'plain'
          ? 'fan-out towards peers without the features (Go-compatible: paced 512 KiB/s each): record'
          : 'fan-out in a mixed fleet (tsbond peers + peers without the features): record',
      measured:
        `median of ${String(m.runs)} unpaced runs: ${groups}` +
        (best?.mode === 'paced'
          ? `; every update delivered up to ${fmtRate(best.targetRate)}/s in (${fmtRate(best.deliveredPerSec)}/s delivered)`
          : '') +
        (m.run.ok ? '' : `; FAILED: ${m.run.problems.join('; ')}`),
      status: m.run.ok ? 'recorded' : 'not met',
      command: `${RUN} fanout --fleet ${name} --fleet-repeat 3${flagArg(r)}`,
      flags,
    });
  }
  // Issue 10 (b).
  const p = pacedOne(r);
  if (p !== undefined) {
    rows.push({
      target: `${String((p.paced[0]?.clients ?? 50) - 1)} tsbond peers + 1 subscriber paced at 512 KiB/s: they get >= 80% of what they get without it; the paced one ends exact`,
      measured:
        `${p.pacedMedian === undefined ? 'n/a' : fmtRate(p.pacedMedian)}/s vs ${p.baselineMedian === undefined ? 'n/a' : fmtRate(p.baselineMedian)}/s = ${fmtPct(p.share)} ` +
        `(medians of ${String(p.paced.length)} alternating runs each); paced subscriber ${p.exact ? 'exact in every run' : 'NOT exact'}, ` +
        `drained ${p.drains.map((d) => fmtSeconds(d)).join(', ')} after the stop`,
      status: status(p.share !== undefined && p.share >= 0.8 && p.exact),
      command: `${RUN} paced-one --paced-repeat 3${flagArg(r)}`,
      flags,
    });
  }
  // Issue 10 (a).
  for (const s of r.storm ?? []) {
    rows.push({
      target: `${String(s.subscribers)} subscribers subscribe at once to a ${fmtRate(s.routes)}-route VNI: all exact, peak RSS growth < 512 MB, last complete within 60 s`,
      measured:
        `${String(s.exact)}/${String(s.subscribers)} exact; complete after ${fmtSeconds(s.firstS)} / ${fmtSeconds(s.medianS)} / ${fmtSeconds(s.lastS)} ` +
        `(first / median / last); peak RSS +${fmtBytes(s.peakGrowth)} over ${fmtBytes(s.loadedRss)} loaded`,
      status: status(s.targetMet.exact && s.targetMet.rss && s.targetMet.time),
      command: `${RUN} storm${flagArg(r)}`,
      flags: flagsText(s.serverFlags),
    });
  }
  // Issue 11: client sync.
  for (const c2 of r.clientSync ?? []) {
    const total =
      c2.allRoutesS === undefined ? undefined : Math.max(c2.allRoutesS, c2.syncedS ?? 0);
    rows.push({
      target: `default tsbond client${c2.clientAnnounces === true ? ' (announcing a route too)' : ''}, ${fmtRate(c2.routes)}-route VNI from a default server up past its sync delay: all routes in the handler and SYNCED < 2 s; memory per route`,
      measured:
        (c2.roundsAllS === undefined ? '' : `median of ${String(c2.roundsAllS.length)} clients: `) +
        `all routes after ${fmtSeconds(c2.allRoutesS)}, SYNCED ${c2.syncedS === undefined ? 'not measured (client has no waitSynced yet)' : `after ${fmtSeconds(c2.syncedS)}`}` +
        (c2.roundsSyncedS === undefined
          ? ''
          : ` (SYNCED per client: ${c2.roundsSyncedS.map((x) => fmtSeconds(x)).join(', ')})`) +
        `${total === undefined ? '' : ''}; client ${c2.rssPerRoute === undefined ? 'n/a' : c2.rssPerRoute.toFixed(0)} B/route RSS, ` +
        `${c2.heapPerRoute === undefined ? 'n/a' : c2.heapPerRoute.toFixed(0)} B/route heap` +
        (c2.ok ? '' : `; FAILED: ${c2.problems.join('; ')}`),
      status:
        c2.syncedS === undefined ? (c2.ok ? 'not measured' : 'not met') : status(c2.targetMet),
      command: `${RUN} client-sync${flagArg(r)}`,
      flags: flagsText(c2.serverFlags),
    });
  }
  rows.push(...issue6(r));
  for (const [name, x] of Object.entries(r.extra ?? {})) {
    for (const f of x.figures) {
      if (f.target === undefined) continue;
      rows.push({
        target: `${name}: ${f.figure} ${f.target}`,
        measured: f.value,
        status:
          f.notMeasured !== undefined
            ? 'not measured'
            : f.met === undefined
              ? 'recorded'
              : status(f.met),
        command: f.command ?? `${RUN} ${name}`,
        flags: f.defaults === false ? 'non-default' : 'defaults',
      });
    }
  }
  return rows;
}

function issue6(r: RunResults): TargetRow[] {
  const rows: TargetRow[] = [];
  const t1m = r.table.find((t) => t.server === 'tsbond' && t.routes === 1_000_000);
  const t100k = r.table.find((t) => t.server === 'tsbond' && t.routes === 100_000);
  const cmd = `${RUN} sync memory withdraw --server tsbond${flagArg(r)}`;
  const flags = mainFlags(r);
  if (t1m?.sync !== undefined)
    rows.push({
      target: `1M-route sync to a new raw-protocol subscriber (${t1m.features === undefined ? 'no field 1000' : featuresText(t1m.features)}) < 2 s`,
      measured: fmtSeconds(t1m.sync.seconds),
      status: status(t1m.sync.seconds < 2),
      command: cmd,
      flags,
    });
  if (t1m?.memory !== undefined)
    rows.push({
      target: 'server memory < 250 B/route at 1M routes',
      measured: `${t1m.memory.rssPerRoute.toFixed(0)} B/route RSS`,
      status: status(t1m.memory.rssPerRoute < 250),
      command: cmd,
      flags,
    });
  if (t1m?.withdraw !== undefined && t100k?.withdraw !== undefined) {
    const a = t1m.withdraw.seconds;
    const b = t100k.withdraw.seconds;
    const shrunk = t1m.withdrawShrunk;
    const worst = Math.max(
      withdrawWorst(t1m.withdraw),
      withdrawWorst(t100k.withdraw),
      shrunk === undefined ? 0 : withdrawWorst(shrunk),
    );
    rows.push({
      target: 'withdraw 100k on disconnect < 1 s',
      measured: `${fmtSeconds(a)} (table 1M), ${fmtSeconds(b)} (table 100k); slowest run ${fmtSeconds(worst)} (warm-up included)`,
      status: status(worst < 1),
      command: cmd,
      flags,
    });
    const x = shrunk === undefined ? a / b : a / shrunk.seconds;
    rows.push({
      target: '... the same within 20% at 100k and 1M',
      measured:
        shrunk === undefined
          ? `separate server processes: 1M / 100k = ${(a / b).toFixed(2)}`
          : `one server process, table 1M then 100k: ${fmtSeconds(a)} / ${fmtSeconds(shrunk.seconds)} = ${x.toFixed(2)}; separate processes: ${(a / b).toFixed(2)}`,
      status: status(Math.abs(x - 1) <= 0.2),
      command: cmd,
      flags,
    });
  }
  return rows;
}

export const TARGET_HEADER = ['target', 'measured', 'status', 'command', 'tsbond server flags'];

export function targetCells(rows: readonly TargetRow[]): string[][] {
  return rows.map((t) => [t.target, t.measured, t.status, `\`${t.command}\``, t.flags]);
}

// ---- storm, client sync, table ----

export const STORM_HEADER = [
  'routes x subscribers',
  'features',
  'load',
  'complete: first / median / last',
  'exact',
  'SYNCED',
  'RSS loaded',
  'peak RSS growth',
  'server flags',
  'check',
];

export function stormRows(r: RunResults): string[][] {
  return (r.storm ?? []).map((s) => [
    `${fmtRate(s.routes)} x ${String(s.subscribers)}`,
    featuresText(s.features),
    fmtSeconds(s.loadS),
    `${fmtSeconds(s.firstS)} / ${fmtSeconds(s.medianS)} / ${fmtSeconds(s.lastS)}`,
    `${String(s.exact)}/${String(s.subscribers)}`,
    String(s.synced),
    fmtBytes(s.loadedRss),
    `${fmtBytes(s.peakGrowth)} (${String(s.rssSamples)} samples; VmHWM ${fmtBytes(s.hwmBefore)} -> ${fmtBytes(s.hwmAfter)})`,
    flagsText(s.serverFlags),
    s.ok ? 'ok' : `FAILED: ${[...s.problems, ...s.failures.slice(0, 3)].join('; ')}`,
  ]);
}

export const CLIENT_HEADER = [
  'routes',
  'all routes in the handler',
  'SYNCED',
  'server uptime at SUBSCRIBE',
  'client RSS B/route',
  'client heap B/route',
  'server flags',
  'check',
];

/** ` (median of a, b, c)` for several rounds; nothing for one. */
function roundsText(xs: readonly number[] | undefined): string {
  return xs === undefined || xs.length < 2
    ? ''
    : ` (median of ${xs.map((x) => fmtSeconds(x)).join(', ')})`;
}

export function clientRows(r: RunResults): string[][] {
  return (r.clientSync ?? []).map((c) => [
    fmtRate(c.routes),
    fmtSeconds(c.allRoutesS) + roundsText(c.roundsAllS),
    c.syncedS === undefined
      ? 'not measured (no waitSynced yet)'
      : fmtSeconds(c.syncedS) + roundsText(c.roundsSyncedS),
    fmtSeconds(c.uptimeAtSubscribeS),
    c.rssPerRoute === undefined ? 'n/a' : c.rssPerRoute.toFixed(0),
    c.heapPerRoute === undefined ? 'n/a' : c.heapPerRoute.toFixed(0),
    flagsText(c.serverFlags),
    c.ok ? 'ok' : `FAILED: ${c.problems.join('; ')}`,
  ]);
}

/** " (median of 7 after 2 warm-up runs of 85 ms, 60 ms: 30 ms, ...)" for repeated runs. */
export function withdrawRunsText(w: Withdraw): string {
  const runs = w.runs ?? [];
  if (runs.length < 2) return '';
  const warm = w.warmup ?? 0;
  const fmt = (xs: readonly number[]): string => xs.map((x) => fmtSeconds(x)).join(', ');
  return warm > 0
    ? ` (median of ${String(runs.length - warm)} after ${String(warm)} warm-up runs of ${fmt(runs.slice(0, warm))}: ${fmt(runs.slice(warm))})`
    : ` (median of ${String(runs.length)}: ${fmt(runs)})`;
}

export const TABLE_HEADER = [
  'server',
  'routes',
  'load',
  'sync (new subscriber)',
  'RSS',
  'RSS B/route',
  'heap B/route',
  'withdraw on disconnect',
  'machine busy before',
  'check',
];

export function tableRows(rs: readonly TableResult[]): string[][] {
  return rs.map((t) => [
    SERVER_LABEL[t.server],
    fmtRate(t.routes),
    t.load === undefined ? 'failed' : `${fmtRate(t.load.routesPerSec)}/s`,
    t.sync === undefined ? 'n/a' : fmtSeconds(t.sync.seconds),
    t.memory === undefined ? 'n/a' : fmtBytes(t.memory.rss),
    t.memory === undefined ? 'n/a' : t.memory.rssPerRoute.toFixed(0),
    t.memory?.heapPerRoute === undefined ? 'n/a' : t.memory.heapPerRoute.toFixed(0),
    t.withdraw === undefined
      ? 'n/a'
      : `${fmtRate(t.victimRoutes)} in ${fmtSeconds(t.withdraw.seconds)}${withdrawRunsText(t.withdraw)}`,
    t.background === undefined ? 'n/a' : fmtPct(t.background),
    t.ok ? 'ok' : `FAILED: ${t.problems.join('; ')}`,
  ]);
}

export const SHRUNK_HEADER = ['server', 'table loaded', 'table now', 'withdraw on disconnect'];

export function shrunkRows(rs: readonly TableResult[]): string[][] {
  return rs.flatMap((t) => {
    const w = t.withdrawShrunk;
    if (w === undefined) return [];
    return [
      [
        SERVER_LABEL[t.server],
        fmtRate(t.routes),
        fmtRate(w.tableRoutes ?? t.victimRoutes),
        `${fmtRate(t.victimRoutes)} in ${fmtSeconds(w.seconds)}${withdrawRunsText(w)}`,
      ],
    ];
  });
}
