/** Result tables on stdout, the JSON shape, BENCHMARKS.md and its hand-written SVG chart. */

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { relative } from 'node:path';

import type { FanoutResult } from './fanout.js';
import { fmtBytes, fmtPct, fmtRate, fmtSeconds, mdTable, textTable } from './format.js';
import type { MachineInfo } from './machine.js';
import { REPO_ROOT } from './procs.js';
import type { ProfileSummary } from './profile.js';
import { SERVER_LABEL, type ServerKind } from './servers.js';
import type { TableResult } from './table.js';

export interface RunResults {
  readonly startedAt: string;
  readonly command: string;
  readonly machine: MachineInfo;
  readonly smoke: boolean;
  readonly options: unknown;
  readonly fanout: readonly FanoutResult[];
  readonly table: readonly TableResult[];
  readonly profile: ProfileSummary | undefined;
  /** Runs not made, and why. */
  readonly skipped?: readonly string[];
}

type Better = 'higher' | 'lower';

/** tsbond's figure divided by the other server's, with a verdict. */
function ratio(ts: number | undefined, other: number | undefined, better: Better): string {
  if (ts === undefined || other === undefined || !Number.isFinite(ts) || !Number.isFinite(other)) {
    return 'n/a';
  }
  if (other === 0) return 'n/a';
  const r = ts / other;
  const good = better === 'higher' ? r > 1 : r < 1;
  const factor = Math.max(r, 1 / r);
  const verdict =
    Math.abs(r - 1) < 0.05 ? 'about equal' : `${factor.toFixed(1)}x ${good ? 'better' : 'worse'}`;
  return `${r.toFixed(r < 0.1 ? 3 : 2)} (${verdict})`;
}

function modeLabel(f: FanoutResult): string {
  const round =
    f.rounds !== undefined && f.rounds > 1 ? ` (run ${String(f.round)}/${String(f.rounds)})` : '';
  return f.mode === 'paced' ? `paced ${fmtRate(f.targetRate)}/s` : `unpaced${round}`;
}

function fanoutRows(rs: readonly FanoutResult[]): string[][] {
  return rs.map((f) => [
    SERVER_LABEL[f.server],
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
    f.limitedBy,
  ]);
}

