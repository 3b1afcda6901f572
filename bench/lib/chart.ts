/**
 * The benchmark chart: a hand-written SVG file (bench/results/chart.svg, linked from
 * BENCHMARKS.md; inline <svg> is not rendered by common Markdown viewers). Bar panels in rows
 * of four, each scaled to its own maximum.
 */

import type { FanoutResult } from './fanout-result.js';
import { fmtPct, fmtRate, fmtSeconds } from './format.js';
import { syncSeconds, withdrawSeconds } from './report-compare.js';
import { ceiling, fleetMedian, pacedOne } from './report-fanout.js';
import { bestRun, mainFleet, mainRuns, unpacedMedian, type RunResults } from './results.js';
import type { ServerKind } from './servers.js';
import type { TableResult } from './table.js';

const COLORS: Record<ServerKind, string> = {
  tsbond: '#2b6cb0',
  go: '#00add8',
  rust: '#b7410e',
  forwarder: '#9e9e9e',
};
const SHORT: Record<ServerKind, string> = {
  tsbond: 'tsbond',
  go: 'Go',
  rust: 'rustbond',
  forwarder: 'ceiling',
};
const ALT = '#90cdf4';

interface Bar {
  readonly name: string;
  readonly color: string;
  readonly value: number | undefined;
  readonly label: string;
  /** A second label line above the first (e.g. a delivery ratio below 100%). */
  readonly note?: string | undefined;
}

