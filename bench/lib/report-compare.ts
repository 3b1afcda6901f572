/** tsbond against Go MetalBond and rustbond, figure by figure (ratio = tsbond / other). */

import type { FanoutResult } from './fanout-result.js';
import { fmtPct, fmtRate, fmtSeconds } from './format.js';
import { bestRun, mainRuns, unpacedMedian, type RunResults } from './results.js';
import { SERVER_LABEL, type ServerKind } from './servers.js';
import type { TableResult } from './table.js';

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

interface RatioRow {
  readonly figure: string;
  readonly better: Better;
  readonly value: (k: ServerKind) => number | undefined;
  readonly fmt: (n: number) => string;
  /** Why a server's figure is not a valid result (e.g. updates were lost); no ratio then. */
  readonly invalid?: (k: ServerKind) => string | undefined;
}

/** Sync time, only when the new subscriber got exactly every route. */
export function syncSeconds(t: TableResult | undefined): number | undefined {
  return t?.sync?.duplicates === 0 ? t.sync.seconds : undefined;
}

/** Withdraw time, only when the subscriber got exactly every REMOVE. */
export function withdrawSeconds(t: TableResult | undefined): number | undefined {
  return t?.withdraw?.duplicates === 0 ? t.withdraw.seconds : undefined;
}

function ratioRows(r: RunResults): RatioRow[] {
  const rows: RatioRow[] = [];
  if (r.fanout.length > 0) {
    rows.push({
      figure: 'fan-out: best delivered upd/s with every update delivered, any mode',
      better: 'higher',
      value: (k) => bestRun(mainRuns(r, k))?.deliveredPerSec,
      fmt: fmtRate,
    });
    const un = (k: ServerKind): FanoutResult | undefined => unpacedMedian(mainRuns(r, k));
    const invalid = (k: ServerKind): string | undefined => {
      const f = un(k);
      if (f === undefined || f.ok) return undefined;
      return `${fmtPct(f.deliveryRatio)} delivered, ${String(f.lostSessions)} sessions lost`;
    };
    rows.push({
      figure: 'fan-out delivered upd/s, unpaced (median run)',
      better: 'higher',
      value: (k) => un(k)?.deliveredPerSec,
      fmt: fmtRate,
      invalid,
    });
    rows.push({
      figure: 'fan-out server CPU per 1M deliveries, unpaced (median run)',
      better: 'lower',
      value: (k) => {
        const f = un(k);
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
      r.table.find((t) => t.server === k && t.routes === size);
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

export function ratioTable(r: RunResults): { header: string[]; rows: string[][] } {
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
  return { header, rows: others.length === 0 ? [] : rows };
}