const FANOUT_HEADER = [
  'server',
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

type Withdraw = NonNullable<TableResult['withdraw']>;

/** " (median of 7 after 2 warm-up runs of 85 ms, 60 ms: 30 ms, ...)" for repeated runs. */
function withdrawRunsText(w: Withdraw): string {
  const runs = w.runs ?? [];
  if (runs.length < 2) return '';
  const warm = w.warmup ?? 0;
  const fmt = (xs: readonly number[]): string => xs.map((x) => fmtSeconds(x)).join(', ');
  return warm > 0
    ? ` (median of ${String(runs.length - warm)} after ${String(warm)} warm-up runs of ${fmt(runs.slice(0, warm))}: ${fmt(runs.slice(warm))})`
    : ` (median of ${String(runs.length)}: ${fmt(runs)})`;
}

/** The slowest withdraw run, warm-up included. */
function withdrawWorst(w: Withdraw): number {
  return Math.max(w.seconds, ...(w.runs ?? []));
}

function tableRows(rs: readonly TableResult[]): string[][] {
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

const SHRUNK_HEADER = ['server', 'table loaded', 'table now', 'withdraw on disconnect'];

function shrunkRows(rs: readonly TableResult[]): string[][] {
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

const TABLE_HEADER = [
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

/**
 * The run that stands for `kind` in a fan-out mode: the only one, or with repeated runs
 * (--repeat) the median one by delivered updates/s (the lower middle for an even count).
 */
function representative(
  rs: readonly FanoutResult[],
  kind: ServerKind,
  mode: FanoutResult['mode'],
  rate: number,
): FanoutResult | undefined {
  const runs = rs
    .filter((f) => f.server === kind && f.mode === mode && f.targetRate === rate)
    .sort((a, b) => a.deliveredPerSec - b.deliveredPerSec);
  return runs[Math.floor((runs.length - 1) / 2)];
}

function find<T extends { server: ServerKind }>(
  rs: readonly T[],
  kind: ServerKind,
  pred: (r: T) => boolean,
): T | undefined {
  return rs.find((r) => r.server === kind && pred(r));
}

interface RatioRow {
  readonly figure: string;
  readonly better: Better;
  readonly value: (k: ServerKind) => number | undefined;
  readonly fmt: (n: number) => string;
  /** Why a server's figure is not a valid result (e.g. updates were lost); no ratio then. */
  readonly invalid?: (k: ServerKind) => string | undefined;
}

function ratioRows(r: RunResults): RatioRow[] {
  const rows: RatioRow[] = [];
  const best = (k: ServerKind): FanoutResult | undefined =>
    r.fanout
      .filter((f) => f.server === k && f.ok)
      .sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0];
  if (r.fanout.length > 0) {
    rows.push({
      figure: 'fan-out: best delivered upd/s with 100.00% delivery, any mode',
      better: 'higher',
      value: (k) => best(k)?.deliveredPerSec,
      fmt: fmtRate,
    });
  }
  const modes = [...new Set(r.fanout.map((f) => `${f.mode}|${String(f.targetRate)}`))];
  for (const m of modes) {
    const [mode, rate] = m.split('|');
    const get = (k: ServerKind): FanoutResult | undefined =>
      representative(r.fanout, k, mode === 'paced' ? 'paced' : 'unpaced', Number(rate));
    const repeated = r.fanout.some(
      (f) => f.mode === mode && String(f.targetRate) === rate && (f.rounds ?? 1) > 1,
    );
    const label =
      mode === 'paced'
        ? `paced ${fmtRate(Number(rate))}/s`
        : repeated
          ? 'unpaced (median run)'
          : 'unpaced';
    const invalid = (k: ServerKind): string | undefined => {
      const f = get(k);
      if (f === undefined || f.ok) return undefined;
      return `${fmtPct(f.deliveryRatio)} delivered, ${String(f.lostSessions)} sessions lost`;
    };
    rows.push({
      figure: `fan-out delivered upd/s, ${label}`,
      better: 'higher',
      value: (k) => get(k)?.deliveredPerSec,
      fmt: fmtRate,
      invalid,
    });
    rows.push({
      figure: `fan-out server CPU per 1M deliveries, ${label}`,
      better: 'lower',
      value: (k) => {
        const f = get(k);
        return f === undefined || f.deliveredPerSec === 0
          ? undefined
          : (f.cpu.server / f.deliveredPerSec) * 1e6;
      },
      fmt: (n) => `${n.toFixed(3)} core-s`,
      invalid,
    });
  }
  const sizes = [...new Set(r.table.map((t) => t.routes))];
  for (const size of sizes) {
    const get = (k: ServerKind): TableResult | undefined =>
      find(r.table, k, (t) => t.routes === size);
    const l = fmtRate(size);
    const victim = r.table.find((t) => t.routes === size)?.victimRoutes ?? 0;
    rows.push({
      figure: `load ${l} routes, routes/s`,
      better: 'higher',
      value: (k) => get(k)?.load?.routesPerSec,
      fmt: fmtRate,
    });
    rows.push({
      figure: `sync ${l} routes to a new subscriber`,
      better: 'lower',
      value: (k) => syncSeconds(get(k)),
      fmt: (n) => fmtSeconds(n),
    });
    rows.push({
      figure: `RSS per route at ${l}`,
      better: 'lower',
      value: (k) => get(k)?.memory?.rssPerRoute,
      fmt: (n) => `${n.toFixed(0)} B`,
    });
    rows.push({
      figure: `withdraw ${fmtRate(victim)} on disconnect, table ${l}`,
      better: 'lower',
      value: (k) => withdrawSeconds(get(k)),
      fmt: (n) => fmtSeconds(n),
    });
  }
  return rows;
}

/** Sync time, only when the new subscriber got exactly every route. */
function syncSeconds(t: TableResult | undefined): number | undefined {
  return t?.sync?.duplicates === 0 ? t.sync.seconds : undefined;
}

/** Withdraw time, only when the subscriber got exactly every REMOVE. */
function withdrawSeconds(t: TableResult | undefined): number | undefined {
  return t?.withdraw?.duplicates === 0 ? t.withdraw.seconds : undefined;
}

function ratioTable(r: RunResults): { header: string[]; rows: string[][] } {
  const present = new Set([...r.fanout.map((f) => f.server), ...r.table.map((t) => t.server)]);
  const others = (['go', 'rust'] as const).filter((k) => present.has(k));
  const header = [
    'figure',
    'tsbond',
    ...others.map((k) => SERVER_LABEL[k]),
    ...others.map((k) => `tsbond / ${k === 'go' ? 'Go' : 'rustbond'}`),
  ];
  const rows = ratioRows(r).map((row) => {
    const bad = (k: ServerKind): string | undefined => row.invalid?.(k);
    const show = (k: ServerKind): string => {
      const n = row.value(k);
      if (n === undefined) return 'n/a';
      const why = bad(k);
      return why === undefined ? row.fmt(n) : `${row.fmt(n)} (${why})`;
    };
    const ts = bad('tsbond') === undefined ? row.value('tsbond') : undefined;
    return [
      `${row.figure} (${row.better} is better)`,
      show('tsbond'),
      ...others.map(show),
      ...others.map((k) =>
        bad(k) === undefined ? ratio(ts, row.value(k), row.better) : 'n/a (failed)',
      ),
    ];
  });
  return { header, rows };
}

export function printReport(r: RunResults): void {
  const out: string[] = [];
  const fo = r.fanout[0];
  if (fo !== undefined) {
    out.push(
      `\nFan-out: ${String(fo.clients)} clients on one VNI, batches of ${String(fo.batch)}, ${String(fo.durationS)} s, ${String(fo.workers)} generator processes`,
    );
    out.push(textTable(FANOUT_HEADER, fanoutRows(r.fanout)));
    for (const f of r.fanout) {
      if (f.problems.length > 0)
        out.push(`  ${f.server} ${modeLabel(f)}: ${f.problems.join('; ')}`);
      if (Object.keys(f.serverLog).length > 0)
        out.push(`  ${f.server} ${modeLabel(f)} log: ${JSON.stringify(f.serverLog)}`);
    }
  }
  if (r.table.length > 0) {
    out.push(`\nFull-table sync, memory, withdraw on disconnect`);
    out.push(textTable(TABLE_HEADER, tableRows(r.table)));
    const shrunk = shrunkRows(r.table);
    if (shrunk.length > 0) {
      out.push('\nWithdraw in the same server process after the other announcers left');
      out.push(textTable(SHRUNK_HEADER, shrunk));
    }
  }
  const rt = ratioTable(r);
  if (rt.header.length > 2 && rt.rows.length > 0) {
    out.push('\nComparison (ratio = tsbond / other)');
    out.push(textTable(rt.header, rt.rows));
  }
  if (r.profile !== undefined) out.push(`\n${profileText(r.profile)}`);
  process.stdout.write(`${out.join('\n')}\n`);
}

function profileText(p: ProfileSummary): string {
  const busy = p.totalMs - p.idleMs;
  return [
    `CPU profile of the tsbond server under unpaced fan-out (${relative(REPO_ROOT, p.file)}):`,
    `busy ${busy.toFixed(0)} ms of ${p.totalMs.toFixed(0)} ms sampled, GC ${p.gcMs.toFixed(0)} ms; top self time:`,
    textTable(
      ['self ms', 'share', 'function', 'where'],
      p.top.map((e) => [e.ms.toFixed(0), fmtPct(e.share), e.fn, e.where]),
    ),
  ].join('\n');
}

// ---- SVG chart ----

const COLORS: Record<ServerKind, string> = {
  tsbond: '#2b6cb0',
  go: '#00add8',
  rust: '#b7410e',
  forwarder: '#9e9e9e',
};

interface Panel {
  readonly title: string;
  readonly note: string;
  readonly bars: readonly {
    kind: ServerKind;
    value: number | undefined;
    label: string;
    /** A second label line above the first (e.g. a delivery ratio below 100%). */
    note?: string | undefined;
  }[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** Bar panels side by side; each panel scaled to its own maximum. */
export function svgChart(panels: readonly Panel[]): string {
  const pw = 280;
  const ph = 270;
  const top = 76;
  const bottom = 40;
  const chartH = ph - top - bottom;
  const parts: string[] = [];
  panels.forEach((p, i) => {
    const x0 = i * pw;
    parts.push(
      `<text x="${String(x0 + pw / 2)}" y="18" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
    );
    p.note.split('\n').forEach((line, k) => {
      parts.push(
        `<text x="${String(x0 + pw / 2)}" y="${String(33 + 13 * k)}" text-anchor="middle" font-size="11" fill="#555">${esc(line)}</text>`,
      );
    });
    const max = Math.max(0, ...p.bars.map((b) => b.value ?? 0));
    const n = p.bars.length;
    const slot = (pw - 30) / Math.max(1, n);
    const bw = Math.min(44, slot - 10);
    p.bars.forEach((b, j) => {
      const cx = x0 + 15 + slot * j + slot / 2;
      const h = max > 0 && b.value !== undefined ? Math.max(1, (b.value / max) * chartH) : 0;
      const y = top + chartH - h;
      if (b.value !== undefined) {
        parts.push(
          `<rect x="${(cx - bw / 2).toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[b.kind]}"/>`,
        );
      }
      parts.push(
        `<text x="${cx.toFixed(1)}" y="${(y - 4).toFixed(1)}" text-anchor="middle" font-size="11">${esc(b.label)}</text>`,
      );
      if (b.note !== undefined) {
        parts.push(
          `<text x="${cx.toFixed(1)}" y="${(y - 17).toFixed(1)}" text-anchor="middle" font-size="10" fill="#c00">${esc(b.note)}</text>`,
        );
      }
      const name =
        b.kind === 'forwarder'
          ? 'ceiling'
          : b.kind === 'go'
            ? 'Go'
            : b.kind === 'rust'
              ? 'rustbond'
              : 'tsbond';
      parts.push(
        `<text x="${cx.toFixed(1)}" y="${String(top + chartH + 16)}" text-anchor="middle" font-size="11">${name}</text>`,
      );
    });
    parts.push(
      `<line x1="${String(x0 + 10)}" y1="${String(top + chartH)}" x2="${String(x0 + pw - 10)}" y2="${String(top + chartH)}" stroke="#333"/>`,
    );
  });
  const w = pw * panels.length;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(w)}" height="${String(ph)}" viewBox="0 0 ${String(w)} ${String(ph)}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
  ].join('\n');
}

function chartPanels(r: RunResults): Panel[] {
  const panels: Panel[] = [];
  const kinds: ServerKind[] = ['tsbond', 'go', 'rust'];
  const unpaced = r.fanout.filter((f) => f.mode === 'unpaced');
  if (unpaced.length > 0) {
    panels.push({
      title: 'Fan-out, unpaced',
      note: 'delivered updates/s\n(higher is better; red: delivery < 100%)',
      bars: [...kinds, 'forwarder' as const]
        .map((k) => representative(unpaced, k, 'unpaced', 0))
        .filter((f): f is FanoutResult => f !== undefined)
        .map((f) => ({
          kind: f.server,
          value: f.deliveredPerSec,
          label: fmtRate(f.deliveredPerSec),
          note: f.ok ? undefined : `only ${fmtPct(f.deliveryRatio)}`,
        })),
    });
  }
  const best = kinds
    .map(
      (k) =>
        r.fanout
          .filter((f) => f.server === k && f.ok)
          .sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0],
    )
    .filter((f): f is FanoutResult => f !== undefined);
  if (best.length > 0) {
    panels.push({
      title: 'Fan-out, best run',
      note: 'delivered updates/s at 100.00% delivery,\nany mode (higher is better)',
      bars: best.map((f) => ({
        kind: f.server,
        value: f.deliveredPerSec,
        label: fmtRate(f.deliveredPerSec),
      })),
    });
  }
  const biggest = Math.max(0, ...r.table.map((t) => t.routes));
  const big = r.table.filter((t) => t.routes === biggest);
  if (big.length > 0) {
    const bar = (
      f: (t: TableResult) => number | undefined,
      fmt: (n: number) => string,
    ): Panel['bars'] =>
      kinds
        .map((k) => big.find((t) => t.server === k))
        .filter((t): t is TableResult => t !== undefined)
        .map((t) => {
          const v = f(t);
          return { kind: t.server, value: v, label: v === undefined ? 'failed' : fmt(v) };
        });
    const l = fmtRate(biggest);
    panels.push({
      title: `Sync ${l} routes`,
      note: 'seconds until a new subscriber has all\n(lower is better)',
      bars: bar(
        (t) => syncSeconds(t),
        (n) => n.toFixed(2),
      ),
    });
    panels.push({
      title: `Memory at ${l} routes`,
      note: 'RSS bytes per route\n(lower is better)',
      bars: bar(
        (t) => t.memory?.rssPerRoute,
        (n) => n.toFixed(0),
      ),
    });
    panels.push({
      title: `Withdraw on disconnect`,
      note: `seconds for ${fmtRate(big[0]?.victimRoutes ?? 0)} REMOVEs, table ${l}\n(lower is better)`,
      bars: bar(
        (t) => withdrawSeconds(t),
        (n) => n.toFixed(2),
      ),
    });
  }
  return panels;
}

// ---- BENCHMARKS.md ----

function targets(r: RunResults): string[][] {
  const rows: string[][] = [];
  const un = (k: ServerKind): FanoutResult | undefined => representative(r.fanout, k, 'unpaced', 0);
  const ts = un('tsbond');
  const fw = un('forwarder');
  if (ts !== undefined && fw !== undefined) {
    const share = ts.deliveredPerSec / fw.deliveredPerSec;
    // With repeated alternating runs: the medians compared, and every round's own ratio shown.
    const runs = (k: ServerKind): FanoutResult[] =>
      r.fanout
        .filter((f) => f.server === k && f.mode === 'unpaced')
        .sort((a, b) => (a.round ?? 0) - (b.round ?? 0));
    const tsRuns = runs('tsbond');
    const fwRuns = runs('forwarder');
    const rounds =
      tsRuns.length > 1 && tsRuns.length === fwRuns.length
        ? `; median of ${String(tsRuns.length)} alternating runs each, per round: ` +
          tsRuns
            .map((t, i) => fmtPct(t.deliveredPerSec / (fwRuns[i]?.deliveredPerSec ?? NaN)))
            .join(', ')
        : '';
    rows.push([
      'fan-out delivered >= 80% of the forwarder ceiling (unpaced)',
      `${fmtRate(ts.deliveredPerSec)}/s = ${fmtPct(share)} of ${fmtRate(fw.deliveredPerSec)}/s${rounds}`,
      share >= 0.8 ? 'met' : 'not met',
    ]);
  }
  // The references' best fan-out figure with 100.00% delivery, in any mode (paced runs included).
  const refs = r.fanout.filter((f) => (f.server === 'go' || f.server === 'rust') && f.ok);
  const bestRef = refs.sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0];
  const bestTs = r.fanout
    .filter((f) => f.server === 'tsbond' && f.ok)
    .sort((a, b) => b.deliveredPerSec - a.deliveredPerSec)[0];
  if (bestTs !== undefined) {
    const x = bestRef === undefined ? Infinity : bestTs.deliveredPerSec / bestRef.deliveredPerSec;
    rows.push([
      'fan-out >= 2x the faster of Go and rustbond, 100.00% delivery (best run of each)',
      bestRef === undefined
        ? `${fmtRate(bestTs.deliveredPerSec)}/s; no reference run delivered 100.00%`
        : `${fmtRate(bestTs.deliveredPerSec)}/s (${modeLabel(bestTs)}) vs ${SERVER_LABEL[bestRef.server]} ` +
          `${fmtRate(bestRef.deliveredPerSec)}/s (${modeLabel(bestRef)}) = ${x.toFixed(1)}x`,
      x >= 2 ? 'met' : 'not met',
    ]);
  }
  if (ts !== undefined) {
    rows.push([
      'unpaced: 100.00% delivery, no lost session',
      `${fmtPct(ts.deliveryRatio)}, ${String(ts.lostSessions)} lost`,
      ts.ok ? 'met' : 'not met',
    ]);
  }
  const t1m = r.table.find((t) => t.server === 'tsbond' && t.routes === 1_000_000);
  const t100k = r.table.find((t) => t.server === 'tsbond' && t.routes === 100_000);
  if (t1m?.sync !== undefined)
    rows.push([
      '1M-route sync to a new subscriber < 2 s',
      fmtSeconds(t1m.sync.seconds),
      t1m.sync.seconds < 2 ? 'met' : 'not met',
    ]);
  if (t1m?.memory !== undefined)
    rows.push([
      'server memory < 250 B/route at 1M routes',
      `${t1m.memory.rssPerRoute.toFixed(0)} B/route RSS`,
      t1m.memory.rssPerRoute < 250 ? 'met' : 'not met',
    ]);
  if (t1m?.withdraw !== undefined && t100k?.withdraw !== undefined) {
    const a = t1m.withdraw.seconds;
    const b = t100k.withdraw.seconds;
    const shrunk = t1m.withdrawShrunk;
    const worst = Math.max(
      withdrawWorst(t1m.withdraw),
      withdrawWorst(t100k.withdraw),
      shrunk === undefined ? 0 : withdrawWorst(shrunk),
    );
    rows.push([
      'withdraw 100k on disconnect < 1 s',
      `${fmtSeconds(a)} (table 1M), ${fmtSeconds(b)} (table 100k); slowest run ${fmtSeconds(worst)} (warm-up included)`,
      worst < 1 ? 'met' : 'not met',
    ]);
    const measured = (w: Withdraw): number => (w.runs?.length ?? 1) - (w.warmup ?? 0);
    const n = Math.min(measured(t1m.withdraw), measured(t100k.withdraw));
    const separate = `separate server processes: 1M / 100k = ${(a / b).toFixed(2)}${n > 1 ? ` (medians of ${String(n)} runs each)` : ''}`;
    if (shrunk === undefined) {
      rows.push([
        '... the same within 20% at 100k and 1M',
        separate,
        Math.abs(a / b - 1) <= 0.2 ? 'met' : 'not met',
      ]);
    } else {
      // Decided on the same-process pair: only the table size differs between its two series.
      const x = a / shrunk.seconds;
      rows.push([
        '... the same within 20% at 100k and 1M',
        `one server process, table 1M then 100k (the other announcers left): ${fmtSeconds(a)} / ` +
          `${fmtSeconds(shrunk.seconds)} = ${x.toFixed(2)} (medians of ${String(Math.min(measured(t1m.withdraw), measured(shrunk)))} runs each); ${separate}`,
        Math.abs(x - 1) <= 0.2 ? 'met' : 'not met',
      ]);
    }
  }
  return rows;
}

function repeatNote(rs: readonly FanoutResult[]): string {
  const rounds = Math.max(1, ...rs.map((f) => f.rounds ?? 1));
  return rounds > 1
    ? ` The unpaced runs of tsbond and the forwarder were repeated ${String(rounds)} times, alternating, after ` +
        'the ladders (their figures move by +-15% from run to run here); the comparisons use the median run of each.'
    : '';
}

/** Log messages that say why sessions ended (shown before the cleanup noise that follows). */
const IMPORTANT = /timed out|too many|panic|incompatible|wrong state|slow consumer|deserialize/i;

/** Writes BENCHMARKS.md, formatted with the repository's Prettier settings (it is linted). */
export async function writeMarkdown(r: RunResults, file: string, jsonFile: string): Promise<void> {
  const m = r.machine;
  const lines: string[] = [];
  lines.push('# tsbond benchmarks', '');
  lines.push(
    'Generated by `npm run bench` (bench/run.ts; see bench/README.md for the method). Every figure below was ' +
      'measured in one run on the machine described here, with the same load generator for every server. ' +
      `Raw results: \`${relative(REPO_ROOT, jsonFile)}\`.`,
    '',
  );
  lines.push('## Machine', '');
  lines.push(
    mdTable(
      ['', ''],
      [
        ['CPU', `${m.cpuModel}, ${String(m.nproc)} cores (nproc)`],
        ['memory', fmtBytes(m.memoryBytes)],
        ['kernel', m.kernel],
        ['Node.js', m.node],
        ['Go', m.go],
        ['Rust', m.rust],
        ['tsbond measured', m.source],
        ['run started', r.startedAt],
      ],
    ),
    '',
  );
  lines.push('## Commands', '');
  lines.push(
    '```sh',
    'bash test/interop/build-peers.sh   # reference peers into .peers/ (npm run bench does this when they are missing)',
    r.command,
    '```',
    '',
  );
  lines.push('Each benchmark alone, e.g.:', '');
  lines.push(
    '```sh',
    'node --import tsx bench/run.ts fanout --server tsbond,go,rust,forwarder --clients 50 --batch 100 --duration 10 --rate 5000,10000,25000,50000,200000,0',
    'node --import tsx bench/run.ts sync memory withdraw --server tsbond --routes 100000,1000000',
    'node --import tsx bench/run.ts profile        # tsbond with --cpu-prof under unpaced fan-out',
    'node --import tsx bench/run.ts --smoke        # CI: seconds, correctness only',
    '```',
    '',
  );
  const panels = chartPanels(r);
  if (panels.length > 0) {
    lines.push('## Chart', '');
    lines.push(svgChart(panels), '');
  }
  const tg = targets(r);
  if (tg.length > 0) {
    lines.push('## Targets of issue 6 (tsbond, this run)', '');
    lines.push(mdTable(['target', 'measured', 'status'], tg), '');
  }
  const rt = ratioTable(r);
  if (rt.rows.length > 0) {
    lines.push('## Comparison (ratio = tsbond / other)', '');
    lines.push(mdTable(rt.header, rt.rows), '');
  }
  const fo = r.fanout[0];
  if (fo !== undefined) {
    lines.push('## 1. Fan-out stress', '');
    lines.push(
      `${String(fo.clients)} clients, all subscribed to VNI 100; each announces batches of ${String(fo.batch)} routes ` +
        `(10.{client}.{i>>8}.{i&255}/32 via 2001:db8::{client}) and withdraws them, for ${String(fo.durationS)} s; ` +
        `${String(fo.workers)} generator processes. Paced: the target rate is the sum over all clients of updates sent; ` +
        'unpaced: as fast as the sockets take them, honouring write() back-pressure. Every update must reach the ' +
        `other ${String(fo.clients - 1)} clients: expected = sent x ${String(fo.clients - 1)}; delivery is counted after draining. ` +
        'CPU is user+system time from /proc/PID/stat over the run, per wall second (100% = one core).' +
        repeatNote(r.fanout),
      '',
    );
    lines.push(mdTable(FANOUT_HEADER, fanoutRows(r.fanout)), '');
    for (const x of r.skipped ?? []) lines.push(`- ${x}`);
    const notes = r.fanout.filter(
      (f) => f.problems.length > 0 || Object.keys(f.serverLog).length > 0,
    );
    for (const f of notes) {
      const log = Object.entries(f.serverLog)
        .sort(([a], [b]) => Number(IMPORTANT.test(b)) - Number(IMPORTANT.test(a)))
        .slice(0, 4)
        .map(([k, n]) => `"${k}" x${String(n)}`)
        .join(', ');
      lines.push(
        `- ${SERVER_LABEL[f.server]}, ${modeLabel(f)}: ${[...f.problems, log === '' ? '' : `log: ${log}`].filter((x) => x !== '').join('; ')}` +
          (f.lostReasons.length > 0
            ? `; first lost sessions: ${f.lostReasons.slice(0, 3).join(' | ')}`
            : ''),
      );
    }
    if (notes.length > 0) lines.push('');
  }
  if (r.table.length > 0) {
    lines.push('## 2-4. Full-table sync, memory, withdraw on disconnect', '');
    lines.push(
      'A fresh server per table size; one subscriber (the sentinel) is connected first; the table is loaded by ' +
        'the victim peer (its routes) and further announcers, in windows of frames each followed by a KEEPALIVE round trip. ' +
        'Memory: RSS (VmRSS, and for tsbond V8 heapUsed after a full GC) minus the value before any connection, ' +
        'divided by the routes. Sync: a new subscriber sends SUBSCRIBE; time until it has every route. Withdraw: the ' +
        'victim disconnects; time until the sentinel has every REMOVE.',
      '',
    );
    lines.push(mdTable(TABLE_HEADER, tableRows(r.table)), '');
    const shrunk = shrunkRows(r.table);
    if (shrunk.length > 0) {
      lines.push(
        'Withdraw again in the same server process, after the other announcers left (the table then holds the ' +
          "victim's routes only; the victim reconnects and announces them again before each run):",
        '',
      );
      lines.push(mdTable(SHRUNK_HEADER, shrunk), '');
    }
  }
  if (r.profile !== undefined) {
    const p = r.profile;
    lines.push('## CPU profile of the tsbond server under unpaced fan-out', '');
    lines.push(
      `\`node --cpu-prof\` on the server process during the unpaced fan-out run (\`${relative(REPO_ROOT, p.file)}\`, not committed). ` +
        `Busy ${(p.totalMs - p.idleMs).toFixed(0)} ms of ${p.totalMs.toFixed(0)} ms sampled; GC ${p.gcMs.toFixed(0)} ms. Top self time:`,
      '',
    );
    lines.push(
      mdTable(
        ['self ms', 'share of busy', 'function', 'where'],
        p.top
          .slice(0, 20)
          .map((e) => [
            e.ms.toFixed(0),
            fmtPct(e.share),
            `\`${e.fn}\``,
            e.where === '' ? '' : `\`${e.where}\``,
          ]),
      ),
      '',
    );
  }
  // A hand-written block between these markers survives regeneration.
  const keep = /<!-- keep -->[\s\S]*?<!-- \/keep -->/.exec(
    existsSync(file) ? readFileSync(file, 'utf8') : '',
  );
  lines.push(
    '## Notes',
    '',
    keep?.[0] ??
      '<!-- keep -->\n\n(Hand-written notes here are kept when the file is regenerated.)\n\n<!-- /keep -->',
    '',
  );
  const prettier = await import('prettier');
  const options = (await prettier.resolveConfig(file)) ?? {};
  writeFileSync(
    file,
    await prettier.format(`${lines.join('\n')}\n`, { ...options, parser: 'markdown' }),
  );
}