export interface Panel {
  readonly title: string;
  readonly note: string;
  readonly bars: readonly Bar[];
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function svgChart(panels: readonly Panel[]): string {
  const pw = 300;
  const ph = 280;
  const perRow = 4;
  const top = 76;
  const bottom = 40;
  const chartH = ph - top - bottom;
  const parts: string[] = [];
  panels.forEach((p, i) => {
    const x0 = (i % perRow) * pw;
    const y0 = Math.floor(i / perRow) * ph;
    const y = (v: number): string => String(y0 + v);
    parts.push(
      `<text x="${String(x0 + pw / 2)}" y="${y(18)}" text-anchor="middle" font-weight="bold">${esc(p.title)}</text>`,
    );
    p.note.split('\n').forEach((line, k) => {
      parts.push(
        `<text x="${String(x0 + pw / 2)}" y="${y(33 + 13 * k)}" text-anchor="middle" font-size="11" fill="#555">${esc(line)}</text>`,
      );
    });
    const max = Math.max(0, ...p.bars.map((b) => b.value ?? 0));
    const slot = (pw - 30) / Math.max(1, p.bars.length);
    const bw = Math.min(44, slot - 10);
    p.bars.forEach((b, j) => {
      const cx = x0 + 15 + slot * j + slot / 2;
      const h = max > 0 && b.value !== undefined ? Math.max(1, (b.value / max) * chartH) : 0;
      const by = top + chartH - h;
      if (b.value !== undefined) {
        parts.push(
          `<rect x="${(cx - bw / 2).toFixed(1)}" y="${(y0 + by).toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${b.color}"/>`,
        );
      }
      parts.push(
        `<text x="${cx.toFixed(1)}" y="${(y0 + by - 4).toFixed(1)}" text-anchor="middle" font-size="11">${esc(b.label)}</text>`,
      );
      if (b.note !== undefined) {
        parts.push(
          `<text x="${cx.toFixed(1)}" y="${(y0 + by - 17).toFixed(1)}" text-anchor="middle" font-size="10" fill="#c00">${esc(b.note)}</text>`,
        );
      }
      parts.push(
        `<text x="${cx.toFixed(1)}" y="${y(top + chartH + 16)}" text-anchor="middle" font-size="11">${esc(b.name)}</text>`,
      );
    });
    parts.push(
      `<line x1="${String(x0 + 10)}" y1="${y(top + chartH)}" x2="${String(x0 + pw - 10)}" y2="${y(top + chartH)}" stroke="#333"/>`,
    );
  });
  const w = pw * Math.min(perRow, Math.max(1, panels.length));
  const h = ph * Math.max(1, Math.ceil(panels.length / perRow));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${String(w)}" height="${String(h)}" viewBox="0 0 ${String(w)} ${String(h)}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function rateBar(name: string, color: string, f: FanoutResult | undefined, v?: number): Bar {
  const value = v ?? f?.deliveredPerSec;
  return {
    name,
    color,
    value,
    label: value === undefined ? 'n/a' : fmtRate(value),
    note:
      f === undefined || (f.ok && f.deliveryRatio === 1)
        ? undefined
        : `only ${fmtPct(f.deliveryRatio)}`,
  };
}

export function chartPanels(r: RunResults): Panel[] {
  const panels: Panel[] = [];
  const kinds: ServerKind[] = ['tsbond', 'go', 'rust'];
  const legacy = mainFleet(r) === 'legacy';
  const peers = legacy ? 'pacing off (older run)' : 'between default tsbond peers';
  const unpaced = (['tsbond', 'forwarder', 'rust', 'go'] as const)
    .map((k) => ({ k, f: unpacedMedian(mainRuns(r, k)) }))
    .filter((x) => x.f !== undefined);
  if (unpaced.length > 0) {
    const c = ceiling(r, mainFleet(r));
    panels.push({
      title: 'Fan-out, unpaced (median run)',
      note: `delivered updates/s, ${peers}\n${c === undefined ? '(higher is better)' : `tsbond = ${fmtPct(c.share)} of the ceiling`}`,
      bars: unpaced.map((x) => rateBar(SHORT[x.k], COLORS[x.k], x.f)),
    });
  }
  const best = kinds
    .map((k) => ({ k, f: bestRun(mainRuns(r, k)) }))
    .filter((x) => x.f !== undefined);
  if (best.length > 0) {
    panels.push({
      title: 'Fan-out, best run',
      note: 'delivered updates/s with every update\ndelivered, any rate (higher is better)',
      bars: best.map((x) => rateBar(SHORT[x.k], COLORS[x.k], x.f)),
    });
  }
  const plain = fleetMedian(r, 'plain');
  const mixed = fleetMedian(r, 'mixed');
  if (plain !== undefined || mixed !== undefined) {
    const grp = (f: FanoutResult | undefined, name: string): number | undefined =>
      f?.groups?.find((g) => g.name === name)?.deliveredPerSec;
    const bars: Bar[] = [];
    const ts = unpacedMedian(mainRuns(r, 'tsbond'));
    if (ts !== undefined && !legacy) bars.push(rateBar('all tsbond', COLORS.tsbond, ts));
    if (mixed !== undefined) {
      bars.push(rateBar('mixed: tsbond', COLORS.tsbond, mixed.run, grp(mixed.run, 'reassembly')));
      bars.push(rateBar('mixed: plain', ALT, mixed.run, grp(mixed.run, 'plain')));
    }
    if (plain !== undefined) bars.push(rateBar('all plain', ALT, plain.run));
    panels.push({
      title: 'Fan-out by fleet, unpaced',
      note: 'delivered updates/s per group; plain = without\nfield 1000, paced by the server (512 KiB/s each)',
      bars,
    });
  }
  const p = pacedOne(r);
  if (p !== undefined) {
    panels.push({
      title: 'One paced subscriber',
      note: `the publishers' delivered updates/s\nwith it: ${fmtPct(p.share)} of without (target >= 80%)`,
      bars: [
        {
          name: 'without',
          color: COLORS.tsbond,
          value: p.baselineMedian,
          label: p.baselineMedian === undefined ? 'n/a' : fmtRate(p.baselineMedian),
        },
        {
          name: 'with',
          color: ALT,
          value: p.pacedMedian,
          label: p.pacedMedian === undefined ? 'n/a' : fmtRate(p.pacedMedian),
          note: p.exact ? undefined : 'not exact',
        },
      ],
    });
  }
  const s = r.storm?.[0];
  if (s !== undefined) {
    const t = (name: string, v: number | undefined): Bar => ({
      name,
      color: COLORS.tsbond,
      value: v,
      label: fmtSeconds(v),
    });
    panels.push({
      title: `Snapshot storm: ${String(s.subscribers)} x ${fmtRate(s.routes)}`,
      note: `seconds until complete (target: last < 60 s)\npeak RSS +${(s.peakGrowth / 2 ** 20).toFixed(0)} MiB (target < 512 MB)`,
      bars: [t('first', s.firstS), t('median', s.medianS), t('last', s.lastS)],
    });
  }
  const cs = r.clientSync?.[0];
  if (cs !== undefined) {
    panels.push({
      title: `Client sync ${fmtRate(cs.routes)} routes`,
      note: `default tsbond client and server, seconds\n(target < 2 s); ${cs.rssPerRoute === undefined ? '' : `${cs.rssPerRoute.toFixed(0)} B/route client RSS`}`,
      bars: [
        {
          name: 'all routes',
          color: COLORS.tsbond,
          value: cs.allRoutesS,
          label: fmtSeconds(cs.allRoutesS),
        },
        {
          name: 'SYNCED',
          color: COLORS.tsbond,
          value: cs.syncedS,
          label: cs.syncedS === undefined ? 'not measured' : fmtSeconds(cs.syncedS),
        },
      ],
    });
  }
  const biggest = Math.max(0, ...r.table.map((t) => t.routes));
  const big = r.table.filter((t) => t.routes === biggest);
  if (big.length > 0) {
    const bar = (f: (t: TableResult) => number | undefined, fmt: (n: number) => string): Bar[] =>
      kinds
        .map((k) => big.find((t) => t.server === k))
        .filter((t): t is TableResult => t !== undefined)
        .map((t) => {
          const v = f(t);
          return {
            name: SHORT[t.server],
            color: COLORS[t.server],
            value: v,
            label: v === undefined ? 'failed' : fmt(v),
          };
        });
    const l = fmtRate(biggest);
    panels.push({
      title: `Sync ${l} routes (raw subscriber)`,
      note: 'seconds until a new subscriber has all\n(lower is better)',
      bars: bar(syncSeconds, (n) => n.toFixed(2)),
    });
    panels.push({
      title: `Server memory at ${l} routes`,
      note: 'RSS bytes per route\n(lower is better)',
      bars: bar(
        (t) => t.memory?.rssPerRoute,
        (n) => n.toFixed(0),
      ),
    });
    panels.push({
      title: 'Withdraw on disconnect',
      note: `seconds for ${fmtRate(big[0]?.victimRoutes ?? 0)} REMOVEs, table ${l}\n(lower is better)`,
      bars: bar(withdrawSeconds, (n) => n.toFixed(2)),
    });
  }
  return panels;
}
